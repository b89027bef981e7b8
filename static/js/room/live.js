// One live picture inside another page (the ambulance phone, the command board):
// the room socket, clock offset, presence, publish / subscribe through the media worker,
// stamps and the glass-to-glass figure on each tile. No chat and no host tools: those
// belong to the room page (main.js), which wires the same modules with them.
//
// Events (EventTarget): "status" (detail: connecting | live | reconnecting | ended |
// refused | elsewhere: the same person opened this room on another screen; resume()
// takes it back), "notice" (detail: text), "needsound" (an <audio> could not autoplay).
import { ClockOffset } from "./clock.js";
import { Media, videoConstraints } from "./media.js";
import { People } from "./people.js";
import { Quality } from "./quality.js";
import { RoomSocket } from "./socket.js";
import { uuid4 } from "./util.js";

export { videoConstraints };

const PING_MS = 5000;
const SILENT_MS = 15000;
const CYCLE_MIN_MS = 10000;

export class LiveVideo extends EventTarget {
  /**
   * roomId: the room to enter; grid: where video tiles go; audioBox: a hidden box for
   * <audio>; capture: {audio, video} getUserMedia constraints to publish, or null to
   * watch only (a watcher may still talk()); maxBitrate: (height) => bit/s sent.
   */
  constructor({ roomId, grid, audioBox, capture = null, maxBitrate = undefined }) {
    super();
    this.roomId = roomId;
    this.capture = capture;
    this.session = uuid4();
    this.status = "connecting";
    this.welcome = null;
    this.endedByRoom = false;
    this.closed = false;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.socket = new RoomSocket(`${scheme}://${location.host}/ws/rooms/${roomId}/`);
    this.clock = new ClockOffset(16);
    // People keeps presence and clock offsets (the latency needs the sender's); its list is not shown.
    this.people = new People({ list: document.createElement("ul"), count: null, isHost: () => false, hostAction: () => {} });
    const send = (msg) => this.socket.send(msg);
    const me = () => ({ participant: this.welcome ? this.welcome.participant : null, label: this.welcome ? this.welcome.label : "" });
    this.media = new Media({
      grid, audioBox, send, me, people: this.people, maxBitrate,
      clock: () => { const e = this.clock.estimate(); return e ? e.offset : null; },
    });
    this.quality = new Quality({ list: document.createElement("div"), media: this.media, people: this.people, send, session: this.session, me });
    this.lastPong = Date.now();
    this.lastCycle = 0;
    this.stateSentAt = 0;
    this.stateTimer = null;
    this.announcedOffset = null;
    this.pubState = "new";
    this.timers = [setInterval(() => this.heartbeat(), PING_MS)];
    this.wire();
  }

  /** Open the camera (when publishing) and enter the room; reconnects by itself. */
  start() {
    this.mediaReady = this.capture ? this.media.start(this.capture) : Promise.resolve();
    this.socket.connect();
    return this.mediaReady;
  }

  /** Leave: close the socket and the peers, release the camera and microphone. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.socket.stop();
    clearTimeout(this.stateTimer);
    for (const t of this.timers) clearInterval(t);
    this.quality.destroy();
    this.media.destroy();
    this.people.destroy();
  }

  /** Take the room back from another window or device (after "elsewhere"). */
  resume() {
    if (this.closed || this.status !== "elsewhere") return;
    this.setStatus("connecting");
    if (this.capture) this.mediaReady = this.media.start(this.capture);
    this.socket.resume();
  }

  /** A watcher talks back (audio only) or stops; the first time asks for the microphone. */
  async talk(on) {
    if (on) await this.media.enableMic();
    else this.media.setMic(false);
    this.sendState();
  }

  get talking() { return this.media.audioOn; }

  /** Decoded frames per remote participant (requestVideoFrameCallback counts). */
  framesByParticipant() {
    const out = {};
    for (const tile of this.media.tiles.values()) out[tile.dataset.participant] = (out[tile.dataset.participant] || 0) + tile.frames;
    return out;
  }

  // -- internals ------------------------------------------------------------------

