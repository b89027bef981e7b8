// The crew's live video to the hospital: the case's room, through the media worker.
// 720p from the rear camera, capped for a cellular uplink shared with the vitals:
// a moving ambulance's LTE uplink often holds 2–5 Mbit/s, so 1.5 Mbit/s leaves room.

import { LiveVideo, videoConstraints } from "../room/live.js";
import { $, ACTIVE, showError, state } from "./state.js";

const VIDEO_STATUS = {
  connecting: ["Connecting video…", "pill-wait"],
  live: ["Video live", "pill-ok"],
  reconnecting: ["Video reconnecting…", "pill-bad"],
  ended: ["Video ended", "pill-bad"],
  refused: ["Video not allowed", "pill-bad"],
  elsewhere: ["Video open on another screen", "pill-wait"],
};

function cellularBitrate(height) {
  return height <= 360 ? 500_000 : height <= 720 ? 1_500_000 : 2_500_000;
}

export function renderVideo() {
  const summary = state.summary;
  const toggle = $("video-toggle");
  const possible = Boolean(summary && summary.video_room && ACTIVE.includes(summary.status));
  const on = Boolean(state.video);
  toggle.disabled = !possible && !on;
  toggle.setAttribute("aria-pressed", String(on));
  const ended = summary && summary.video_room && !ACTIVE.includes(summary.status);
  const elsewhere = on && state.video.status === "elsewhere";
  toggle.textContent = elsewhere ? "Video from another screen — tap to close here"
    : on ? "Video on — tap to stop" : possible ? "Video to hospital" : ended ? "Video ended" : "Video not available";
  $("video-live").hidden = !on;
  if (on) {
    const [text, cls] = VIDEO_STATUS[state.video.status] || VIDEO_STATUS.connecting;
    const status = $("video-status");
    status.textContent = text;
    status.className = "ems-pill " + cls;
    status.dataset.status = state.video.status;
    $("video-here").hidden = state.video.status !== "elsewhere";
    const mic = $("video-mic");
    mic.setAttribute("aria-pressed", String(state.video.media.audioOn));
    mic.textContent = state.video.media.audioOn ? "Mic on" : "Mic off";
    mic.disabled = !state.video.media.mic;
  }
}

export function startVideo(persist = true) {
  const summary = state.summary;
  if (state.video || !summary || !summary.video_room || !ACTIVE.includes(summary.status)) return;
  const video = new LiveVideo({
    roomId: summary.video_room,
    grid: $("video-grid"),
    audioBox: $("video-audio"),
    capture: {
      audio: { echoCancellation: true, noiseSuppression: true },
      video: videoConstraints({ facingMode: { ideal: "environment" } }, 720),
    },
    maxBitrate: cellularBitrate,
  });
  state.video = video;
  video.addEventListener("status", (e) => {
    // The room ended (handover, closed) or refuses this phone: release the camera.
    if (e.detail === "ended" || e.detail === "refused") {
      if (e.detail === "refused") showError(new Error("The hospital refused the video. Sign in again."));
      stopVideo();
      return;
    }
    renderVideo();
  });
  video.media.addEventListener("local", () => renderVideo());
  video.addEventListener("notice", (e) => showError(new Error(e.detail)));
  video.addEventListener("needsound", () => { $("video-sound").hidden = false; });
  video.start();
  if (persist) localStorage.setItem(`ems.video.${state.caseId}`, "1");
  renderVideo();
}

export function stopVideo() {
  if (!state.video) return;
  state.video.close();
  state.video = null;
  localStorage.removeItem(`ems.video.${state.caseId}`);
  renderVideo();
}

/** The video buttons: on/off, the phone's microphone, sound the browser held back. */
export function wireVideo() {
  $("video-toggle").addEventListener("click", () => (state.video ? stopVideo() : startVideo()));
  $("video-here").addEventListener("click", () => { if (state.video) state.video.resume(); });
  $("video-mic").addEventListener("click", () => { if (state.video) state.video.media.setMic(!state.video.media.audioOn); });
  $("video-sound").addEventListener("click", () => {
    for (const a of document.querySelectorAll("#video-audio audio")) a.play().catch(() => {});
    $("video-sound").hidden = true;
  });
}
