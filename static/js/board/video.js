// The command board's live video of the opened case (its room, through the media
// worker): the crew's camera and microphone; the board watches and may talk back.

import { setText } from "../ems.js";
import { LiveVideo } from "../room/live.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = ["opened", "en_route", "accepted", "arrived"];
const VIDEO_STATUS = {
  connecting: ["Connecting…", "pill-wait"],
  live: ["Live", "pill-ok"],
  reconnecting: ["Reconnecting…", "pill-bad"],
  ended: ["Video ended", "pill-bad"],
  refused: ["Video is for the receiving team", "pill-bad"],
  elsewhere: ["Open on another screen", "pill-wait"],
};

export class CaseVideo {
  /** focused: () => the opened case's summary (or null); showError: (Error) => void. */
  constructor({ focused, showError }) {
    this.focused = focused;
    this.showError = showError;
    this.current = null; // {roomId, live: LiveVideo, updatedAt} of the opened case
  }

  /** The opened case's LiveVideo, or null. */
  get live() { return this.current ? this.current.live : null; }

  render() {
    const c = this.focused();
    const video = this.current;
    const box = $("p-video");
    box.hidden = !c || !c.video_room;
    if (box.hidden) return;
    const status = video ? video.live.status : ACTIVE.includes(c.status) ? "connecting" : "ended";
    const [text, cls] = VIDEO_STATUS[status] || VIDEO_STATUS.connecting;
    const pill = $("p-video-status");
    pill.textContent = text;
    pill.className = "ems-pill " + cls;
    pill.dataset.status = status;
    const tiles = video ? video.live.media.tiles.size : 0;
    $("p-video-wait").hidden = tiles > 0;
    setText("p-video-wait", status === "live" || status === "connecting" ? "Waiting for the crew's camera…" : text);
    const talk = $("p-talk");
    talk.disabled = !video || status !== "live";
    const talking = Boolean(video && video.live.talking);
    talk.setAttribute("aria-pressed", String(talking));
    talk.textContent = talking ? "Talking — tap to stop" : "Talk to crew";
    $("p-watch-here").hidden = status !== "elsewhere";
  }

  /** Enter the opened case's room while it is under way; leave it otherwise. */
  sync() {
    const c = this.focused();
    const want = c && c.video_room && ACTIVE.includes(c.status) ? c.video_room : null;
    // Refused (no care relationship yet): try again once the case changes, e.g. on
    // acceptance into this user's department or a team activation.
    const retry = this.current && this.current.live.status === "refused" && c && c.updated_at !== this.current.updatedAt;
    if (this.current && this.current.roomId === want && !retry) return;
    if (this.current) {
      this.current.live.close();
      this.current = null;
      $("p-sound").hidden = true;
    }
    if (want) {
      const live = new LiveVideo({ roomId: want, grid: $("p-video-grid"), audioBox: $("p-video-audio") });
      this.current = { roomId: want, live, updatedAt: c.updated_at };
      live.addEventListener("status", () => this.render());
      live.addEventListener("notice", (e) => this.showError(new Error(e.detail)));
      live.addEventListener("needsound", () => { $("p-sound").hidden = false; });
      live.media.addEventListener("local", () => this.render());
      live.start();
    }
    this.render();
  }

  /** The talk and sound buttons; tiles come and go with the crew's camera. */
  wire() {
    new MutationObserver(() => this.render()).observe($("p-video-grid"), { childList: true });
    $("p-talk").addEventListener("click", async () => {
      if (!this.current) return;
      try { await this.current.live.talk(!this.current.live.talking); } catch (_) { this.showError(new Error("The microphone could not be opened.")); }
      this.render();
    });
    $("p-watch-here").addEventListener("click", () => { if (this.current) this.current.live.resume(); });
    $("p-sound").addEventListener("click", () => {
      for (const a of document.querySelectorAll("#p-video-audio audio")) a.play().catch(() => {});
      $("p-sound").hidden = true;
    });
  }
}
