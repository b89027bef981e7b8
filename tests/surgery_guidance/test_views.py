"""Guidance pages and API: who sees what, the schedule form, files served safely."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from surgery_guidance import services
from surgery_guidance.models import Operation, Recording
from tests.surgery_guidance.conftest import (
    CTX,
    PATIENT_FAMILY,
    PATIENT_GIVEN,
    PATIENT_MRN,
    RecordingFactory,
    add_op,
)

pytestmark = pytest.mark.django_db
API = "/api/guidance/operations/"
IDENTIFIERS = (PATIENT_FAMILY, PATIENT_GIVEN, PATIENT_MRN)


def _as(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


# -- pages: who sees what --------------------------------------------------------------


@pytest.mark.parametrize("role_of", ["surgeon", "mentor", "moderator"])
def test_staff_get_the_mentoring_page(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """Surgeon, mentors and moderator get the operation page with their role."""
    operation = guidance.schedule()
    response = _as(getattr(guidance, role_of)).get(operation.get_absolute_url())
    assert (response.status_code, f'data-role="{role_of}"' in response.text) == (
        200,
        True,
    )


def test_a_viewer_is_sent_to_the_watch_page(guidance) -> None:  # type: ignore[no-untyped-def]
    """A trainee opening the staff page of a broadcast lands on watch."""
    operation = guidance.schedule(broadcast=True)
    response = _as(guidance.trainee).get(operation.get_absolute_url())
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("guidance:watch", kwargs={"operation_id": operation.pk}),
    )


@pytest.mark.parametrize("page", ["guidance:operation", "guidance:watch"])
@pytest.mark.parametrize(
    ("role_of", "broadcast"),
    [
        ("trainee", False),
        ("specialist", False),
        ("paramedic", True),
        ("operator", True),
        ("other_trainee", True),
        ("other_surgeon", True),
    ],
)
def test_operation_pages_are_404_for_others(guidance, page, role_of, broadcast) -> None:  # type: ignore[no-untyped-def]
    """Without a part or a consented broadcast both pages are Not found."""
    operation = guidance.schedule(broadcast=broadcast)
    response = _as(getattr(guidance, role_of)).get(
        reverse(page, kwargs={"operation_id": operation.pk})
    )
    assert response.status_code == 404


def test_pages_need_a_signed_in_user(guidance) -> None:  # type: ignore[no-untyped-def]
    """Anonymous visitors are sent to the login page."""
    operation = guidance.schedule(broadcast=True)
    response = Client().get(reverse("guidance:watch", args=[operation.pk]))
    assert (response.status_code, response["Location"].startswith("/accounts/")) == (
        302,
        True,
    )


@pytest.mark.parametrize("role_of", ["trainee", "surgeon"])
def test_the_watch_page_never_shows_the_patient(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """Trainees and staff alike: no name or MRN of the linked patient on watch."""
    operation = guidance.schedule(broadcast=True, patient=guidance.patient)
    response = _as(getattr(guidance, role_of)).get(
        reverse("guidance:watch", args=[operation.pk])
    )
    assert (response.status_code, [s for s in IDENTIFIERS if s in response.text]) == (
        200,
        [],
    )


def test_the_watch_page_is_not_cached(guidance) -> None:  # type: ignore[no-untyped-def]
    """A shared browser must not show a withdrawn broadcast from its cache."""
    operation = guidance.schedule(broadcast=True)
    response = _as(guidance.trainee).get(reverse("guidance:watch", args=[operation.pk]))
    assert "no-store" in response["Cache-Control"]


def test_the_list_shows_broadcasts_to_trainees(guidance) -> None:  # type: ignore[no-untyped-def]
    """The list page names broadcasts a trainee may watch, not private operations."""
    guidance.schedule(title="Shared lap chole", broadcast=True)
    guidance.schedule(title="Private hernia repair")
    text = _as(guidance.trainee).get(reverse("guidance:list")).text
    assert ("Shared lap chole" in text, "Private hernia repair" in text) == (
        True,
        False,
    )


# -- consent page action ---------------------------------------------------------------


def test_the_surgeon_switches_the_broadcast_on(guidance) -> None:  # type: ignore[no-untyped-def]
    """POST broadcast=on records consent and redirects back to the operation."""
    operation = guidance.schedule()
    response = _as(guidance.surgeon).post(
        reverse("guidance:consent", args=[operation.pk]), {"broadcast": "on"}
    )
    operation.refresh_from_db()
    assert (response.status_code, operation.broadcast, operation.consent_recorded) == (
        302,
        True,
        True,
    )


def test_a_mentor_cannot_switch_the_broadcast(guidance) -> None:  # type: ignore[no-untyped-def]
    """The consent action is 403 for a mentor and changes nothing."""
    operation = guidance.schedule()
    response = _as(guidance.mentor).post(
        reverse("guidance:consent", args=[operation.pk]), {"broadcast": "on"}
    )
    operation.refresh_from_db()
    assert (response.status_code, operation.broadcast) == (403, False)


# -- the schedule form -----------------------------------------------------------------


def _form(guidance, **over) -> dict:  # type: ignore[no-untyped-def]
    data = {
        "title": "Laparoscopic right hemicolectomy",
        "procedure": "Right hemicolectomy",
        "theatre": "Theatre 1",
        "scheduled_start": (timezone.now() + dt.timedelta(days=1)).strftime(
            "%Y-%m-%dT%H:%M"
        ),
        "surgeon": guidance.surgeon.pk,
        "mentors": [guidance.mentor.pk, guidance.specialist_mentor.pk],
        "moderator": guidance.moderator.pk,
        "vitals": "sepsis",
    }
    data.update(over)
    return data


def test_the_schedule_form_renders_for_organisers(guidance) -> None:  # type: ignore[no-untyped-def]
    """A nurse coordinator gets the form with the organisation's surgeons."""
    response = _as(guidance.nurse).get(reverse("guidance:new"))
    assert (response.status_code, guidance.surgeon.last_name in response.text) == (
        200,
        True,
    )


