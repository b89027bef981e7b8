"""Surgical guidance in Chromium with fake cameras.

The surgeon publishes the theatre camera, a mentor draws an arrow on it and the
surgeon's page shows the mark; a trainee watches the composited broadcast and
the arrow is burned into the decoded pixels; a trainee who tries to publish is
refused with 4403. Pages open with ``?video=360&fps=15`` so the media worker's
decode-draw-encode fits a small CI machine; the code path is the same at 4K.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from consult.accounts.models import Role
from consult.records.context import AccessContext
from surgery_guidance import services
from surgery_guidance.models import Operation
from tests.factories import DepartmentFactory, HospitalFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ("docs/img" if os.environ.get("DOCS_SCREENSHOTS") else "var/screenshots")
MAGENTA = "#ff2bd6"


def _sign_in(page, live_url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_url}/")


def _operation() -> tuple[Operation, object, object, object]:
    hospital = HospitalFactory()
    dept = DepartmentFactory(organisation=hospital, name="Surgery")
    surgeon = UserFactory(
        role=Role.SURGEON, department=dept, first_name="Helen", last_name="Okafor"
    )
    mentor = UserFactory(
        role=Role.SURGEON, department=dept, first_name="Daniel", last_name="Osei"
    )
    trainee = UserFactory(
        role=Role.TRAINEE, department=dept, first_name="Maya", last_name="Chen"
    )
    ctx = AccessContext(channel="test")
    from django.utils import timezone

    operation = services.operation_schedule(
        actor=surgeon,
        title="Laparoscopic cholecystectomy",
        procedure="Laparoscopic cholecystectomy",
        scheduled_start=timezone.now(),
        surgeon_id=surgeon.pk,
        mentor_ids=[mentor.pk],
        ctx=ctx,
    )
    services.consent_record(
        actor=surgeon, operation_id=operation.pk, broadcast=True, ctx=ctx
    )
    return operation, surgeon, mentor, trainee


def _open(browser, live_url: str, user, path: str, viewport=(1280, 800)):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}
    )
    page = context.new_page()
    page.set_default_timeout(120_000)
    _sign_in(page, live_url, user.username)
    page.goto(f"{live_url}{path}")
    return context, page


def _wait_for_recording(operation: Operation):  # type: ignore[no-untyped-def]
    import time

    from surgery_guidance.models import Recording

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = Recording.objects.filter(operation=operation).first()
        if row is not None:
            return row
        time.sleep(0.5)
    raise AssertionError("no recording after the operation ended")


def _drag(page, box, start, end) -> None:  # type: ignore[no-untyped-def]
    """A mouse drag between two points given as fractions of ``box``."""
    x0 = box["x"] + box["width"] * start[0]
    y0 = box["y"] + box["height"] * start[1]
    x1 = box["x"] + box["width"] * end[0]
    y1 = box["y"] + box["height"] * end[1]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10)
    page.mouse.up()


# The page rectangle of a video's picture inside its element (object-fit: contain).
_PICTURE_BOX = """
(selector) => {
  const v = document.querySelector(selector);
  const r = v.getBoundingClientRect();
  const scale = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
  const w = v.videoWidth * scale, h = v.videoHeight * scale;
  const x = r.left + (r.width - w) / 2, y = r.top + (r.height - h) / 2;
  return { x, y, width: w, height: h };
}
"""

# Magenta pixels (R and B high, G low) in the video frame, drawn to a canvas: the
# count in the arrow's box and the whole frame, from the decoded picture itself.
_MAGENTA_IN_VIDEO = """
([selector, box]) => {
  const video = document.querySelector(selector);
  const w = video.videoWidth, h = video.videoHeight;
  if (!w || !h) return null;
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  const ctx = c.getContext("2d");
  ctx.drawImage(video, 0, 0, w, h);
  const data = ctx.getImageData(0, 0, w, h).data;
  let inside = 0, total = 0;
  for (let y = 0; y < h; y += 1) for (let x = 0; x < w; x += 1) {
    const i = (y * w + x) * 4;
    if (data[i] > 170 && data[i + 2] > 140 && data[i + 1] < 110) {
      total += 1;
      const inX = x >= box[0] * w && x <= box[2] * w;
      if (inX && y >= box[1] * h && y <= box[3] * h) inside += 1;
    }
  }
  return { inside, total, w, h };
}
"""


def test_mentor_draws_surgeon_sees_trainee_watches_burned_in(browser, live_url):  # type: ignore[no-untyped-def]
    operation, surgeon, mentor, trainee = _operation()
    query = "?video=360&fps=15"
    contexts = []
    try:
        ctx_s, surgeon_page = _open(
            browser, live_url, surgeon, operation.get_absolute_url() + query
        )
        contexts.append(ctx_s)
        # The surgeon's camera starts the composite: the operation goes live.
        surgeon_page.wait_for_function(
            "document.getElementById('composite-state').textContent.startsWith('Live')"
        )
        ctx_m, mentor_page = _open(
            browser, live_url, mentor, operation.get_absolute_url() + query
        )
        contexts.append(ctx_m)
        canvas = "figure.tile.remote.theatre canvas.telestration.drawable"
        mentor_page.wait_for_selector(canvas)
        mentor_page.wait_for_function(
            "[...document.querySelectorAll('figure.tile.remote.theatre video')]"
            ".some(v => v.videoWidth > 0)"
        )
        mentor_page.click(f"#tele-colours button[data-colour='{MAGENTA}']")
        mentor_page.check("#tele-pin")
        mentor_page.uncheck("#tele-track")
        # Drag over the picture itself: the tile letterboxes it (object-fit: contain).
        box = mentor_page.evaluate(_PICTURE_BOX, "figure.tile.remote.theatre video")
        _drag(mentor_page, box, (0.30, 0.35), (0.65, 0.60))
        # Acknowledged after commit: nothing left in the mentor's outbox.
        mentor_page.wait_for_function(
            "window.__guidance.outbox.length === 0"
            " && window.__guidance.confirmedSeq === 1"
        )
        # The surgeon's page receives the mark and draws it over their own camera.
        surgeon_page.wait_for_function("window.__guidance.view.items.size === 1")
        mark = surgeon_page.evaluate("[...window.__guidance.view.items.values()][0]")
        assert mark["kind"] == "arrow" and mark["colour"] == MAGENTA
        assert mark["pinned"] is True

        # A trainee watches the composite: the arrow is in the decoded pixels.
        ctx_t, trainee_page = _open(
            browser, live_url, trainee, f"/guidance/{operation.pk}/watch/"
        )
        contexts.append(ctx_t)
        trainee_page.wait_for_function("window.__watch.frames > 10")
        # The arrow spans x 0.30..0.65, y 0.35..0.60 of the frame (the video fills
        # the tile's picture rect); allow for the letterbox and the arrow head.
        arrow_box = [0.25, 0.30, 0.72, 0.66]
        trainee_page.wait_for_function(
            f"(() => {{ const r = ({_MAGENTA_IN_VIDEO})(['#feed', {arrow_box}]);"
            " return r && r.inside > 150; })()",
            polling=500,
        )
        found = trainee_page.evaluate(_MAGENTA_IN_VIDEO, ["#feed", arrow_box])
        assert found["inside"] > 0.8 * found["total"], found
        SHOTS.mkdir(parents=True, exist_ok=True)
        trainee_page.screenshot(path=str(SHOTS / "guidance-broadcast.png"))
        mentor_page.screenshot(path=str(SHOTS / "guidance-mentor.png"))

        # Publishing from the view-only page is refused: the socket closes with 4403.
        trainee_page.evaluate(
            "window.__watch.socket.send({type: 'media.offer', pc: 'pub', sdp: 'v=0'})"
        )
        trainee_page.wait_for_selector("#gone", state="visible")

        # Large audiences: the same broadcast over HLS (hls.js), from segments.
        ctx_h, hls_page = _open(
            browser, live_url, trainee, f"/guidance/{operation.pk}/watch/"
        )
        contexts.append(ctx_h)
        hls_page.wait_for_function(
            "window.__watch.state.live && window.__watch.state.live.hls"
        )
        hls_page.click("#mode")
        hls_page.wait_for_function(
            "(() => { const v = document.getElementById('feed');"
            " return !v.srcObject && v.readyState >= 2 && v.currentTime > 0.5; })()"
        )

        # The surgeon ends the operation: the recording is kept and replays with
        # its timeline (the arrow listed when it was drawn).
        surgeon_page.on("dialog", lambda dialog: dialog.accept())
        surgeon_page.click("#op-end")
        recording = _wait_for_recording(operation)
        ctx_r, replay_page = _open(
            browser, live_url, trainee, recording.get_absolute_url()
        )
        contexts.append(ctx_r)
        replay_page.wait_for_function(
            "(() => { const v = document.getElementById('replay-video');"
            " return v.readyState >= 1 && v.duration > 1; })()"
        )
        replay_page.wait_for_selector("#timeline .timeline-item")
        assert "Arrow" in replay_page.inner_text("#timeline")
        replay_page.screenshot(path=str(SHOTS / "guidance-replay.png"))
    finally:
        for context in contexts:
            context.close()
