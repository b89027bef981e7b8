"""The ambulance crew's phone page and the hospital's command board, in Chromium.

1. A crew on a phone-sized touch viewport opens a case and streams vitals from
   the simulated monitor; the command board sees it live with its ECG, accepts
   and pre-admits it with the cath lab team; the phone shows "admitted" with the
   department and bay; a team member's acknowledgement shows on the board.
2. The socket is cut and kept down, the outbox fills, the page is reloaded
   mid-outage; when the socket may come back, every seq of every stream is on
   the server exactly once.
3. Live waveform batches the board never receives are found by seq and
   backfilled over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest
from django.db.models import Count, Max, Min

from consult.accounts.models import Role
from consult.emergency.models import (
    EmergencyCase,
    TeamAcknowledgement,
    VitalsBatch,
    VitalsStream,
)
from tests.factories import (
    CrewFactory,
    DepartmentFactory,
    EmergencyCaseFactory,
    EmergencyDepartmentFactory,
    HospitalFactory,
    OperatorFactory,
    ParamedicFactory,
    ReceivingHospitalFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

# Screenshots go to var/ (ignored); set DOCS_SCREENSHOTS=1 to refresh docs/img.
_ROOT = Path(__file__).resolve().parents[2]
IMG = _ROOT / ("docs/img" if os.environ.get("DOCS_SCREENSHOTS") else "var/screenshots")
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 1,
    "geolocation": {"latitude": 51.5310, "longitude": -0.0990, "accuracy": 12},
    "permissions": ["geolocation"],
}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
# A JPEG drawn in the page, handed to the camera input as if just taken.
PHOTO_JS = """async () => {
  const c = document.createElement("canvas");
  c.width = 320; c.height = 240;
  const g = c.getContext("2d");
  g.fillStyle = "#7a8b99"; g.fillRect(0, 0, 320, 240);
  g.fillStyle = "#b0170b"; g.fillRect(40, 60, 240, 120);
  const blob = await new Promise((r) => c.toBlob(r, "image/jpeg", 0.8));
  const dt = new DataTransfer();
  dt.items.add(new File([blob], "scene.jpg", { type: "image/jpeg" }));
  const input = document.getElementById("photo-input");
  input.files = dt.files;
  input.dispatchEvent(new Event("change"));
}"""


# Every record of the phone's outbox database as stored; bytes as latin-1 text.
RAW_OUTBOX_JS = """async () => {
  const db = await new Promise((ok, ko) => {
    const r = indexedDB.open("telemed-ems-outbox");
    r.onsuccess = () => ok(r.result);
    r.onerror = () => ko(r.error);
  });
  const plain = (v) => {
    if (v instanceof CryptoKey) return "CRYPTOKEY";
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
      const b = v instanceof ArrayBuffer
        ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      return { bytes: Array.from(b, (x) => String.fromCharCode(x)).join("") };
    }
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    }
    return v;
  };
  const out = {};
  for (const name of db.objectStoreNames) {
    out[name] = await new Promise((ok, ko) => {
      const r = db.transaction(name).objectStore(name).getAll();
      r.onsuccess = () => ok(plain(r.result));
      r.onerror = () => ko(r.error);
    });
  }
  db.close();
  return out;
}"""
# What clear vitals would look like in a stored record (keys, units, NEWS2 inputs).
CLEAR_VITALS = ('"samples"', '"values"', '"payload"', '"sha256"', '"uV"', '"acvpu"')


def _assert_outbox_sealed(phone, case_id: str) -> None:  # type: ignore[no-untyped-def]
    """The raw IndexedDB holds ciphertext only: no vitals, no key."""
    raw = phone.evaluate(RAW_OUTBOX_JS)
    # Unescaped, so JSON text hidden in a byte field would show as well.
    dump = json.dumps(raw).replace('\\"', '"')
    batches = raw["batches"]
    assert batches, "the outbox is empty"
    assert {tuple(sorted(b)) for b in batches} == {("case", "sealed", "seq", "stream")}
    assert {tuple(sorted(b["sealed"])) for b in batches} == {("ct", "iv", "kid", "v")}
    assert [word for word in CLEAR_VITALS if word in dump] == []
    assert "CRYPTOKEY" not in dump
    (meta,) = [m for m in raw["meta"] if m["key"] == f"case.{case_id}"]
    assert sorted(meta) == ["key", "sealed"]


def _world() -> dict:
    hospital = HospitalFactory(name="St Aldric General")
    ReceivingHospitalFactory(organisation=hospital, lat=51.5074, lon=-0.1278)
    emergency = EmergencyDepartmentFactory(organisation=hospital, name="Emergency")
    cardiology = DepartmentFactory(organisation=hospital, name="Cardiology")
    cardiologist = UserFactory(
        department=cardiology,
        role=Role.SPECIALIST,
        first_name="Carla",
        last_name="Reyes",
    )
    TeamFactory(organisation=hospital, department=cardiology, members=[cardiologist])
    crew = CrewFactory(call_sign="Alpha 12")
    return {
        "hospital": hospital,
        "cardiology": cardiology,
        "operator": OperatorFactory(department=emergency),
        "cardiologist": cardiologist,
        "paramedic": ParamedicFactory(crew=crew),
    }


def _open_case(**kwargs):  # type: ignore[no-untyped-def]
    """Open a case through the service on another thread: its after-commit fan-out
    uses async_to_sync, which cannot run on Playwright's event-loop thread."""
    from django.db import connection

    result: dict = {}

    def run() -> None:
        try:
            result["case"] = EmergencyCaseFactory(**kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return result["case"]


def _sign_in(page, live_url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.on("pageerror", lambda exc: print("PAGE ERROR", username, exc))
    page.on(
        "console",
        lambda msg: (
            msg.type in ("error", "warning") and print("CONSOLE", username, msg.text)
        ),
    )
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_url}/")


def _screenshot(page, name: str, *, full_page: bool = False) -> Path:  # type: ignore[no-untyped-def]
    IMG.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    path = IMG / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if path.stat().st_size > 300 * 1024:
        path.unlink()
        path = IMG / f"{name}.jpg"
        page.screenshot(path=str(path), type="jpeg", quality=80, full_page=full_page)
    assert path.stat().st_size <= 300 * 1024
    return path


def _assert_exactly_once(case_id: str, streams: list[dict]) -> None:
    """Every seq the phone wrote is stored once, and the stream is complete."""
    assert streams, "the phone wrote no stream"
    for s in streams:
        n = s["next_seq"]
        rows = VitalsBatch.objects.filter(stream_id=s["stream"])
        agg = rows.aggregate(n=Count("id"), lo=Min("seq"), hi=Max("seq"))
        assert agg["n"] == n, (s, agg)
        assert (agg["lo"], agg["hi"]) == (0, n - 1), (s, agg)
        assert rows.values("seq").distinct().count() == n
        stream = VitalsStream.objects.get(stream_id=s["stream"])
        assert str(stream.case_id) == case_id
        assert stream.acked_through == n - 1
        assert stream.batches == n


def test_crew_opens_case_board_accepts_crew_sees_admitted(browser, live_url) -> None:  # type: ignore[no-untyped-def]
    w = _world()
    phone_ctx = browser.new_context(**PHONE)
    phone = phone_ctx.new_page()
    _sign_in(phone, live_url, w["paramedic"].username)
    assert phone.locator("nav a", has_text="Ambulance").count() == 1
    phone.goto(f"{live_url}/emergency/crew/")
    phone.wait_for_selector(
        "#f-destination option[value='%d']" % w["hospital"].pk, state="attached"
    )
    # No case yet, so no uplink socket: the pill says the server answered.
    phone.wait_for_function(
        "document.getElementById('crew-link').textContent === 'Online'"
    )
    assert phone.locator("#crew-cases").is_hidden()
    # A few taps: category, age, sex; the only hospital is preselected.
    phone.tap("#cat-buttons button[data-value=stemi]")
    phone.fill("#f-age", "64")
    phone.tap("#sex-buttons button[data-value=male]")
    phone.fill("#f-chief_complaint", "Central crushing chest pain for 40 minutes")
    phone.fill("#f-treatment", "Aspirin 300 mg, GTN")
    # Every target the crew taps is glove-sized.
    for selector in ("#cat-buttons button", "#sex-buttons button", "#open-case"):
        for box in phone.locator(selector).evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().height)"
        ):
            assert box >= 56, (selector, box)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.tap("#open-case")
    phone.wait_for_url(re.compile(r".*/emergency/crew/[0-9a-f-]{36}/$"))
    case_id = phone.evaluate("window.__crew.caseId")
    case = EmergencyCase.objects.get(pk=case_id)
    assert case.category == "stemi" and case.estimated_age == 64
    phone.wait_for_function(
        "document.getElementById('crew-link').textContent === 'Online'"
    )

    phone.tap("#acvpu-buttons button[data-value=A]")
    phone.tap("#o2-buttons button[data-value=air]")
    phone.tap("#device-toggle")
    # Streams from the simulated monitor: the server acknowledges committed batches.
    phone.wait_for_function("window.__crew.stats().acked >= 12", timeout=30_000)
    assert VitalsBatch.objects.filter(case_id=case_id, kind="ecg").count() >= 4
    phone.wait_for_function(
        "document.getElementById('news-total').textContent.trim() !== '—'",
        timeout=30_000,
    )
    phone.wait_for_function(
        "document.getElementById('eta').textContent !== '—'", timeout=30_000
    )
    # Reopened at its start page, the crew app offers the case first.
    again = phone_ctx.new_page()
    again.goto(f"{live_url}/emergency/crew/")
    link = again.locator("#crew-case-list a").first
    link.wait_for()
    assert link.get_attribute("href") == f"/emergency/crew/{case_id}/"
    assert "STEMI 64M" in link.inner_text()
    assert link.bounding_box()["y"] < again.locator("#new-title").bounding_box()["y"]
    again.close()

    board_ctx = browser.new_context(**DESKTOP)
    board = board_ctx.new_page()
    _sign_in(board, live_url, w["operator"].username)
    assert board.locator("nav a", has_text="Inbound").count() == 1
    board.goto(f"{live_url}/emergency/board/")
    row = board.locator(f".board-case[data-case='{case_id}']")
    row.wait_for()
    text = row.inner_text()
    assert "STEMI" in text and "64M" in text and "Alpha 12" in text
    board.wait_for_function(
        "document.querySelector(\".board-case[data-case='%s'] .bc-news-total\")"
        ".textContent.trim() !== '—'" % case_id,
        timeout=30_000,
    )
    row.locator("button").click()
    board.wait_for_function("window.__board.stats.samples > 500", timeout=30_000)
    board.wait_for_function(
        "document.getElementById('p-text').textContent.includes('Central crushing')",
        timeout=30_000,
    )

    board.select_option("#accept-dept", str(w["cardiology"].pk))
    board.fill("#accept-bay", "Cath 1")
    assert board.is_checked("#accept-teams")
    board.click("#accept-btn")

    # The crew sees the answer, big: accepted, department, bay, team.
    phone.wait_for_function(
        "document.getElementById('answer-title').textContent.includes('ADMITTED')",
        timeout=30_000,
    )
    assert "Cardiology" in phone.inner_text("#answer-detail")
    assert "Bay Cath 1" in phone.inner_text("#answer-detail")
    assert "Cath lab team activated" in phone.inner_text("#answer-teams")
    assert "answer-ok" in phone.get_attribute("#answer", "class")

    # A team member acknowledges; the board shows it.
    board.wait_for_function(
        "document.getElementById('p-teams').textContent.includes('not yet')",
        timeout=30_000,
    )
    doctor_ctx = browser.new_context(**DESKTOP)
    doctor = doctor_ctx.new_page()
    _sign_in(doctor, live_url, w["cardiologist"].username)
    doctor.goto(f"{live_url}/emergency/board/")
    alert = doctor.locator(".team-alert")
    alert.wait_for()
    assert "Cath lab team activated" in alert.inner_text()
    alert.locator("button", has_text="Acknowledge").click()
    doctor.wait_for_function("!document.querySelector('.team-alert')", timeout=30_000)
    assert TeamAcknowledgement.objects.get(user=w["cardiologist"]).acknowledged_at
    doctor_ctx.close()
    board.wait_for_function(
        "document.getElementById('p-teams').textContent.includes('acknowledged')",
        timeout=30_000,
    )
    phone.wait_for_function(
        "document.getElementById('answer-teams').textContent"
        ".includes('1/1 acknowledged')",
        timeout=30_000,
    )
    # A scene photo from the phone's camera input reaches the board.
    phone.evaluate(PHOTO_JS)
    phone.wait_for_selector("#photo-list .photo-ok", timeout=30_000)
    board.wait_for_selector("#p-attachments img", timeout=30_000)
    time.sleep(1.0)  # let the sweep fill the strip for the pictures
    print("CREW STATS", phone.evaluate("JSON.stringify(window.__crew.stats())"))
    _screenshot(phone, "ems-crew-phone")
    _screenshot(phone, "ems-crew-phone-full", full_page=True)
    _screenshot(board, "ems-board")

    # Arrival and handover from the board; the crew page follows.
    board.click("#btn-arrived")
    phone.wait_for_function(
        "document.getElementById('answer-title').textContent.includes('ARRIVED')",
        timeout=30_000,
    )
    board.wait_for_function("!document.getElementById('btn-handover').disabled")
    board.click("#btn-handover")
    phone.wait_for_function(
        "document.getElementById('answer-title').textContent.includes('HANDED OVER')",
        timeout=30_000,
    )
    assert EmergencyCase.objects.get(pk=case_id).status == "handed_over"
    phone_ctx.close()
    board_ctx.close()