def test_the_schedule_form_hides_other_organisations(guidance) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's surgeon is not offered."""
    response = _as(guidance.nurse).get(reverse("guidance:new"))
    assert guidance.other_surgeon.last_name not in response.text


def test_the_schedule_form_is_refused_to_trainees(guidance) -> None:  # type: ignore[no-untyped-def]
    """Trainees get a 403 page."""
    assert _as(guidance.trainee).get(reverse("guidance:new")).status_code == 403


def test_posting_the_form_schedules_and_redirects(guidance) -> None:  # type: ignore[no-untyped-def]
    """A valid form creates the operation and redirects to its page."""
    response = _as(guidance.nurse).post(reverse("guidance:new"), _form(guidance))
    operation = Operation.objects.get()
    assert (
        response.status_code,
        response["Location"],
        sorted(operation.mentors.values_list("pk", flat=True)),
        operation.vitals,
    ) == (
        302,
        operation.get_absolute_url(),
        sorted([guidance.mentor.pk, guidance.specialist_mentor.pk]),
        "sepsis",
    )


@pytest.mark.parametrize(
    "over",
    [
        {"mentors": "NURSE"},
        {"surgeon": "OTHER"},
        {"scheduled_start": "tomorrow"},
        {"title": ""},
        {"mentors": "SURGEON"},
    ],
    ids=["nurse-mentor", "other-org-surgeon", "bad-date", "no-title", "self-mentor"],
)
def test_a_bad_form_creates_nothing(guidance, over) -> None:  # type: ignore[no-untyped-def]
    """Invalid choices or the surgeon as their own mentor: the form again, no row."""
    ids = {
        "NURSE": [guidance.nurse.pk],
        "OTHER": guidance.other_surgeon.pk,
        "SURGEON": [guidance.surgeon.pk],
    }
    data = _form(guidance, **{k: ids.get(v, v) for k, v in over.items()})
    response = _as(guidance.nurse).post(reverse("guidance:new"), data)
    assert (response.status_code, Operation.objects.count()) == (200, 0)


# -- the API ---------------------------------------------------------------------------


def _create_payload(guidance, **over) -> dict:  # type: ignore[no-untyped-def]
    data = {
        "title": "Laparoscopic appendicectomy",
        "procedure": "Appendicectomy",
        "scheduled_start": (timezone.now() + dt.timedelta(hours=3)).isoformat(),
        "surgeon": guidance.surgeon.pk,
        "mentors": [guidance.mentor.pk],
        "moderator": guidance.moderator.pk,
    }
    data.update(over)
    return data


