"""Crew uplink and command board sockets over the real ASGI app and Redis."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import DatabaseError

from config.asgi import application
from consult.accounts.services import device_token_create
from consult.emergency import ingest, services
from consult.emergency.models import VitalsBatch
from tests.consult.emergency.conftest import (
    CTX,
    NORMAL,
    ORIGIN,
    batch_dict,
    numerics,
    session_cookie,
)

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


async def _socket(path: str, user=None, headers=()) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    extra = [ORIGIN, *headers]
    if user is not None:
        extra.append((b"cookie", await sync_to_async(session_cookie)(user)))
    return WebsocketCommunicator(application, path, headers=extra)


async def _crew(world, case) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    socket = await _socket(f"/ws/emergency/crew/{case.pk}/", world.paramedic)
    assert (await socket.connect())[0]
    first = await socket.receive_json_from(timeout=5)
    assert first["type"] == "case"
    return socket


async def _refused_with(socket: WebsocketCommunicator) -> tuple[bool, int | None]:
    """Connect; (whether the handshake was accepted, the close code that followed).

    Refusals accept first and then close, so a browser sees 4401/4403 rather
    than a failed handshake it cannot tell from a network error.
    """
    connected, code = await socket.connect()
    if not connected:
        return False, code
    output = await socket.receive_output(timeout=5)
    return True, output.get("code") if output["type"] == "websocket.close" else None


async def _board(user) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    socket = await _socket("/ws/emergency/board/", user)
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from(timeout=5))["type"] == "ready"
    return socket


async def _open(world, **kwargs):  # type: ignore[no-untyped-def]
    return await sync_to_async(world.open_case)(**kwargs)


async def test_batch_is_acked_after_it_is_stored(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """hello gives -1; a batch gets ack 0; the row exists when the ack arrives."""
    case = await _open(world)
    crew = await _crew(world, case)
    stream = uuid.uuid4()
    await crew.send_json_to(
        {"type": "hello", "device": "phone-1", "stream": str(stream), "last_acked": -1}
    )
    state = await crew.receive_json_from(timeout=5)
    await crew.send_json_to({"type": "batch", **batch_dict(stream, 0)})
    ack = await crew.receive_json_from(timeout=5)
    stored = await sync_to_async(VitalsBatch.objects.filter(stream_id=stream).count)()
    assert (
        state["type"],
        state["acked_through"],
        ack["type"],
        ack["acked_through"],
        stored,
    ) == (
        "state",
        -1,
        "ack",
        0,
        1,
    )
    await crew.disconnect()


async def test_frames_are_handled_without_a_trip_to_the_sync_thread(
    world, redis_layer, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """No per-frame ``aclose_old_connections`` hop; the database is still reached."""
    import channels.consumer

    trips: list[int] = []

    async def counted() -> None:
        trips.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    case = await _open(world)
    crew = await _crew(world, case)
    for _ in range(3):
        await crew.send_json_to({"type": "batch", **batch_dict(uuid.uuid4(), 0)})
        assert (await crew.receive_json_from(timeout=5))["type"] == "ack"
    await crew.send_json_to({"type": "ping", "t0": 1})
    assert (await crew.receive_json_from(timeout=5))["type"] == "pong"
    assert trips == []
    await crew.disconnect()


async def test_reconnect_resumes_from_the_last_ack(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """After 0-4 and a dropped socket, hello says 4; resending 3 is a duplicate."""
    case = await _open(world)
    stream = uuid.uuid4()
    crew = await _crew(world, case)
    await crew.send_json_to(
        {"type": "batches", "items": [batch_dict(stream, s) for s in range(5)]}
    )
    await crew.receive_json_from(timeout=5)
    await crew.disconnect()
    crew = await _crew(world, case)
    await crew.send_json_to(
        {"type": "hello", "device": "phone-1", "stream": str(stream), "last_acked": 2}
    )
    state = await crew.receive_json_from(timeout=5)
    await crew.send_json_to(
        {"type": "batches", "items": [batch_dict(stream, s) for s in (3, 5)]}
    )
    ack = await crew.receive_json_from(timeout=5)
    assert (state["acked_through"], ack["acked_through"], ack["duplicates"]) == (
        4,
        5,
        1,
    )
    await crew.disconnect()


async def test_failed_commit_sends_no_ack(world, redis_layer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A database failure mid-ingest: ingest_failed, nothing stored, socket up."""
    case = await _open(world)
    crew = await _crew(world, case)

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise DatabaseError("simulated")

    monkeypatch.setattr(ingest, "advance", broken)
    await crew.send_json_to({"type": "batch", **batch_dict(uuid.uuid4(), 0)})
    reply = await crew.receive_json_from(timeout=5)
    await crew.send_json_to({"type": "ping", "t0": 1})
    pong = await crew.receive_json_from(timeout=5)
    stored = await sync_to_async(VitalsBatch.objects.count)()
    assert (reply["code"], stored, pong["type"]) == ("ingest_failed", 0, "pong")
    await crew.disconnect()