def test_outbox_written_offline_survives_reload_and_is_delivered_once(
    browser, live_url
) -> None:  # type: ignore[no-untyped-def]
    w = _world()
    case = _open_case(paramedic=w["paramedic"], destination=w["hospital"])
    ctx = browser.new_context(**PHONE)
    phone = ctx.new_page()
    _sign_in(phone, live_url, w["paramedic"].username)
    phone.goto(f"{live_url}/emergency/crew/{case.pk}/")
    phone.wait_for_function(
        "document.getElementById('crew-link').textContent === 'Online'"
    )
    phone.tap("#acvpu-buttons button[data-value=A]")
    phone.tap("#device-toggle")
    phone.wait_for_function("window.__crew.stats().acked >= 8", timeout=30_000)

    # Dead zone: the socket is cut and may not come back; the monitor keeps going.
    phone.evaluate("window.__crew.blockSocket(600000)")
    phone.wait_for_function("window.__crew.stats().state === 'offline'")
    phone.wait_for_function("window.__crew.backlog() >= 10", timeout=30_000)
    before_reload = phone.evaluate("window.__crew.backlog()")
    assert phone.get_attribute("#crew-backlog", "data-count") != "0"
    # What a lost phone would give away: sealed records only.
    _assert_outbox_sealed(phone, str(case.pk))

    # Reload in the middle of the outage: the outbox is still there.
    phone.reload()
    phone.wait_for_function("document.body.dataset.crewReady === '1'")
    phone.wait_for_function(f"window.__crew.backlog() >= {before_reload}")
    assert phone.evaluate("window.__crew.stats().state") == "offline"
    phone.wait_for_function(
        f"window.__crew.backlog() >= {before_reload + 6}", timeout=30_000
    )
    _assert_outbox_sealed(phone, str(case.pk))
    stored = VitalsBatch.objects.filter(case=case).count()

    # The signal comes back: stop the monitor so the totals are final, then deliver.
    phone.evaluate("window.__crew.stopDevice()")
    phone.evaluate("window.__crew.flushWrites()")
    phone.evaluate("window.__crew.allowSocket()")
    phone.wait_for_function("window.__crew.backlog() === 0", timeout=30_000)
    assert phone.get_attribute("#crew-backlog", "data-count") == "0"
    streams = phone.evaluate("window.__crew.streams()")
    assert {s["kind"] for s in streams} == {"ecg", "numerics"}
    assert VitalsBatch.objects.filter(case=case).count() > stored
    _assert_exactly_once(str(case.pk), streams)

    # Signing out wipes the outbox from the phone.
    phone.click("text=Sign out")
    phone.wait_for_url("**/accounts/login/**")
    names = phone.evaluate("indexedDB.databases().then(d => d.map(x => x.name))")
    assert "telemed-ems-outbox" not in names
    ctx.close()