def test_the_api_schedules_an_operation(guidance, api_client) -> None:  # type: ignore[no-untyped-def]
    """POST answers 201 with the operation and no patient field."""
    api_client.force_login(guidance.surgeon)
    response = api_client.post(
        API, _create_payload(guidance, patient=str(guidance.patient.pk)), format="json"
    )
    body = response.json()
    assert (
        response.status_code,
        body["title"],
        "patient" in body,
        Operation.objects.get().patient_id,
    ) == (201, "Laparoscopic appendicectomy", False, guidance.patient.pk)


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"patient_name": "Bob"}, "unknown_field"),
        ({"surgeon": "abc"}, "invalid"),
        ({"mentors": "x"}, "not_a_list"),
        ({"mentors": ["x"]}, "invalid"),
        ({"scheduled_start": "tomorrow"}, "invalid"),
        ({"title": "x" * 121}, "max_length"),
        ({"vitals": "bogus"}, "invalid_choice"),
        ({"patient": "not-a-uuid"}, "invalid"),
        ({"title": None}, "null"),
    ],
)
def test_bad_input_is_400_with_a_stable_code(guidance, api_client, over, code) -> None:  # type: ignore[no-untyped-def]
    """Unknown fields and wrong types: 400, a stable code, nothing created."""
    api_client.force_login(guidance.surgeon)
    response = api_client.post(API, _create_payload(guidance, **over), format="json")
    assert (
        response.status_code,
        response.json()["code"],
        Operation.objects.count(),
    ) == (
        400,
        code,
        0,
    )


def test_a_non_object_body_is_400(guidance, api_client) -> None:  # type: ignore[no-untyped-def]
    """A JSON list instead of an object is refused."""
    api_client.force_login(guidance.surgeon)
    response = api_client.post(API, [1, 2], format="json")
    assert (response.status_code, Operation.objects.count()) == (400, 0)


@pytest.mark.parametrize(
    ("who", "over", "status", "code"),
    [
        ("trainee", {}, 403, "permission_denied"),
        ("surgeon", {"mentors": ["OTHER"]}, 404, "not_found"),
        ("surgeon", {"title": f"{PATIENT_FAMILY} appendix"}, 400, "identifier_in_text"),
    ],
    ids=["role", "cross-org", "identifier"],
)
def test_refused_schedules_create_nothing(
    guidance, api_client, who, over, status, code
) -> None:  # type: ignore[no-untyped-def]
    """Domain refusals keep their status and code; nothing is created."""
    if over.get("mentors") == ["OTHER"]:
        over = {"mentors": [guidance.other_surgeon.pk]}
    api_client.force_login(getattr(guidance, who))
    response = api_client.post(
        API,
        _create_payload(guidance, patient=str(guidance.patient.pk), **over),
        format="json",
    )
    assert (
        response.status_code,
        response.json()["code"],
        Operation.objects.count(),
    ) == (
        status,
        code,
        0,
    )


def test_the_api_list_never_shows_the_patient(guidance, api_client) -> None:  # type: ignore[no-untyped-def]
    """A trainee's list holds the broadcast only, without any patient identifier."""
    guidance.schedule(broadcast=True, patient=guidance.patient, title="Shared")
    guidance.schedule(title="Private")
    api_client.force_login(guidance.trainee)
    response = api_client.get(API)
    text = response.content.decode()
    assert (
        [o["title"] for o in response.json()["operations"]],
        [s for s in IDENTIFIERS if s in text],
        "patient" in response.json()["operations"][0],
    ) == (["Shared"], [], False)


def test_the_api_needs_a_user(guidance, api_client) -> None:  # type: ignore[no-untyped-def]
    """Anonymous calls are 401."""
    assert api_client.get(API).status_code == 401


# -- annotation backfill API -----------------------------------------------------------


@pytest.fixture
def drawn(guidance):  # type: ignore[no-untyped-def]
    """A broadcast operation with three marks."""
    operation = guidance.schedule(broadcast=True)
    op_pass = guidance.op_pass(guidance.mentor, operation)
    for seq in (1, 2, 3):
        services.annotation_apply(op_pass=op_pass, op=add_op(op_pass.author, seq))
    return operation


