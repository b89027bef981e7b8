"""The guidance socket over the real ASGI app and a real Redis channel layer."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from surgery_guidance import services
from surgery_guidance.models import AnnotationEvent, Operation, Question, Recording
from tests.surgery_guidance.conftest import (
    CTX,
    ORIGIN,
    add_op,
    author_of,
    session_cookie,
)

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
Open = Callable[..., Awaitable[tuple[WebsocketCommunicator, dict[str, Any]]]]


# -- helpers ---------------------------------------------------------------------------


async def _socket(operation: Operation, user: Any = None) -> WebsocketCommunicator:
    headers = [ORIGIN]
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(
        application, f"/ws/guidance/{operation.pk}/", headers=headers
    )


async def _refused_with(socket: WebsocketCommunicator) -> int | None:
    """Connect and return the close code the server refuses with (None if kept open)."""
    connected, code = await socket.connect(timeout=5)
    if not connected:
        return code
    for _ in range(5):
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code")
    return None


async def _next(socket: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    """The next message of ``kind``, skipping others."""
    for _ in range(20):
        message = await socket.receive_json_from(timeout=5)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


async def _closed_with(socket: WebsocketCommunicator) -> tuple[list[dict], int | None]:
    """Messages up to the server's close, and its code."""
    seen: list[dict] = []
    for _ in range(10):
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return seen, output.get("code")
        seen.append(json.loads(output["text"]))
    raise AssertionError("the socket was not closed")


async def _alive(socket: WebsocketCommunicator) -> bool:
    """The socket still answers (clock.ping → clock.pong)."""
    await socket.send_json_to({"type": "clock.ping", "t0": 1.0})
    return (await _next(socket, "clock.pong"))["t0"] == 1.0


def _count(model: Any, **filters: Any) -> Awaitable[int]:
    return sync_to_async(lambda: model.objects.filter(**filters).count())()


@pytest.fixture
async def connect(redis_layer) -> AsyncIterator[Open]:  # type: ignore[no-untyped-def]
    """Open a user's socket and read its welcome; every socket is closed at teardown."""
    sockets: list[WebsocketCommunicator] = []

    async def open_(
        operation: Operation, user: Any
    ) -> tuple[WebsocketCommunicator, dict[str, Any]]:
        socket = await _socket(operation, user)
        sockets.append(socket)
        connected, code = await socket.connect(timeout=5)
        assert connected, code
        welcome = await socket.receive_json_from(timeout=5)
        assert welcome["type"] == "welcome", welcome
        return socket, welcome

    yield open_
    for socket in sockets:
        await socket.disconnect()


@pytest.fixture
def op(guidance, redis_layer) -> Operation:  # type: ignore[no-untyped-def]
    """A scheduled operation, not broadcast."""
    return guidance.schedule()


@pytest.fixture
def live_op(guidance, redis_layer) -> Operation:  # type: ignore[no-untyped-def]
    """A broadcast operation (consent recorded)."""
    return guidance.schedule(broadcast=True)


@pytest.fixture
def media(monkeypatch) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The media worker boundary replaced: composite start/stop replies, sends kept."""
    sent: list[dict[str, Any]] = []

    async def request(
        room_id: str, message: dict[str, Any], *, expect: str, wait_s: float = 10.0
    ) -> dict[str, Any]:
        sent.append(message)
        if message["type"] == "media.composite.start":
            return {
                "type": "media.composite.started",
                "composite": message["name"],
                "track": f"guidance:{message['name']}",
                "source": message["source"],
                "hls": f"hls/{message['name']}/index.m3u8" if message["hls"] else None,
                "recording": None,
            }
        stem = f"recordings/{message['composite']}/take-1"
        return {
            "type": "media.composite.stopped",
            "composite": message["composite"],
            "reason": "requested",
            "recording": {
                "video": f"{stem}.mp4",
                "timeline": f"{stem}.timeline.json",
                "duration_s": 42.0,
                "bytes": 123456,
                "started_at_ms": time.time() * 1000 - 42_000,
            },
        }

    async def send(room_id: str, message: dict[str, Any], *, reply_to: str) -> str:
        sent.append(message)
        return "worker-test"

    monkeypatch.setattr("consult.media.client.media_request", request)
    monkeypatch.setattr("consult.media.client.media_send", send)
    return sent


# -- who may connect -------------------------------------------------------------------


async def test_anonymous_is_refused_with_4401(op) -> None:  # type: ignore[no-untyped-def]
    """No session: 4401."""
    assert await _refused_with(await _socket(op)) == 4401


@pytest.mark.parametrize("role_of", ["paramedic", "administrator", "other_trainee"])
async def test_an_unrelated_user_is_refused_with_4403(
    guidance, live_op, role_of
) -> None:  # type: ignore[no-untyped-def]
    """Someone with no part in the operation: accepted, then closed with 4403."""
    socket = await _socket(live_op, getattr(guidance, role_of))
    connected, _ = await socket.connect(timeout=5)
    output = await socket.receive_output(timeout=5)
    assert (connected, output["type"], output.get("code")) == (
        True,
        "websocket.close",
        4403,
    )


async def test_a_trainee_is_refused_when_not_broadcast(guidance, op) -> None:  # type: ignore[no-untyped-def]
    """Without the broadcast a trainee's socket is closed with 4403."""
    assert await _refused_with(await _socket(op, guidance.trainee)) == 4403