def test_board_backfills_lost_live_waveforms(browser, live_url) -> None:  # type: ignore[no-untyped-def]
    w = _world()
    case = _open_case(paramedic=w["paramedic"], destination=w["hospital"])
    phone_ctx = browser.new_context(**PHONE)
    phone = phone_ctx.new_page()
    _sign_in(phone, live_url, w["paramedic"].username)
    phone.goto(f"{live_url}/emergency/crew/{case.pk}/")
    phone.wait_for_function("document.body.dataset.crewReady === '1'")
    phone.tap("#device-toggle")
    phone.wait_for_function("window.__crew.stats().acked >= 4", timeout=30_000)

    board_ctx = browser.new_context(**DESKTOP)
    board = board_ctx.new_page()
    _sign_in(board, live_url, w["operator"].username)
    board.goto(f"{live_url}/emergency/board/?case={case.pk}")
    board.wait_for_function("window.__board.stats.live >= 4", timeout=30_000)
    # The next five live batches never arrive; the board sees the seq jump.
    base = board.evaluate("window.__board.stats.backfilled")
    board.evaluate("window.__board.dropLiveWaveforms(5)")
    board.wait_for_function(
        f"window.__board.stats.backfilled >= {base + 5}"
        " && window.__board.stats.gaps >= 1",
        timeout=30_000,
    )
    board.wait_for_function("window.__board.stats.live >= 16", timeout=30_000)
    assert board.evaluate("window.__board.stats.skipped") == 0
    phone_ctx.close()
    board_ctx.close()