def _backfill(operation) -> str:  # type: ignore[no-untyped-def]
    return f"{API}{operation.pk}/annotations/"


def test_staff_backfill_annotations(guidance, api_client, drawn) -> None:  # type: ignore[no-untyped-def]
    """after=1 returns seq 2 and 3."""
    api_client.force_login(guidance.surgeon)
    response = api_client.get(_backfill(drawn), {"after": 1})
    assert [e["seq"] for e in response.json()["events"]] == [2, 3]


@pytest.mark.parametrize("role_of", ["trainee", "other_surgeon", "paramedic"])
def test_backfill_is_404_for_everyone_else(
    guidance, api_client, drawn, role_of
) -> None:  # type: ignore[no-untyped-def]
    """Viewers and outsiders never get the annotation log."""
    api_client.force_login(getattr(guidance, role_of))
    assert api_client.get(_backfill(drawn)).status_code == 404


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"after": -1}, "min_value"),
        ({"after": "x"}, "invalid"),
        ({"since": 1}, "unknown_field"),
    ],
)
def test_backfill_query_is_validated(guidance, api_client, drawn, query, code) -> None:  # type: ignore[no-untyped-def]
    """Bad query parameters are 400 with a stable code."""
    api_client.force_login(guidance.mentor)
    response = api_client.get(_backfill(drawn), query)
    assert (response.status_code, response.json()["code"]) == (400, code)


# -- library and replay ----------------------------------------------------------------


@pytest.fixture
def recordings(guidance):  # type: ignore[no-untyped-def]
    shared = guidance.schedule(broadcast=True, title="Shared lap chole")
    private = guidance.schedule(title="Private hernia repair", procedure="Hernia")
    return RecordingFactory(operation=shared), RecordingFactory(operation=private)


def test_the_library_lists_what_a_trainee_may_watch(guidance, recordings) -> None:  # type: ignore[no-untyped-def]
    """Broadcast recordings only."""
    text = _as(guidance.trainee).get(reverse("guidance:library")).text
    assert ("Shared lap chole" in text, "Private hernia repair" in text) == (
        True,
        False,
    )


def test_the_library_is_empty_for_another_hospital(guidance, recordings) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's trainee sees none of them."""
    text = _as(guidance.other_trainee).get(reverse("guidance:library")).text
    assert ("Shared lap chole" in text, "Private hernia repair" in text) == (
        False,
        False,
    )


@pytest.mark.parametrize(
    ("role_of", "which", "status"),
    [
        ("trainee", 0, 200),
        ("trainee", 1, 404),
        ("mentor", 1, 200),
        ("other_trainee", 0, 404),
    ],
)
def test_replay_pages(guidance, recordings, role_of, which, status) -> None:  # type: ignore[no-untyped-def]
    """The replay page follows the library's visibility."""
    response = _as(getattr(guidance, role_of)).get(recordings[which].get_absolute_url())
    assert response.status_code == status


def test_the_recordings_api_follows_the_library(
    guidance, api_client, recordings
) -> None:  # type: ignore[no-untyped-def]
    """GET /recordings/ for a trainee lists the broadcast recording only."""
    api_client.force_login(guidance.trainee)
    rows = api_client.get("/api/guidance/recordings/").json()["recordings"]
    assert [r["id"] for r in rows] == [str(recordings[0].pk)]


# -- recording video with HTTP ranges --------------------------------------------------

VIDEO = bytes(range(256)) * 4  # 1024 bytes


@pytest.fixture
def media_root(tmp_path, settings):  # type: ignore[no-untyped-def]
    root = tmp_path / "media"
    (root / "recordings" / "op").mkdir(parents=True)
    settings.MEDIA_OUTPUT_DIR = root
    return root


@pytest.fixture
def video(guidance, media_root) -> Recording:  # type: ignore[no-untyped-def]
    (media_root / "recordings" / "op" / "take.mp4").write_bytes(VIDEO)
    (media_root / "recordings" / "op" / "take.timeline.json").write_text(
        '{"version": 1, "events": [{"t": 1.5, "kind": "annotation"}]}'
    )
    operation = guidance.schedule(broadcast=True)
    return RecordingFactory(
        operation=operation,
        video_path="recordings/op/take.mp4",
        timeline_path="recordings/op/take.timeline.json",
    )