  setStatus(status) {
    if (this.status === status || this.closed) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: status }));
  }

  /** Live once the socket is open and, when publishing, the camera's connection is up. */
  refreshStatus() {
    if (!this.socket.open) return;
    if (!this.capture) { this.setStatus("live"); return; }
    if (this.pubState === "connected") this.setStatus("live");
    else if (this.pubState === "disconnected" || this.pubState === "failed") this.setStatus("reconnecting");
    else this.setStatus("connecting");
  }

  notice(text) { this.dispatchEvent(new CustomEvent("notice", { detail: text })); }

  /** Presence with this browser's clock offset (the receivers' latency needs it), at most 1/s. */
  sendState() {
    if (!this.welcome || this.closed) return;
    const wait = 1000 - (Date.now() - this.stateSentAt);
    if (wait > 0) {
      if (!this.stateTimer) this.stateTimer = setTimeout(() => { this.stateTimer = null; this.sendState(); }, wait);
      return;
    }
    this.stateSentAt = Date.now();
    const est = this.clock.estimate();
    const offset = est ? Math.round(est.offset * 10) / 10 : null;
    this.announcedOffset = offset;
    const state = { audio: this.media.audioOn, video: this.media.videoOn, sources: this.media.sourceLabels(), clock_offset_ms: offset };
    this.socket.send({ type: "state", ...state });
    this.people.upsert({ participant: this.welcome.participant, ...state });
  }

  ping() { this.socket.send({ type: "clock.ping", t0: Date.now() }); }

  heartbeat() {
    if (!this.socket.open) return;
    this.ping();
    if (Date.now() - this.lastPong > SILENT_MS) this.socket.kick();
  }

  cycle(why) {
    // The worker cannot restart ICE: a new socket publishes and subscribes afresh.
    if (Date.now() - this.lastCycle < CYCLE_MIN_MS) return;
    this.lastCycle = Date.now();
    console.info(`live video: ${why}, reconnecting`);
    this.socket.kick();
  }

  wire() {
    const { socket, media } = this;
    media.addEventListener("notice", (e) => this.notice(e.detail));
    media.addEventListener("needsound", () => this.dispatchEvent(new Event("needsound")));
    media.addEventListener("failed", (e) => this.cycle(`the ${e.detail} connection failed`));
    media.addEventListener("local", () => this.sendState());
    media.addEventListener("connection", (e) => {
      if (e.detail.pc === "pub") { this.pubState = e.detail.state; this.refreshStatus(); }
    });
    this.people.addEventListener("change", () => media.refreshLabels());

    socket.addEventListener("open", (e) => {
      if (e.detail.reconnect) this.people.rollCall();
      this.stateSentAt = 0;
      this.clock.reset();
      this.lastPong = Date.now();
      this.pubState = "new";
      for (let i = 0; i < 5; i += 1) setTimeout(() => this.ping(), i * 150);
      this.refreshStatus();
    });
    socket.addEventListener("down", () => {
      media.closePeers();
      this.setStatus("reconnecting");
    });
    socket.addEventListener("superseded", () => {
      // The other screen sends now: this one lets go of the camera and microphone.
      media.closePeers();
      media.releaseCapture();
      this.setStatus("elsewhere");
    });
    socket.addEventListener("refused", () => {
      media.closePeers();
      // Refused after a welcome: the room ended (handover) or this user lost the case.
      this.setStatus(this.welcome || this.endedByRoom ? "ended" : "refused");
    });
    socket.addEventListener("message", (event) => this.onMessage(event.detail));
  }

  async onWelcome(msg) {
    this.welcome = msg;
    this.people.setSelf(msg, { audio: this.media.audioOn, video: this.media.videoOn, sources: this.media.sourceLabels() });
    this.media.setIceServers(msg.ice_servers);
    await this.mediaReady;
    if (this.closed) return;
    this.sendState();
    await this.media.publish();
  }

  onPong(msg) {
    this.lastPong = Date.now();
    const est = this.clock.add(msg.t0, msg.server_ms, Date.now());
    if (est && (this.announcedOffset === null || Math.abs(est.offset - this.announcedOffset) > 5)) this.sendState();
  }

  onMessage(msg) {
    const { media } = this;
    switch (msg.type) {
      case "welcome": this.onWelcome(msg); break;
      case "presence": this.people.onPresence(msg); media.refreshLabels(); break;
      case "resync": this.people.rollCall(); break;  // the server's channel layer came back
      case "clock.pong": this.onPong(msg); break;
      case "quality": this.quality.onRemote(msg); this.people.seen(msg.participant); break;
      case "host": if (msg.action === "end") this.endedByRoom = true; break;
      case "media.tracks": media.onTracks(msg.tracks); break;
      case "media.answer": media.onAnswer(msg).catch((err) => this.notice(`Video: ${err.name}`)); break;
      case "media.offer": media.onSubOffer(msg).catch((err) => this.notice(`Video: ${err.name}`)); break;
      case "media.renegotiate": media.publish(); break;
      case "error":
        if (msg.for === "media.subscribe") media.onSubscribeError();
        else if (msg.code === "media_unavailable" || msg.code === "worker_overloaded") {
          this.notice("Video is not available right now; retrying…");
          setTimeout(() => { if (!this.closed && this.socket.open) media.publish(); }, 3000 + Math.random() * 3000);
        } else if (msg.code === "publish_not_allowed") this.notice(msg.detail);
        break;
      default: break;
    }
  }
}