async def test_unauthenticated_crew_socket_is_4401(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """No session, no token: accepted, then closed with 4401."""
    case = await _open(world)
    socket = await _socket(f"/ws/emergency/crew/{case.pk}/")
    assert await _refused_with(socket) == (True, 4401)


async def test_another_crew_is_4403(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A paramedic of another service: accepted, then closed with 4403."""
    case = await _open(world)
    socket = await _socket(f"/ws/emergency/crew/{case.pk}/", world.other_crew_medic)
    assert await _refused_with(socket) == (True, 4403)


async def test_operator_cannot_open_the_crew_socket(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """Hospital staff do not write vitals: accepted, then closed with 4403."""
    case = await _open(world)
    socket = await _socket(f"/ws/emergency/crew/{case.pk}/", world.operator)
    assert await _refused_with(socket) == (True, 4403)


async def test_device_token_opens_the_crew_socket(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A monitor authenticates with Authorization: Token."""
    case = await _open(world)
    _token, raw = await sync_to_async(device_token_create)(
        user=world.paramedic, name="monitor"
    )
    socket = await _socket(
        f"/ws/emergency/crew/{case.pk}/",
        headers=[(b"authorization", f"Token {raw}".encode())],
    )
    connected, _ = await socket.connect()
    first = await socket.receive_json_from(timeout=5)
    assert (connected, first["case"]["id"]) == (True, str(case.pk))
    await socket.disconnect()


async def test_trainee_board_is_4403(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A trainee cannot watch the board: accepted, then closed with 4403."""
    socket = await _socket("/ws/emergency/board/", world.trainee)
    assert await _refused_with(socket) == (True, 4403)


async def test_unauthenticated_board_is_4401(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """No session: the board socket is accepted, then closed with 4401."""
    socket = await _socket("/ws/emergency/board/")
    assert await _refused_with(socket) == (True, 4401)


async def test_bad_device_token_is_4401(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """An unknown device token: accepted, then closed with 4401."""
    case = await _open(world)
    socket = await _socket(
        f"/ws/emergency/crew/{case.pk}/",
        headers=[(b"authorization", b"Token not-a-real-token")],
    )
    assert await _refused_with(socket) == (True, 4401)


async def test_board_gets_numerics_with_seq_and_news2(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A committed numerics batch reaches the hospital's board with its seq."""
    case = await _open(world)
    board = await _board(world.operator)
    crew = await _crew(world, case)
    stream = uuid.uuid4()
    await crew.send_json_to({"type": "batch", **batch_dict(stream, 0, kind="numerics")})
    message = await board.receive_json_from(timeout=5)
    assert (
        message["type"],
        message["case"],
        message["stream"],
        message["seq"],
        message["news2"]["total"],
    ) == ("vitals", str(case.pk), str(stream), 0, 0)
    await crew.disconnect()
    await board.disconnect()


async def test_other_hospitals_board_hears_nothing(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's board gets no message about the case."""
    case = await _open(world)
    board = await _board(world.other_hospital_operator)
    crew = await _crew(world, case)
    await crew.send_json_to(
        {"type": "batch", **batch_dict(uuid.uuid4(), 0, kind="numerics")}
    )
    await crew.receive_json_from(timeout=5)
    assert await board.receive_nothing(timeout=0.5)
    await crew.disconnect()
    await board.disconnect()


async def test_subscribed_board_gets_the_ecg(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """After subscribe, an ECG batch arrives as a waveform with seq and samples."""
    case = await _open(world)
    board = await _board(world.operator)
    await board.send_json_to({"type": "subscribe", "case": str(case.pk)})
    subscribed = await board.receive_json_from(timeout=5)
    crew = await _crew(world, case)
    stream = uuid.uuid4()
    await crew.send_json_to({"type": "batch", **batch_dict(stream, 0)})
    waveform = await board.receive_json_from(timeout=5)
    assert (
        subscribed["type"],
        waveform["type"],
        waveform["seq"],
        len(waveform["payload"]["samples"]),
    ) == ("subscribed", "waveform", 0, 63)
    await crew.disconnect()
    await board.disconnect()


async def test_unsubscribed_board_gets_no_ecg(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """Waveforms go only to boards that opened the case."""
    case = await _open(world)
    board = await _board(world.operator)
    crew = await _crew(world, case)
    await crew.send_json_to({"type": "batch", **batch_dict(uuid.uuid4(), 0)})
    await crew.receive_json_from(timeout=5)
    assert await board.receive_nothing(timeout=0.5)
    await crew.disconnect()
    await board.disconnect()


async def test_subscribe_outside_reach_is_not_found(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """Another hospital subscribing gets not_found; the socket stays up."""
    case = await _open(world)
    board = await _board(world.other_hospital_operator)
    await board.send_json_to({"type": "subscribe", "case": str(case.pk)})
    reply = await board.receive_json_from(timeout=5)
    assert (reply["type"], reply["code"]) == ("error", "not_found")
    await board.disconnect()


async def test_crew_sees_the_hospitals_answer(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """Acceptance with a bay and the cath lab reaches the crew's socket."""
    case = await _open(world, category="stemi")
    crew = await _crew(world, case)
    await sync_to_async(services.case_accept)(
        actor=world.operator,
        case_id=case.pk,
        department_id=world.cardiology.pk,
        bay="Cath 1",
        activate_teams=True,
        ctx=CTX,
    )
    latest = None
    while latest is None or not latest["activations"]:
        latest = (await crew.receive_json_from(timeout=5))["case"]
    assert (
        latest["status"],
        latest["encounter"]["bay"],
        latest["activations"][0]["team"]["code"],
    ) == ("accepted", "Cath 1", "cath_lab")
    await crew.disconnect()


async def test_team_member_is_alerted_on_their_board(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """The cardiologist's board gets a team_alert for the activation."""
    case = await _open(world, category="stemi")
    board = await _board(world.cardiologist)
    (activation,) = await sync_to_async(services.team_activate)(
        actor=world.operator, case_id=case.pk, ctx=CTX
    )
    message = await board.receive_json_from(timeout=5)
    while message["type"] != "team_alert":
        message = await board.receive_json_from(timeout=5)
    assert (message["activation"], message["team"]["code"]) == (
        activation.pk,
        "cath_lab",
    )
    await board.disconnect()


async def test_location_answers_with_eta(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A location fix gets an eta reply."""
    case = await _open(world)
    crew = await _crew(world, case)
    await crew.send_json_to(
        {"type": "location", "lat": 51.55, "lon": -0.12, "speed_mps": 12, "at": 1.7e12}
    )
    reply = await crew.receive_json_from(timeout=5)
    assert (reply["type"], reply["eta_s"] > 0) == ("eta", True)
    await crew.disconnect()


def _frame_with_bad_hash() -> str:
    import json

    batch = batch_dict(uuid.uuid4(), 0)
    batch["sha256"] = "a" * 64
    return json.dumps({"type": "batch", **batch})


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "malformed_json"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "batch", "seq": -1}', "invalid_message"),
        ('{"type": "ping", "t0": NaN}', "malformed_json"),
        (
            '{"type": "ping", "t0": 1, "pad": "' + "x" * 210_000 + '"}',
            "message_too_large",
        ),
        (_frame_with_bad_hash(), "hash_mismatch"),
    ],
)
async def test_bad_frames_get_stable_codes_and_the_socket_stays_up(
    world, redis_layer, frame, code
) -> None:  # type: ignore[no-untyped-def]
    """Each bad frame gets its error code; a ping afterwards still gets a pong."""
    case = await _open(world)
    crew = await _crew(world, case)
    await crew.send_to(text_data=frame)
    reply = await crew.receive_json_from(timeout=5)
    await crew.send_json_to({"type": "ping", "t0": 1})
    pong = await crew.receive_json_from(timeout=5)
    while pong["type"] == "ack":  # a refused batch still reports the stream's state
        pong = await crew.receive_json_from(timeout=5)
    assert (reply["type"], reply["code"], pong["type"]) == ("error", code, "pong")
    await crew.disconnect()


async def test_oversized_ecg_batch_is_invalid(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """2001 samples in one batch is invalid_message naming the batch."""
    case = await _open(world)
    crew = await _crew(world, case)
    payload = {"lead": "II", "unit": "uV", "samples": [1] * 2001}
    await crew.send_json_to(
        {"type": "batch", **batch_dict(uuid.uuid4(), 0, payload=payload)}
    )
    reply = await crew.receive_json_from(timeout=5)
    assert (reply["code"], "n_samples" in reply["fields"]) == ("invalid_message", True)
    await crew.disconnect()


async def test_numerics_with_implausible_values_are_acked_and_flagged(
    world, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """SpO2 140 and a string HR are stored (acked) with flags; nothing crashes."""
    case = await _open(world)
    crew = await _crew(world, case)
    stream = uuid.uuid4()
    payload = numerics(**{**NORMAL, "spo2": 140, "hr": "---"})
    await crew.send_json_to(
        {"type": "batch", **batch_dict(stream, 0, kind="numerics", payload=payload)}
    )
    ack = await crew.receive_json_from(timeout=5)
    while ack["type"] != "ack":
        ack = await crew.receive_json_from(timeout=5)
    row = await sync_to_async(VitalsBatch.objects.get)(stream_id=stream)
    assert (ack["acked_through"], sorted(row.flags)) == (
        0,
        ["hr:not_a_number", "spo2:implausible"],
    )
    await crew.disconnect()