@pytest.mark.parametrize("role_of", ["surgeon", "mentor", "moderator"])
async def test_staff_welcome_carries_the_annotation_snapshot(
    guidance, live_op, connect, role_of
) -> None:  # type: ignore[no-untyped-def]
    """Staff get their role, the surgeon's author id and the annotation state."""
    _, welcome = await connect(live_op, getattr(guidance, role_of))
    assert (
        welcome["role"],
        welcome["surgeon"],
        welcome["annotations"],
        welcome["live"]["status"],
    ) == (role_of, author_of(guidance.surgeon), {"seq": 0, "state": {}}, "scheduled")


async def test_viewer_welcome_has_no_annotations(guidance, live_op, connect) -> None:  # type: ignore[no-untyped-def]
    """A trainee's welcome: viewer, ICE servers to watch, no annotation log."""
    _, welcome = await connect(live_op, guidance.trainee)
    assert (welcome["role"], "annotations" in welcome, "ice_servers" in welcome) == (
        "viewer",
        False,
        True,
    )


# -- annotations -----------------------------------------------------------------------


async def test_a_mentors_mark_is_acked_and_reaches_the_surgeon(
    guidance, op, connect
) -> None:  # type: ignore[no-untyped-def]
    """annotate → annotate.ack with seq 1 (after commit); the surgeon gets seq 1."""
    surgeon, _ = await connect(op, guidance.surgeon)
    mentor, _ = await connect(op, guidance.mentor)
    sent = add_op(author_of(guidance.mentor), 1)
    await mentor.send_json_to({"type": "annotate", "op": sent})
    ack = await _next(mentor, "annotate.ack")
    stored = await _count(AnnotationEvent, operation=op, seq=1)
    seen = await _next(surgeon, "annotation")
    assert (ack, stored, seen["seq"], seen["op"]["annotation"]["id"]) == (
        {"type": "annotate.ack", "author_seq": 1, "seq": 1, "replay": False},
        1,
        1,
        sent["annotation"]["id"],
    )


async def test_a_layer_that_forgets_its_groups_is_survived(
    guidance, live_op, connect
) -> None:  # type: ignore[no-untyped-def]
    """A Redis restart: every socket resyncs (watchers get the live state again)
    and marks reach the surgeon live afterwards."""
    import asyncio

    from channels.layers import get_channel_layer

    surgeon, _ = await connect(live_op, guidance.surgeon)
    mentor, _ = await connect(live_op, guidance.mentor)
    trainee, _ = await connect(live_op, guidance.trainee)
    await asyncio.sleep(1.5)  # the layer watch has primed its sentinel
    await get_channel_layer().flush()
    for socket in (surgeon, mentor, trainee):
        assert (await _next(socket, "resync"))["reason"] == "layer_restored"
    live = await _next(trainee, "live")
    assert live["status"] == live_op.status
    await mentor.send_json_to(
        {"type": "annotate", "op": add_op(author_of(guidance.mentor), 1)}
    )
    assert (await _next(surgeon, "annotation"))["seq"] == 1


async def test_viewers_do_not_receive_marks(guidance, live_op, connect) -> None:  # type: ignore[no-untyped-def]
    """Annotations go to staff sockets only (viewers see them burned in)."""
    trainee, _ = await connect(live_op, guidance.trainee)
    mentor, _ = await connect(live_op, guidance.mentor)
    await mentor.send_json_to(
        {"type": "annotate", "op": add_op(author_of(guidance.mentor), 1)}
    )
    await _next(mentor, "annotation")
    assert await trainee.receive_nothing(timeout=0.5)