def _video(guidance, recording, **headers):  # type: ignore[no-untyped-def]
    return _as(guidance.trainee).get(
        reverse("guidance:recording-video", args=[recording.pk]), **headers
    )


def test_the_whole_video_without_a_range(guidance, video) -> None:  # type: ignore[no-untyped-def]
    """No Range: 200 with every byte and Accept-Ranges."""
    response = _video(guidance, video)
    assert (
        response.status_code,
        response["Accept-Ranges"],
        response["Content-Type"],
        _body(response),
    ) == (200, "bytes", "video/mp4", VIDEO)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=512-99999", 512, 1023),
        ("bytes=1023-1023", 1023, 1023),
    ],
)
def test_a_range_is_206_with_its_content_range(
    guidance, video, header, first, last
) -> None:  # type: ignore[no-untyped-def]
    """206, Content-Range bytes first-last/size, exactly those bytes."""
    response = _video(guidance, video, HTTP_RANGE=header)
    assert (
        response.status_code,
        response["Content-Range"],
        response["Content-Length"],
        _body(response),
    ) == (
        206,
        f"bytes {first}-{last}/1024",
        str(last - first + 1),
        VIDEO[first : last + 1],
    )


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_an_unsatisfiable_range_is_416(guidance, video, header) -> None:  # type: ignore[no-untyped-def]
    """A range past the end: 416 with Content-Range bytes */size."""
    response = _video(guidance, video, HTTP_RANGE=header)
    assert (response.status_code, response["Content-Range"]) == (416, "bytes */1024")


def test_a_malformed_range_gets_the_whole_file(guidance, video) -> None:  # type: ignore[no-untyped-def]
    """A Range header the server does not parse is ignored (200)."""
    response = _video(guidance, video, HTTP_RANGE="lines=1-2")
    assert (response.status_code, len(_body(response))) == (200, 1024)


def test_the_video_is_404_for_those_who_may_not_watch(guidance, video) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's trainee gets 404."""
    response = _as(guidance.other_trainee).get(
        reverse("guidance:recording-video", args=[video.pk])
    )
    assert response.status_code == 404


@pytest.mark.parametrize("where", ["parent", "absolute", "symlink", "missing"])
def test_stored_paths_cannot_leave_the_media_root(
    guidance, video, media_root, where
) -> None:  # type: ignore[no-untyped-def]
    """Traversal, absolute paths, symlinks out of the root and missing files: 404."""
    secret = media_root.parent / "secret.mp4"
    secret.write_bytes(b"not for trainees")
    (media_root / "recordings" / "op" / "link.mp4").symlink_to(secret)
    paths = {
        "parent": "../secret.mp4",
        "absolute": str(secret),
        "symlink": "recordings/op/link.mp4",
        "missing": "recordings/op/gone.mp4",
    }
    Recording.objects.filter(pk=video.pk).update(video_path=paths[where])
    assert _video(guidance, video).status_code == 404


def test_the_timeline_is_served_as_json(guidance, video) -> None:  # type: ignore[no-untyped-def]
    """The timeline file as stored."""
    response = _as(guidance.trainee).get(
        reverse("guidance:recording-timeline", args=[video.pk])
    )
    assert response.json()["events"] == [{"t": 1.5, "kind": "annotation"}]


def test_a_timeline_outside_the_root_is_an_empty_one(
    guidance, video, media_root
) -> None:  # type: ignore[no-untyped-def]
    """A timeline outside the media root is not read: an empty timeline, not a 500."""
    (media_root.parent / "secret.json").write_text('{"version": 1, "events": ["x"]}')
    Recording.objects.filter(pk=video.pk).update(timeline_path="../secret.json")
    response = _as(guidance.trainee).get(
        reverse("guidance:recording-timeline", args=[video.pk])
    )
    assert response.json() == {"version": 1, "events": []}


# -- HLS by token ----------------------------------------------------------------------