VIDEO_TIMEOUT = 120_000
# The board's tile of the crew's camera: decoding (requestVideoFrameCallback counts).
BOARD_FRAMES_JS = (
    "(pid) => { const v = window.__board.video;"
    " return v ? (v.framesByParticipant()[pid] || 0) : 0; }"
)
MEDIA_STATE_JS = """(hook) => { const v = window[hook].video; if (!v) return null;
  const m = v.media, pc = (p) => p && [p.connectionState, p.signalingState];
  return JSON.stringify({status: v.status, pub: pc(m.pub), sub: pc(m.sub),
    tracks: [...m.trackInfo.keys()], subscribed: [...m.subscribed],
    pending: [...m.pending.keys()], sources: m.sources.length,
    tiles: [...m.tiles].map(([id, t]) => [id, t.dataset.participant, t.frames])}); }"""
BOARD_DECODED_JS = (
    "() => { const v = document.querySelector('#p-video-grid .tile.remote video');"
    " return v ? {w: v.videoWidth, n: v.getVideoPlaybackQuality().totalVideoFrames}"
    " : {w: 0, n: 0}; }"
)


@pytest.mark.timeout(600)
def test_crew_video_reaches_the_board_live_with_latency(browser, live_url) -> None:  # type: ignore[no-untyped-def]
    w = _world()
    crew_pid = f"u{w['paramedic'].pk}"
    phone_ctx = browser.new_context(**PHONE)
    phone = phone_ctx.new_page()
    phone.set_default_timeout(90_000)
    _sign_in(phone, live_url, w["paramedic"].username)
    # 360 lines at 15 fps keep two encoders and a relay within a small CI machine;
    # the stamp takes the frame's corner as at 720p.
    phone.goto(f"{live_url}/emergency/crew/?video=360&fps=15")
    phone.wait_for_selector(
        "#f-destination option[value='%d']" % w["hospital"].pk, state="attached"
    )
    phone.tap("#cat-buttons button[data-value=stroke]")
    phone.fill("#f-age", "71")
    phone.tap("#open-case")
    phone.wait_for_url(re.compile(r".*/emergency/crew/[0-9a-f-]{36}/\?video=360"))
    case_id = phone.evaluate("window.__crew.caseId")
    room_id = str(EmergencyCase.objects.get(pk=case_id).room_id)

    # One big target starts the rear camera; the phone says when it is live.
    toggle = phone.locator("#video-toggle")
    assert toggle.bounding_box()["height"] >= 56
    phone.wait_for_function("!document.getElementById('video-toggle').disabled")
    toggle.tap()
    phone.wait_for_selector("#video-toggle[aria-pressed=true]")
    phone.wait_for_selector("#video-status[data-status=live]", timeout=VIDEO_TIMEOUT)
    assert phone.evaluate("window.__crew.video.roomId") == room_id
    assert phone.evaluate("window.__crew.video.media.sources[0].stamped")
    # The monitor streams too: video and vitals share the phone's uplink.
    phone.tap("#device-toggle")

    # The operator opens the case: the crew's camera plays in the panel.
    board_ctx = browser.new_context(**DESKTOP)
    board = board_ctx.new_page()
    board.set_default_timeout(90_000)
    _sign_in(board, live_url, w["operator"].username)
    board.goto(f"{live_url}/emergency/board/")
    board.locator(f".board-case[data-case='{case_id}'] button").click()
    board.wait_for_function(
        f"({BOARD_FRAMES_JS})('{crew_pid}') > 5", timeout=VIDEO_TIMEOUT
    )
    first = board.evaluate(BOARD_DECODED_JS)
    frames = board.evaluate(BOARD_FRAMES_JS, crew_pid)
    board.wait_for_timeout(3000)
    later = board.evaluate(BOARD_DECODED_JS)
    assert first["w"] > 0 and later["n"] > first["n"], (first, later)
    assert board.evaluate(BOARD_FRAMES_JS, crew_pid) > frames
    # The glass-to-glass figure read from the phone's stamps, as on room tiles.
    board.wait_for_function(
        "/^\\d+ ms$/.test((document.querySelector('#p-video-grid .tile-latency')"
        " || {}).textContent || '')",
        timeout=VIDEO_TIMEOUT,
    )
    assert board.locator("#p-video-status").inner_text() == "Live"

    # The operator talks back: the phone receives the hospital's audio.
    board.click("#p-talk")
    board.wait_for_function("window.__board.video.talking")
    phone.wait_for_function(
        "window.__crew.video.media.audios.size > 0", timeout=VIDEO_TIMEOUT
    )
    board.click("#p-talk")
    board.wait_for_function("window.__board.stats.samples > 1000", timeout=30_000)
    _screenshot(board, "ems-board-video")

    # The phone's room socket drops: it reconnects and the picture resumes.
    phone.evaluate(
        "() => { const s = window.__crew.video.socket; s.attempt = 2; s.ws.close(); }"
    )
    phone.wait_for_function(
        "window.__crew.video.socket.opened >= 2", timeout=VIDEO_TIMEOUT
    )
    phone.wait_for_selector("#video-status[data-status=live]", timeout=VIDEO_TIMEOUT)
    board.evaluate("window.__board.video.media.tiles.forEach((t) => { t.frames = 0; })")
    board.wait_for_function(
        f"({BOARD_FRAMES_JS})('{crew_pid}') > 10", timeout=VIDEO_TIMEOUT
    )

    # The same paramedic sends from a second phone: the first lets go of its
    # camera and offers to send again, which takes the video back.
    spare_ctx = browser.new_context(**PHONE)
    spare = spare_ctx.new_page()
    spare.set_default_timeout(90_000)
    _sign_in(spare, live_url, w["paramedic"].username)
    spare.goto(f"{live_url}/emergency/crew/{case_id}/?video=360&fps=15")
    spare.wait_for_function("!document.getElementById('video-toggle').disabled")
    spare.tap("#video-toggle")
    spare.wait_for_selector("#video-status[data-status=live]", timeout=VIDEO_TIMEOUT)
    phone.wait_for_selector("#video-status[data-status=elsewhere]")
    assert phone.evaluate("window.__crew.video.media.sources.length") == 0
    IMG.mkdir(parents=True, exist_ok=True)
    phone.locator("#video-box").screenshot(path=str(IMG / "ems-crew-elsewhere.png"))
    phone.tap("#video-here")
    phone.wait_for_selector("#video-status[data-status=live]", timeout=VIDEO_TIMEOUT)
    spare.wait_for_selector("#video-status[data-status=elsewhere]")
    spare_ctx.close()
    board.evaluate("window.__board.video.media.tiles.forEach((t) => { t.frames = 0; })")
    try:
        board.wait_for_function(
            f"({BOARD_FRAMES_JS})('{crew_pid}') > 10", timeout=VIDEO_TIMEOUT
        )
    except Exception:
        # What each side's media held when the picture did not come back.
        print("BOARD MEDIA", board.evaluate(MEDIA_STATE_JS, "__board"))
        print("PHONE MEDIA", phone.evaluate(MEDIA_STATE_JS, "__crew"))
        raise

    # Closing the case detail leaves the room: the crew sees the operator go.
    operator_pid = f"u{w['operator'].pk}"
    phone.wait_for_function(
        f"(window.__crew.video.people.get('{operator_pid}') || {{}}).present === true"
    )
    board.click("#p-close")
    board.wait_for_function("window.__board.video === null")
    assert board.locator("#p-video-grid .tile").count() == 0
    phone.wait_for_function(
        f"window.__crew.video.people.get('{operator_pid}').present === false"
    )
    phone_ctx.close()
    board_ctx.close()