async def test_a_resend_after_reconnect_is_a_replay(guidance, op, connect) -> None:  # type: ignore[no-untyped-def]
    """The same op after a reconnect is acked replay=True with the first seq, once."""
    surgeon, _ = await connect(op, guidance.surgeon)
    mentor, _ = await connect(op, guidance.mentor)
    sent = {"type": "annotate", "op": add_op(author_of(guidance.mentor), 1)}
    await mentor.send_json_to(sent)
    first = await _next(mentor, "annotate.ack")
    await mentor.disconnect()
    again, welcome = await connect(op, guidance.mentor)
    await again.send_json_to(sent)
    replay = await _next(again, "annotate.ack")
    await _next(surgeon, "annotation")
    assert (
        welcome["annotations"]["seq"],
        (replay["seq"], replay["replay"]),
        await _count(AnnotationEvent, operation=op),
        await surgeon.receive_nothing(timeout=0.5),
    ) == (1, (first["seq"], True), 1, True)


async def test_hello_returns_exactly_the_missing_events(guidance, op, connect) -> None:  # type: ignore[no-untyped-def]
    """hello with last_seq 2 of four returns seq 3 and 4, in order."""
    mentor, _ = await connect(op, guidance.mentor)
    for seq in range(1, 5):
        await mentor.send_json_to(
            {"type": "annotate", "op": add_op(author_of(guidance.mentor), seq)}
        )
        await _next(mentor, "annotate.ack")
    surgeon, _ = await connect(op, guidance.surgeon)
    await surgeon.send_json_to({"type": "hello", "last_seq": 2})
    backfill = await _next(surgeon, "annotations")
    assert [(e["seq"], e["op"]["seq"]) for e in backfill["events"]] == [(3, 3), (4, 4)]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "annotate", "op": {"op": "clear", "author": "u0", "seq": 1}},
        {"type": "media.offer", "pc": "pub", "sdp": "v=0"},
        {"type": "media.answer", "pc": "pub", "sdp": "v=0"},
        {"type": "media.ice", "pc": "pub", "candidate": None},
    ],
    ids=["annotate", "offer", "answer-pub", "ice-pub"],
)
async def test_a_viewer_who_draws_or_publishes_is_closed(
    guidance, live_op, connect, message
) -> None:  # type: ignore[no-untyped-def]
    """view_only, then 4403; nothing stored."""
    trainee, _ = await connect(live_op, guidance.trainee)
    await trainee.send_json_to(message)
    seen, code = await _closed_with(trainee)
    assert (
        [m.get("code") for m in seen],
        code,
        await _count(AnnotationEvent, operation=live_op),
    ) == (["view_only"], 4403, 0)


@pytest.mark.parametrize("role_of", ["surgeon", "moderator"])
async def test_staff_who_are_not_mentors_cannot_draw(
    guidance, op, connect, role_of
) -> None:  # type: ignore[no-untyped-def]
    """The surgeon or moderator gets error not_mentor and stays connected."""
    user = getattr(guidance, role_of)
    socket, _ = await connect(op, user)
    await socket.send_json_to({"type": "annotate", "op": add_op(author_of(user), 1)})
    error = await _next(socket, "error")
    assert (error["code"], error["for"], await _alive(socket)) == (
        "not_mentor",
        "annotate",
        True,
    )


async def test_a_gap_is_out_of_order(guidance, op, connect) -> None:  # type: ignore[no-untyped-def]
    """seq 2 before seq 1 is out_of_order: the client resends from its last ack."""
    mentor, _ = await connect(op, guidance.mentor)
    await mentor.send_json_to(
        {"type": "annotate", "op": add_op(author_of(guidance.mentor), 2)}
    )
    error = await _next(mentor, "error")
    assert (error["code"], await _count(AnnotationEvent, operation=op)) == (
        "out_of_order",
        0,
    )