BAD_NAMES = [
    "..%2Fsecret.ts",
    "index.m3u8.bak",
    ".hidden.ts",
    "seg 1.ts",
    "index.html",
    "a.b.ts",
]


@pytest.fixture
def hls(guidance, media_root) -> Operation:  # type: ignore[no-untyped-def]
    """A live broadcast whose worker wrote a playlist and a segment."""
    operation = guidance.schedule(broadcast=True)
    directory = media_root / "hls" / operation.composite_name
    directory.mkdir(parents=True)
    (directory / "index.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:3\nseg-1.ts\n")
    (directory / "seg-1.ts").write_bytes(b"\x47" * 188 * 4)
    (media_root / "hls" / "secret.ts").write_bytes(b"\x47" * 188)
    for name in BAD_NAMES[1:]:  # present on disk: only the name check refuses them
        (directory / name).write_text("not for the web")
    Operation.objects.filter(pk=operation.pk).update(
        hls_path=f"hls/{operation.composite_name}/index.m3u8"
    )
    operation.refresh_from_db()
    return operation


def _hls(operation, name: str, token: str | None = None):  # type: ignore[no-untyped-def]
    return Client().get(
        reverse(
            "guidance:hls",
            kwargs={"token": token or operation.broadcast_token, "name": name},
        )
    )


def test_the_playlist_is_served_uncached(hls) -> None:  # type: ignore[no-untyped-def]
    """The playlist changes every segment: no-cache, HLS content type."""
    response = _hls(hls, "index.m3u8")
    assert (
        response.status_code,
        response["Cache-Control"],
        response["Content-Type"],
        _body(response).startswith(b"#EXTM3U"),
    ) == (200, "no-cache", "application/vnd.apple.mpegurl", True)


def test_segments_are_publicly_cacheable(hls) -> None:  # type: ignore[no-untyped-def]
    """A segment never changes: public, cacheable by a CDN."""
    response = _hls(hls, "seg-1.ts")
    assert (response.status_code, response["Cache-Control"], len(_body(response))) == (
        200,
        "public, max-age=600",
        752,
    )


def test_a_wrong_token_is_404(hls) -> None:  # type: ignore[no-untyped-def]
    """Any other token is Not found."""
    assert _hls(hls, "index.m3u8", token="x" * 32).status_code == 404


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_file_names_are_404(hls, name) -> None:  # type: ignore[no-untyped-def]
    """Only plain playlist/segment names are served."""
    response = Client().get(f"/guidance/hls/{hls.broadcast_token}/{name}")
    assert response.status_code == 404


def test_broadcast_off_is_404(hls) -> None:  # type: ignore[no-untyped-def]
    """With the broadcast off the token serves nothing."""
    Operation.objects.filter(pk=hls.pk).update(broadcast=False)
    assert _hls(hls, "index.m3u8").status_code == 404


def test_an_old_token_is_dead_after_the_broadcast_restarts(guidance, hls) -> None:  # type: ignore[no-untyped-def]
    """Off and on again: the URL handed out before does not serve the new broadcast."""
    for broadcast in (False, True):
        services.consent_record(
            actor=guidance.surgeon, operation_id=hls.pk, broadcast=broadcast, ctx=CTX
        )
    fresh = Operation.objects.get(pk=hls.pk)
    assert (
        _hls(hls, "index.m3u8").status_code,
        _hls(fresh, "index.m3u8").status_code,
    ) == (
        404,
        200,
    )


def test_no_hls_path_is_404(guidance, media_root) -> None:  # type: ignore[no-untyped-def]
    """A broadcast whose composite has not started serves nothing."""
    operation = guidance.schedule(broadcast=True)
    assert _hls(operation, "index.m3u8").status_code == 404


def test_a_mentor_removed_from_the_room_gets_a_page_not_a_500(guidance) -> None:  # type: ignore[no-untyped-def]
    """The surgeon removed the mentor from the video room: Not found, not a crash."""
    from consult.rooms.models import RoomMember

    operation = guidance.schedule()
    RoomMember.objects.filter(room=operation.room, user=guidance.mentor).update(
        removed_at=timezone.now()
    )
    client = _as(guidance.mentor)
    client.raise_request_exception = False
    assert client.get(operation.get_absolute_url()).status_code == 404