def _nan_mark(author: str) -> str:
    """An annotate frame whose first x is the JSON number 1e999 (infinity)."""
    text = json.dumps({"type": "annotate", "op": add_op(author, 1)})
    return text.replace("[[0.25, 0.5]", "[[1e999, 0.5]", 1)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed_json"),
        ('{"type": "clock.ping", "t0": NaN}', "malformed_json"),
        ('["hello"]', "malformed_message"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "hello", "last_seq": "x"}', "invalid_message"),
        ('{"type": "hello", "last_seq": 1, "extra": 1}', "invalid_message"),
        ("MENTOR_NAN", "bad_number"),
        ('{"type": "annotate", "op": {"op": "add"}}', "missing_field"),
        ("OVERSIZED", "message_too_large"),
    ],
)
async def test_bad_frames_get_stable_codes_and_the_socket_stays_up(
    guidance, op, connect, frame, code
) -> None:  # type: ignore[no-untyped-def]
    """Each bad frame is one error with a stable code; the socket keeps working."""
    mentor, _ = await connect(op, guidance.mentor)
    if frame == "MENTOR_NAN":
        frame = _nan_mark(author_of(guidance.mentor))
    elif frame == "OVERSIZED":
        frame = json.dumps({"type": "hello", "last_seq": 1, "pad": "x" * 100_000})
    await mentor.send_to(text_data=frame)
    error = await _next(mentor, "error")
    assert (error["code"], await _alive(mentor)) == (code, True)


# -- questions and latency -------------------------------------------------------------


async def test_questions_flow_through_the_moderator(guidance, live_op, connect) -> None:  # type: ignore[no-untyped-def]
    """Pending reaches the moderator only; approval reaches mentors and the asker."""
    moderator, _ = await connect(live_op, guidance.moderator)
    mentor, _ = await connect(live_op, guidance.mentor)
    trainee, _ = await connect(live_op, guidance.trainee)
    client_id = str(uuid.uuid4())
    await trainee.send_json_to(
        {"type": "question.ask", "client_id": client_id, "body": "Why clip first?"}
    )
    ack = await _next(trainee, "question.ack")
    pending = await _next(moderator, "question")
    mentor_saw_pending = not await mentor.receive_nothing(timeout=0.5)
    await moderator.send_json_to(
        {
            "type": "question.moderate",
            "id": pending["question"]["id"],
            "decision": "approve",
        }
    )
    approved = await _next(mentor, "question")
    own = await _next(trainee, "question")
    assert (
        ack["client_id"],
        (pending["question"]["status"], pending["question"]["asked_by"]),
        mentor_saw_pending,
        (approved["question"]["status"], approved["question"]["body"]),
        (own["question"]["status"], "asked_by" in own["question"]),
    ) == (
        client_id,
        ("pending", guidance.trainee.get_full_name()),
        False,
        ("approved", "Why clip first?"),
        ("approved", False),
    )


async def test_a_mentor_cannot_moderate(guidance, live_op, connect) -> None:  # type: ignore[no-untyped-def]
    """question.moderate from a mentor is not_moderator; the question stays pending."""
    question = await sync_to_async(services.question_ask)(
        op_pass=await sync_to_async(guidance.op_pass)(guidance.trainee, live_op),
        client_id=uuid.uuid4(),
        body="Why?",
    )
    mentor, _ = await connect(live_op, guidance.mentor)
    await mentor.send_json_to(
        {"type": "question.moderate", "id": str(question.pk), "decision": "approve"}
    )
    error = await _next(mentor, "error")
    assert (error["code"], await _count(Question, status="pending")) == (
        "not_moderator",
        1,
    )


async def test_latency_reaches_the_staff(guidance, op, connect) -> None:  # type: ignore[no-untyped-def]
    """A mentor's measured latency is shown in the theatre (the surgeon's socket)."""
    surgeon, _ = await connect(op, guidance.surgeon)
    mentor, _ = await connect(op, guidance.mentor)
    await mentor.send_json_to({"type": "latency", "p50_ms": 180.0, "p95_ms": 240.0})
    seen = await _next(surgeon, "latency")
    assert (seen["author"], seen["role"], seen["p50_ms"], seen["p95_ms"]) == (
        author_of(guidance.mentor),
        "mentor",
        180.0,
        240.0,
    )


async def test_a_viewers_latency_is_not_shown_to_staff(
    guidance, live_op, connect
) -> None:  # type: ignore[no-untyped-def]
    """Viewers' measurements stay with them."""
    surgeon, _ = await connect(live_op, guidance.surgeon)
    trainee, _ = await connect(live_op, guidance.trainee)
    await trainee.send_json_to({"type": "latency", "p50_ms": 900.0})
    assert await surgeon.receive_nothing(timeout=0.5)


# -- consent ---------------------------------------------------------------------------


async def test_withdrawing_consent_closes_viewers(guidance, live_op, connect) -> None:  # type: ignore[no-untyped-def]
    """Viewers get consent_required and 4403; staff are told the broadcast is off."""
    trainee, _ = await connect(live_op, guidance.trainee)
    mentor, _ = await connect(live_op, guidance.mentor)
    await sync_to_async(services.consent_record)(
        actor=guidance.surgeon, operation_id=live_op.pk, broadcast=False, ctx=CTX
    )
    seen, code = await _closed_with(trainee)
    told = await _next(mentor, "broadcast")
    assert ([m.get("code") for m in seen], code, told["broadcast"]) == (
        ["consent_required"],
        4403,
        False,
    )


async def test_a_missed_withdrawal_is_caught_by_the_recheck(
    guidance, live_op, connect, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Broadcast off without a fan-out: the viewer's next message closes it (4403)."""
    monkeypatch.setattr("surgery_guidance.consumers.RECHECK_EVERY_S", 0.0)
    trainee, _ = await connect(live_op, guidance.trainee)
    await sync_to_async(
        lambda: Operation.objects.filter(pk=live_op.pk).update(broadcast=False)
    )()
    await trainee.send_json_to({"type": "clock.ping", "t0": 1.0})
    seen, code = await _closed_with(trainee)
    assert ([m.get("code") for m in seen], code) == (["not_permitted"], 4403)


@pytest.mark.parametrize("role_of", ["mentor", "trainee"])
async def test_sockets_keep_working_after_the_pass_recheck(
    guidance, live_op, connect, monkeypatch, role_of
) -> None:  # type: ignore[no-untyped-def]
    """A message after the recheck interval is answered (the pass is re-read)."""
    monkeypatch.setattr("surgery_guidance.consumers.RECHECK_EVERY_S", 0.0)
    socket, _ = await connect(live_op, getattr(guidance, role_of))
    assert (await _alive(socket), await _alive(socket)) == (True, True)


# -- watching --------------------------------------------------------------------------


async def _go_live(guidance, operation, connect) -> str:  # type: ignore[no-untyped-def]
    surgeon, _ = await connect(operation, guidance.surgeon)
    await surgeon.send_json_to(
        {"type": "source", "track": f"{author_of(guidance.surgeon)}:theatre"}
    )
    return (await _next(surgeon, "source.ack"))["track"]


async def test_a_viewer_watches_the_composite(
    guidance, live_op, connect, media
) -> None:  # type: ignore[no-untyped-def]
    """media.subscribe to the composite goes to the worker as this page's watcher."""
    composite = await _go_live(guidance, live_op, connect)
    trainee, _ = await connect(live_op, guidance.trainee)
    await trainee.send_json_to({"type": "media.subscribe", "tracks": [composite]})
    await _alive(trainee)
    subscribe = [m for m in media if m["type"] == "media.subscribe"]
    assert [(m["tracks"], m["participant"][:1]) for m in subscribe] == [
        ([composite], "w")
    ]


async def test_a_viewer_cannot_watch_the_raw_camera(
    guidance, live_op, connect, media
) -> None:  # type: ignore[no-untyped-def]
    """The surgeon's own track (no marks, no burn-in) is unknown_track for viewers."""
    await _go_live(guidance, live_op, connect)
    trainee, _ = await connect(live_op, guidance.trainee)
    await trainee.send_json_to(
        {
            "type": "media.subscribe",
            "tracks": [f"{author_of(guidance.surgeon)}:theatre"],
        }
    )
    error = await _next(trainee, "error")
    assert (error["code"], [m for m in media if m["type"] == "media.subscribe"]) == (
        "unknown_track",
        [],
    )


# -- the surgeon: source and end -------------------------------------------------------


async def test_only_the_surgeon_sets_the_source(guidance, op, connect, media) -> None:  # type: ignore[no-untyped-def]
    """source from a mentor is not_surgeon; nothing is asked of the worker."""
    mentor, _ = await connect(op, guidance.mentor)
    await mentor.send_json_to(
        {"type": "source", "track": f"{author_of(guidance.mentor)}:cam"}
    )
    error = await _next(mentor, "error")
    assert (error["code"], media) == ("not_surgeon", [])


async def test_a_source_must_be_the_surgeons_own_track(
    guidance, op, connect, media
) -> None:  # type: ignore[no-untyped-def]
    """A track of another participant is unknown_track."""
    surgeon, _ = await connect(op, guidance.surgeon)
    await surgeon.send_json_to(
        {"type": "source", "track": f"{author_of(guidance.mentor)}:cam"}
    )
    error = await _next(surgeon, "error")
    assert (error["code"], media) == ("unknown_track", [])


async def test_the_surgeons_camera_makes_the_operation_live(
    guidance, live_op, connect, media
) -> None:  # type: ignore[no-untyped-def]
    """The composite starts on the surgeon's track; watchers get the live feed."""
    trainee, _ = await connect(live_op, guidance.trainee)
    surgeon, _ = await connect(live_op, guidance.surgeon)
    track = f"{author_of(guidance.surgeon)}:theatre"
    await surgeon.send_json_to(
        {"type": "source", "track": track, "clock_offset_ms": 25.0}
    )
    ack = await _next(surgeon, "source.ack")
    live = await _next(trainee, "live")
    operation = await sync_to_async(Operation.objects.get)(pk=live_op.pk)
    start = media[0]
    assert (
        (start["type"], start["source"], start["hls"], start["record"]),
        (ack["status"], ack["track"]),
        (live["status"], live["track"], live["hls"]),
        (operation.status, operation.source_clock_offset_ms),
    ) == (
        ("media.composite.start", track, True, True),
        ("live", f"guidance:{operation.composite_name}"),
        (
            "live",
            f"guidance:{operation.composite_name}",
            f"/guidance/hls/{operation.broadcast_token}/index.m3u8",
        ),
        (Operation.Status.LIVE, 25.0),
    )


async def test_marks_are_pushed_to_the_live_composite(
    guidance, op, connect, media
) -> None:  # type: ignore[no-untyped-def]
    """Once live, each new mark sends the whole state to the composite's layer."""
    surgeon, _ = await connect(op, guidance.surgeon)
    mentor, _ = await connect(op, guidance.mentor)
    await surgeon.send_json_to(
        {"type": "source", "track": f"{author_of(guidance.surgeon)}:theatre"}
    )
    await _next(surgeon, "source.ack")
    sent = add_op(author_of(guidance.mentor), 1)
    await mentor.send_json_to({"type": "annotate", "op": sent})
    await _next(mentor, "annotate.ack")
    await _alive(mentor)  # the push follows the ack; the pong follows the push
    layer = [m for m in media if m["type"] == "media.layer"][-1]
    assert (
        layer["kind"],
        layer["data"]["version"],
        [a["id"] for a in layer["data"]["annotations"]],
    ) == ("annotations", 1, [sent["annotation"]["id"]])


async def test_ending_keeps_the_recording_and_ends_the_room(
    guidance, live_op, connect, media
) -> None:  # type: ignore[no-untyped-def]
    """end stops the composite, stores its recording and tells every socket."""
    trainee, _ = await connect(live_op, guidance.trainee)
    surgeon, _ = await connect(live_op, guidance.surgeon)
    await surgeon.send_json_to(
        {"type": "source", "track": f"{author_of(guidance.surgeon)}:theatre"}
    )
    await _next(surgeon, "source.ack")
    await surgeon.send_json_to({"type": "end"})
    ended = await _next(trainee, "ended")
    operation = await sync_to_async(Operation.objects.select_related("room").get)(
        pk=live_op.pk
    )
    recording = await sync_to_async(Recording.objects.get)(operation=live_op)
    assert (
        bool(ended["ended_at"]),
        operation.status,
        operation.room.status,
        (recording.video_path, recording.duration_s, recording.size_bytes),
    ) == (
        True,
        Operation.Status.ENDED,
        "ended",
        (f"recordings/{operation.composite_name}/take-1.mp4", 42.0, 123456),
    )


async def test_only_the_surgeon_ends(guidance, op, connect, media) -> None:  # type: ignore[no-untyped-def]
    """end from a mentor is not_surgeon; the operation goes on."""
    mentor, _ = await connect(op, guidance.mentor)
    await mentor.send_json_to({"type": "end"})
    error = await _next(mentor, "error")
    status = await sync_to_async(
        lambda: Operation.objects.values_list("status", flat=True).get(pk=op.pk)
    )()
    assert (error["code"], status) == ("not_surgeon", Operation.Status.SCHEDULED)
