// Cameras, microphone and extra sources; the publish and subscribe peer connections
// with the room's media worker; a tile per remote video track; stamps and latency.
import { drawStamp, readRegion, readStampTolerant, stampGeometry } from "./stamp.js";
import { button, el, median } from "./util.js";

const LATENCY_WINDOW_MS = 5000;
const READ_EVERY_MS = 100;
const PUB_ANSWER_TIMEOUT_MS = 10000;
// A peer connection not connected for this long is treated as failed. Chrome does not
// always reach "failed" (a worker that closed its side can leave it "disconnected").
const STALL_MS = 20000;
// A track asked for and not offered by then: the subscription is stuck (an offer
// or an answer went missing around a reconnect); a new socket subscribes afresh.
const ASKED_MS = 15000;

function maxHeightWanted(fallback) {
  const q = Number(new URLSearchParams(location.search).get("video"));
  return Number.isFinite(q) && q >= 120 && q <= 2160 ? q : fallback;
}

// ``?video=<max height>&fps=<max rate>`` caps what is asked of the camera (slow links, tests).
function maxFps() {
  const q = Number(new URLSearchParams(location.search).get("fps"));
  return Number.isFinite(q) && q >= 1 && q <= 60 ? q : null;
}

/** Camera constraints up to ``height`` lines (default 4K), capped by ``?video`` and ``?fps``. */
export function videoConstraints(extra = {}, height = 2160) {
  const h = maxHeightWanted(height);
  const fps = maxFps();
  const frameRate = fps ? { ideal: fps, max: fps } : { ideal: 30 };
  if (h >= 2160) return { width: { ideal: 3840 }, height: { ideal: 2160 }, frameRate, ...extra };
  const w = Math.round((h * 16) / 9);
  return { width: { ideal: w, max: w }, height: { ideal: h, max: h }, frameRate, ...extra };
}

/** H.264 first (packetization-mode 1, constrained baseline first), then VP8, then the rest. */
function preferCodecs(transceiver) {
  const rank = (c) => {
    const mime = c.mimeType.toLowerCase();
    const fmtp = c.sdpFmtpLine || "";
    if (mime === "video/h264") {
      let r = 0;
      if (!fmtp.includes("packetization-mode=1")) r += 2;
      if (!/profile-level-id=42e0/.test(fmtp)) r += 1;
      return r;
    }
    if (mime === "video/vp8") return 10;
    if (/rtx|red|ulpfec|flexfec/.test(mime)) return 30;
    return 20;
  };
  for (const caps of [RTCRtpReceiver.getCapabilities("video"), RTCRtpSender.getCapabilities("video")]) {
    if (!caps || !transceiver.setCodecPreferences) return;
    const codecs = [...caps.codecs].sort((a, b) => rank(a) - rank(b));
    try { transceiver.setCodecPreferences(codecs); return; } catch (_) { /* try the other list */ }
  }
}

function maxBitrateFor(height) {
  return height <= 360 ? 900_000 : height <= 720 ? 2_500_000 : height <= 1080 ? 5_000_000 : 14_000_000;
}

/** Stamp each frame of ``track`` in a worker; returns {track, stop} or null when unsupported. */
function stampedTrack(track) {
  if (!("MediaStreamTrackProcessor" in window) || !("MediaStreamTrackGenerator" in window) || !("VideoFrame" in window)) return null;
  try {
    const processor = new MediaStreamTrackProcessor({ track });
    const generator = new MediaStreamTrackGenerator({ kind: "video" });
    let worker = null;
    try {
      worker = new Worker(new URL("./stamp_worker.js", import.meta.url), { type: "module" });
      worker.postMessage({ readable: processor.readable, writable: generator.writable }, [processor.readable, generator.writable]);
    } catch (_) {
      // No transferable streams: stamp on this thread.
      if (worker) worker.terminate();
      worker = null;
      let canvas = null; let ctx = null;
      const stamper = new TransformStream({
        transform(frame, controller) {
          const w = frame.displayWidth; const h = frame.displayHeight;
          if (!canvas || canvas.width !== w || canvas.height !== h) { canvas = new OffscreenCanvas(w, h); ctx = canvas.getContext("2d", { alpha: false }); }
          ctx.drawImage(frame, 0, 0, w, h);
          drawStamp(ctx, w, h, Date.now());
          const out = new VideoFrame(canvas, { timestamp: frame.timestamp });
          frame.close();
          controller.enqueue(out);
        },
      });
      processor.readable.pipeThrough(stamper).pipeTo(generator.writable).catch(() => {});
    }
    return { track: generator, stop: () => { generator.stop(); track.stop(); if (worker) worker.terminate(); } };
  } catch (_) {
    return null;
  }
}

let sourceIds = 0;

export class Media extends EventTarget {
  // ``maxBitrate(height)`` caps the sent video (bit/s); the default suits wired rooms.
  constructor({ grid, audioBox, send, me, people, clock, maxBitrate = maxBitrateFor }) {
    super();
    this.maxBitrate = maxBitrate;
    this.grid = grid;
    this.audioBox = audioBox;
    this.send = send;            // (msg) => bool
    this.me = me;                // () => {participant, label}
    this.people = people;
    this.clock = clock;          // () => own offset ms or null
    this.iceServers = [];
    this.mic = null;             // the microphone track
    this.micStream = null;
    this.sources = [];           // local video sources
    this.pub = null; this.pubBusy = false; this.pubAgain = false; this.pubTimer = null;
    this.sub = null;
    this.trackInfo = new Map();  // track id → {track, participant, kind, codec, label}
    this.subscribed = new Set(); // track ids asked for
    this.pending = new Map();    // track id → when asked for, until an offer gives it a mid (FIFO)
    this.midToTrack = new Map();
    this.tiles = new Map();      // track id → tile (remote video)
    this.audios = new Map();     // track id → <audio>
    this.selfTiles = new Map();  // source id → tile
    this.level = 0;
    this.stampingSupported = "MediaStreamTrackProcessor" in window && "MediaStreamTrackGenerator" in window;
    this.newSamples = [];        // g2g samples since the last quality report
    this.audioCtx = null;
    this.stallMs = STALL_MS;     // doubles while connections never come up
    this.timers = [setInterval(() => this.unstick(), 4000)];
  }

  /** Stop everything: peers, camera, microphone, tiles, timers (the page keeps going). */
  destroy() {
    this.closePeers();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.releaseCapture();
    for (const id of [...this.tiles.keys()]) this.dropTile(id);
    for (const id of [...this.audios.keys()]) this.dropAudio(id);
    if (this.audioCtx) this.audioCtx.close().catch(() => {});
  }

  /** A connection that stays down counts as failed; a subscribed tile without frames
   *  gets a keyframe request, then a fresh subscription. */
  unstick() {
    const now = performance.now();
    for (const [name, pc] of [["pub", this.pub], ["sub", this.sub]]) {
      if (pc && pc.downSince !== null && now - pc.downSince > this.stallMs) {
        pc.downSince = now;  // at most once a window; the page cycles the socket
        // No path at all (no TURN, say): back off rather than cycle the room every 20 s.
        this.stallMs = Math.min(this.stallMs * 2, 8 * STALL_MS);
        this.dispatchEvent(new CustomEvent("failed", { detail: name }));
      }
    }
    const late = [...this.pending.values()].filter((at) => now - at > ASKED_MS).length;
    if (late) {
      console.warn(`media: ${late} track(s) asked for were never offered; reconnecting`);
      // Re-armed, not dropped: if this reconnect is skipped (one at most every 10 s),
      // the next check asks again. A new socket clears them (closePeers).
      for (const id of this.pending.keys()) this.pending.set(id, now);
      this.dispatchEvent(new CustomEvent("failed", { detail: "sub" }));
      return;
    }
    if (!this.sub || this.sub.connectionState !== "connected") return;
    const again = [];
    for (const [id, tile] of this.tiles) {
      if (!this.subscribed.has(id) || this.pending.has(id)) continue;
      const idle = now - (tile.lastFrameAt || tile.createdAt || now);
      if (idle < 8000) { tile.stuck = 0; continue; }
      tile.stuck = (tile.stuck || 0) + 1;
      if (tile.stuck === 1) this.send({ type: "media.keyframe", track: id });
      else if (tile.stuck >= 3) { tile.stuck = 0; tile.lastFrameAt = now; again.push(id); }
    }
    if (!again.length) return;
    for (const id of again) this.subscribed.delete(id);
    this.send({ type: "media.unsubscribe", tracks: again });
    this.onTracks([...this.trackInfo.values()]);
  }

  // -- local sources ----------------------------------------------------------

  /** Open the microphone and the camera; ``audio``/``video`` are getUserMedia
   *  constraints (``false`` leaves one out). Falls back to either one alone. */
  async start({ audio: mic = { echoCancellation: true, noiseSuppression: true }, video: cam = videoConstraints() } = {}) {
    let stream = null;
    const errors = [];
    const tries = [];
    for (const c of [{ audio: mic, video: cam }, { audio: false, video: cam }, { audio: mic, video: false }]) {
      if ((c.audio || c.video) && !tries.some((t) => t.audio === c.audio && t.video === c.video)) tries.push(c);
    }
    for (const constraints of tries) {
      try { stream = await navigator.mediaDevices.getUserMedia(constraints); break; } catch (err) { errors.push(err.name); }
    }
    if (!stream) {
      this.dispatchEvent(new CustomEvent("notice", { detail: "No camera or microphone could be opened: check your browser's permissions." }));
      return;
    }
    const audio = stream.getAudioTracks()[0];
    if (audio) { this.mic = audio; this.micStream = new MediaStream([audio]); this.meter(audio); }
    const video = stream.getVideoTracks()[0];
    if (video) this.addSource(video, "Camera", "camera");
  }

  /** Release the camera, extra sources and microphone (start() opens them again). */
  releaseCapture() {
    for (const s of [...this.sources]) this.removeSource(s);
    if (this.mic) { this.mic.stop(); this.mic = null; this.micStream = null; }
    this.dispatchEvent(new Event("local"));
  }

  addSource(track, label, kind) {
    sourceIds += 1;
    track.contentHint = kind === "screen" ? "detail" : "motion";
    const stamped = stampedTrack(track);
    const src = {
      id: `s${sourceIds}`, label, kind, raw: track,
      send: stamped ? stamped.track : track, stop: stamped ? stamped.stop : () => track.stop(),
      stamped: Boolean(stamped), transceiver: null, stream: null,
    };
    src.stream = new MediaStream([src.send]);
    this.sources.push(src);
    track.addEventListener("ended", () => this.removeSource(src));
    this.renderSelf(src);
    if (this.pub) this.addToPub(src).then(() => this.offerPub());
    this.dispatchEvent(new Event("local"));
    return src;
  }

  removeSource(src) {
    const i = this.sources.indexOf(src);
    if (i < 0) return;
    this.sources.splice(i, 1);
    src.stop();
    const tile = this.selfTiles.get(src.id);
    if (tile) { tile.remove(); this.selfTiles.delete(src.id); }
    if (src.transceiver && this.pub) {
      try { src.transceiver.stop(); } catch (_) { /* closed */ }
      this.offerPub();
    }
    this.layout();
    this.dispatchEvent(new Event("local"));
  }

  async addCamera() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const used = new Set(this.sources.filter((s) => s.kind === "camera").map((s) => s.raw.getSettings().deviceId));
    const free = devices.filter((d) => d.kind === "videoinput" && !used.has(d.deviceId));
    if (!free.length) throw new Error("No other camera was found.");
    const stream = await navigator.mediaDevices.getUserMedia({ video: videoConstraints({ deviceId: { exact: free[0].deviceId } }) });
    const n = this.sources.filter((s) => s.kind === "camera").length + 1;
    return this.addSource(stream.getVideoTracks()[0], `Camera ${n}`, "camera");
  }

  async addScreen() {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    return this.addSource(stream.getVideoTracks()[0], "Screen", "screen");
  }

  get audioOn() { return Boolean(this.mic && this.mic.enabled); }
  get videoOn() { const cam = this.sources.find((s) => s.kind === "camera"); return Boolean(cam && cam.raw.enabled); }

  setMic(on) { if (this.mic) this.mic.enabled = on; this.dispatchEvent(new Event("local")); }

  /** Open the microphone now (a watcher who starts talking) and send it. */
  async enableMic() {
    if (!this.mic) {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true }, video: false });
      this.mic = stream.getAudioTracks()[0];
      this.micStream = new MediaStream([this.mic]);
      this.meter(this.mic);
      if (this.pub) {
        this.pub.addTransceiver(this.mic, { direction: "sendonly", streams: [this.micStream] });
        this.offerPub();
      }
    }
    this.setMic(true);
  }

  setCamera(on) {
    for (const s of this.sources.filter((x) => x.kind === "camera")) { s.raw.enabled = on; s.send.enabled = on; }
    for (const [id, tile] of this.selfTiles) {
      const src = this.sources.find((s) => s.id === id);
      if (src && src.kind === "camera") tile.classList.toggle("camera-off", !on);
    }
    this.dispatchEvent(new Event("local"));
  }

  /** ``state.sources``: "<mid>:<label>" per live video source once negotiated. */
  sourceLabels() {
    return this.sources.map((s) => (s.transceiver && s.transceiver.mid !== null ? `${s.transceiver.mid}:${s.label}` : s.label)).slice(0, 8);
  }

  meter(track) {
    try {
      const ctx = new AudioContext();
      this.audioCtx = ctx;
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 512;
      ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
      const data = new Float32Array(analyser.fftSize);
      const resume = () => { if (ctx.state === "suspended") ctx.resume(); };
      document.addEventListener("click", resume, { once: true });
      this.timers.push(setInterval(() => {
        analyser.getFloatTimeDomainData(data);
        let sum = 0;
        for (const v of data) sum += v * v;
        const rms = Math.sqrt(sum / data.length);
        this.level = track.enabled ? Math.min(1, rms * 4) : 0;
      }, 100));
    } catch (_) { /* no WebAudio */ }
  }

  // -- publish ------------------------------------------------------------------

  setIceServers(servers) { this.iceServers = Array.isArray(servers) ? servers : []; }

  closePeers() {
    clearTimeout(this.pubTimer);
    for (const pc of [this.pub, this.sub]) if (pc) pc.close();
    this.pub = null; this.sub = null;
    this.pubBusy = false; this.pubAgain = false;
    for (const s of this.sources) s.transceiver = null;
    this.subscribed.clear(); this.pending.clear(); this.midToTrack.clear();
    for (const tile of this.tiles.values()) tile.classList.add("stalled");
  }

  /** A new connection to the worker, ``name`` "pub" or "sub": its ICE candidates go
   *  out while it is that connection, and its state is watched (``watch``). */
  newPeer(name) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    pc.downSince = performance.now();
    pc.addEventListener("icecandidate", (e) => {
      if (pc === this[name]) this.send({ type: "media.ice", pc: name, candidate: e.candidate ? e.candidate.toJSON() : null });
    });
    pc.addEventListener("connectionstatechange", () => this.watch(pc));
    return pc;
  }

  /** (Re)publish everything on a new ``pub`` connection (first join, reconnect, worker lost). */
  async publish() {
    this.closePeers();
    const pc = this.newPeer("pub");
    this.pub = pc;
    if (this.mic) pc.addTransceiver(this.mic, { direction: "sendonly", streams: [this.micStream] });
    for (const src of this.sources) await this.addToPub(src);
    // Nothing to send: a data channel still gets the room's track list.
    if (!this.mic && !this.sources.length) pc.createDataChannel("presence");
    await this.offerPub();
  }

  async addToPub(src) {
    if (!this.pub) return;
    src.transceiver = this.pub.addTransceiver(src.send, { direction: "sendonly", streams: [src.stream] });
    preferCodecs(src.transceiver);
  }

  /** A connection that failed (network change, lost path): start media over. The worker
   *  cannot restart ICE, so the room socket is cycled: the server then closes this
   *  participant's peers, and the new socket publishes and subscribes afresh. */
  watch(pc) {
    if (pc.connectionState === "connected") { pc.downSince = null; this.stallMs = STALL_MS; }
    else if (pc.downSince === null) pc.downSince = performance.now();
    if (pc === this.pub || pc === this.sub) {
      this.dispatchEvent(new CustomEvent("connection", { detail: { pc: pc === this.pub ? "pub" : "sub", state: pc.connectionState } }));
    }
    if ((pc === this.pub || pc === this.sub) && pc.connectionState === "failed") {
      this.dispatchEvent(new CustomEvent("failed", { detail: pc === this.pub ? "pub" : "sub" }));
    }
  }

  async offerPub(options = {}) {
    const pc = this.pub;
    if (!pc) return;
    if (this.pubBusy) { this.pubAgain = true; return; }
    this.pubBusy = true;
    try {
      const offer = await pc.createOffer(options);
      await pc.setLocalDescription(offer);
      this.send({ type: "media.offer", pc: "pub", sdp: pc.localDescription.sdp });
      clearTimeout(this.pubTimer);
      this.pubTimer = setTimeout(() => { if (pc === this.pub && this.pubBusy) this.publish(); }, PUB_ANSWER_TIMEOUT_MS);
    } catch (err) {
      this.pubBusy = false;
      this.dispatchEvent(new CustomEvent("notice", { detail: `Could not start sending video (${err.name}).` }));
    }
  }

  async onAnswer(msg) {
    const pc = this.pub;
    if (!pc || msg.pc !== "pub" || pc.signalingState !== "have-local-offer") return;
    clearTimeout(this.pubTimer);
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
    } catch (err) {
      // The worker answered on a new connection (its old one had failed): start over.
      if (pc === this.pub) this.publish();
      throw err;
    }
    this.pubBusy = false;
    for (const src of this.sources) if (src.transceiver) this.tuneSender(src);
    this.dispatchEvent(new Event("local"));
    if (this.pubAgain) { this.pubAgain = false; this.offerPub(); }
  }

  async tuneSender(src) {
    const sender = src.transceiver.sender;
    try {
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) return;
      const h = src.raw.getSettings().height || 720;
      params.encodings[0].maxBitrate = this.maxBitrate(h);
      // Stamps are read at the sent size: keep the resolution, drop frames instead.
      params.degradationPreference = "maintain-resolution";
      await sender.setParameters(params);
    } catch (_) { /* not supported here */ }
  }

  // -- subscribe ------------------------------------------------------------------

  /** The room's whole track list: subscribe to every other participant's tracks. */
  onTracks(list) {
    const me = this.me().participant;
    const live = new Set();
    this.trackInfo.clear();
    for (const t of list || []) {
      this.trackInfo.set(t.track, t);
      if (t.participant !== me) live.add(t.track);
    }
    for (const id of [...this.tiles.keys()]) if (!live.has(id)) this.dropTile(id);
    for (const id of [...this.audios.keys()]) if (!live.has(id)) this.dropAudio(id);
    // Gone tracks are unsubscribed, so the worker frees them and their m-lines go
    // inactive. Ids are never reused: a publisher who comes back has new ones.
    const gone = [...this.subscribed].filter((id) => !live.has(id));
    for (const id of gone) { this.subscribed.delete(id); this.pending.delete(id); }
    for (let i = 0; i < gone.length; i += 32) this.send({ type: "media.unsubscribe", tracks: gone.slice(i, i + 32) });
    const wanted = [...live].filter((id) => !this.subscribed.has(id));
    for (let i = 0; i < wanted.length; i += 32) {
      const chunk = wanted.slice(i, i + 32);
      for (const id of chunk) { this.subscribed.add(id); this.pending.set(id, performance.now()); }
      this.send({ type: "media.subscribe", tracks: chunk });
    }
    this.refreshLabels();
  }

  /** The worker refused a subscribe (a track went away meanwhile): ask again from the list. */
  onSubscribeError() {
    for (const id of this.pending.keys()) this.subscribed.delete(id);
    this.pending.clear();
    setTimeout(() => this.onTracks([...this.trackInfo.values()]), 500);
  }

  mapMids(msg) {
    if (msg.tracks && typeof msg.tracks === "object") {
      for (const [mid, id] of Object.entries(msg.tracks)) {
        this.midToTrack.set(mid, id);
        this.pending.delete(id);
      }
      return;
    }
    // Without the worker's {mid: track} map: new m-sections come in subscription order.
    const mids = [...msg.sdp.matchAll(/^a=mid:(\S+)/gm)].map((m) => m[1]);
    for (const mid of mids) {
      if (!this.midToTrack.has(mid) && this.pending.size) {
        const id = this.pending.keys().next().value;
        this.midToTrack.set(mid, id);
        this.pending.delete(id);
      }
    }
  }

  async onSubOffer(msg) {
    if (msg.pc !== "sub") return;
    if (msg.fresh && this.sub) {
      // The worker replaced a connection that failed: answer on a new one, and ask
      // again for the tracks the old one carried and the new one does not.
      this.sub.close();
      this.sub = null;
      this.midToTrack.clear();
      const carried = new Set(Object.values(msg.tracks || {}));
      for (const id of [...this.subscribed]) if (!carried.has(id) && !this.pending.has(id)) this.subscribed.delete(id);
      setTimeout(() => this.onTracks([...this.trackInfo.values()]), 0);
    }
    if (!this.sub) {
      const pc = this.newPeer("sub");
      this.sub = pc;
      pc.addEventListener("track", (e) => this.onRemoteTrack(e));
    }
    const pc = this.sub;
    this.mapMids(msg);
    await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.send({ type: "media.answer", pc: "sub", sdp: pc.localDescription.sdp });
  }

  onRemoteTrack(event) {
    const mid = event.transceiver.mid;
    const id = this.midToTrack.get(mid) || `mid:${mid}`;
    const info = this.trackInfo.get(id);
    if (!info) return;  // gone meanwhile; its unsubscribe is on its way
    if (event.track.kind === "audio") {
      this.dropAudio(id);
      const audio = el("audio");
      audio.autoplay = true;
      audio.srcObject = new MediaStream([event.track]);
      audio.dataset.track = id;
      this.audioBox.append(audio);
      this.audios.set(id, audio);
      audio.play().catch(() => this.dispatchEvent(new Event("needsound")));
      return;
    }
    let tile = this.tiles.get(id);
    if (!tile) tile = this.makeTile(id, info);
    tile.classList.remove("stalled");
    tile.video.srcObject = new MediaStream([event.track]);
    tile.video.play().catch(() => {});
    this.layout();
  }

  makeTile(id, info) {
    const tile = el("figure", "tile remote");
    tile.dataset.track = id;
    tile.dataset.participant = info.participant;
    const video = el("video");
    video.autoplay = true; video.playsInline = true; video.muted = true;
    const caption = el("figcaption", "tile-label");
    const name = el("span", "tile-name");
    const mic = el("span", "tile-mic", "muted");
    mic.title = "Muted";
    caption.append(name, mic);
    const lat = el("span", "tile-latency lat-none", "– ms");
    lat.title = "Glass-to-glass latency (median of the last 5 s)";
    const off = el("div", "tile-off", "Camera off");
    const mask = el("div", "stamp-mask");
    mask.title = "Latency code";
    tile.append(video, mask, off, caption, lat);
    Object.assign(tile, { video, mask, nameNode: name, latNode: lat, frames: 0, createdAt: performance.now(), samples: [], stamped: 0, unstamped: 0, closed: false });
    this.tiles.set(id, tile);
    this.grid.append(tile);
    this.startReader(tile, info);
    this.refreshLabels();
    return tile;
  }

  dropTile(id) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.closed = true;
    tile.remove();
    this.tiles.delete(id);
    this.layout();
  }

  dropAudio(id) {
    const a = this.audios.get(id);
    if (a) { a.srcObject = null; a.remove(); this.audios.delete(id); }
  }

  /** Source labels come from the publisher's ``state.sources`` ("<mid>:<label>"), matched
   *  on the ``mid`` of the worker's track entry (track ids are opaque). */
  sourceLabel(info) {
    if (info.mid === undefined || info.mid === null) return "";
    const person = this.people.get(info.participant);
    for (const s of (person && person.sources) || []) {
      const m = /^(\d+):(.*)$/.exec(s);
      if (m && m[1] === String(info.mid)) return m[2];
    }
    return "";
  }

  refreshLabels() {
    for (const [id, tile] of this.tiles) {
      const info = this.trackInfo.get(id) || { participant: tile.dataset.participant, track: id };
      tile.dataset.participant = info.participant;
      const person = this.people.get(info.participant);
      const src = this.sourceLabel(info);
      // A composite is an operation's broadcast feed: the marks and vitals burned in.
      const name = info.participant === "composite" ? "Broadcast · vitals" : person ? person.label : "Participant";
      tile.nameNode.textContent = src && src !== "Camera" ? `${name} · ${src}` : name;
      const isCamera = !src || src.startsWith("Camera");
      tile.classList.toggle("muted-mic", Boolean(person && !person.audio));
      tile.classList.toggle("camera-off", Boolean(person && !person.video && isCamera));
      tile.classList.toggle("patient", Boolean(person && person.patient));
      tile.classList.toggle("gone", Boolean(person && !person.present));
    }
  }

  setSpeaker(participant) {
    for (const tile of this.tiles.values()) tile.classList.toggle("speaking", tile.dataset.participant === participant);
  }

  // -- self view ------------------------------------------------------------------

  renderSelf(src) {
    const tile = el("figure", "tile self");
    tile.dataset.source = src.id;
    const video = el("video");
    video.autoplay = true; video.playsInline = true; video.muted = true;
    video.srcObject = new MediaStream([src.raw]);
    // A selfie camera is shown as a mirror; a rear camera (the ambulance's) as it is.
    if (src.kind === "camera" && src.raw.getSettings().facingMode !== "environment") video.classList.add("mirror");
    const caption = el("figcaption", "tile-label");
    caption.append(el("span", "tile-name", src.kind === "camera" && src.label === "Camera" ? "You" : `You · ${src.label}`));
    if (src.kind !== "camera" || src.label !== "Camera") {
      caption.append(button("Stop", "tile-stop", () => this.removeSource(src), `Stop sharing ${src.label}`));
    }
    tile.append(video, el("div", "tile-off", "Camera off"), caption);
    this.selfTiles.set(src.id, tile);
    this.grid.prepend(tile);
    this.layout();
  }

  layout() {
    const n = this.grid.querySelectorAll(".tile").length;
    this.grid.dataset.count = String(Math.min(n, 9));
    this.grid.classList.toggle("many", n > 9);
  }

  // -- latency from stamps ----------------------------------------------------------

  startReader(tile, info) {
    const video = tile.video;
    if (!video.requestVideoFrameCallback) return;
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    let last = 0;
    const onFrame = (now, meta) => {
      if (tile.closed) return;
      tile.frames += 1;
      tile.lastFrameAt = performance.now();
      if (now - last >= READ_EVERY_MS) {
        last = now;
        try { this.readTile(tile, meta, canvas, ctx); } catch (_) { /* a frame we could not read */ }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  readTile(tile, meta, canvas, ctx) {
    const w = meta.width; const h = meta.height;
    const region = readRegion(w, h);
    if (!region.width || !region.height) return;
    if (canvas.width !== region.width || canvas.height !== region.height) { canvas.width = region.width; canvas.height = region.height; }
    ctx.drawImage(tile.video, 0, 0, region.width, region.height, 0, 0, region.width, region.height);
    const px = ctx.getImageData(0, 0, region.width, region.height).data;
    const ms = readStampTolerant(px, region.width, region.height, w, h);
    if (ms === null) { tile.unstamped += 1; tile.mask.hidden = true; return; }
    tile.stamped += 1;
    tile.lastStampMs = ms;  // capture time of a recent frame (telestration ties marks to it)
    this.coverStamp(tile, w, h);
    const receive = Date.now() + ((meta.expectedDisplayTime || performance.now()) - performance.now());
    const person = this.people.get(tile.dataset.participant);
    const mine = this.clock();
    const theirs = person ? person.clock_offset_ms : null;
    if (mine === null || theirs === null || theirs === undefined) return;
    const g2g = (receive + mine) - (ms + theirs);
    if (g2g < -100 || g2g > 60000) return;
    const value = Math.max(0, g2g);
    const t = performance.now();
    tile.samples.push({ t, ms: value });
    while (tile.samples.length && t - tile.samples[0].t > LATENCY_WINDOW_MS) tile.samples.shift();
    if (this.newSamples.length < 600) this.newSamples.push({ participant: tile.dataset.participant, ms: value });
  }

  /** Lay a quiet patch over the stamp's cells where the video shows them (object-fit: contain). */
  coverStamp(tile, w, h) {
    const region = readRegion(w, h);
    const vw = tile.video.clientWidth; const vh = tile.video.clientHeight;
    if (!vw || !vh) return;
    const scale = Math.min(vw / w, vh / h);
    const left = (vw - w * scale) / 2; const top = (vh - h * scale) / 2;
    const geo = stampGeometry(w, h) || { width: Math.min(region.width, w), height: Math.min(region.height, h) };
    Object.assign(tile.mask.style, {
      left: `${left}px`, top: `${top}px`, width: `${Math.ceil(geo.width * scale)}px`, height: `${Math.ceil(geo.height * scale)}px`,
    });
    tile.mask.hidden = false;
  }

  /** Median glass-to-glass of a tile's last seconds, or null. */
  latencyOf(tile) {
    const t = performance.now();
    const recent = tile.samples.filter((s) => t - s.t <= LATENCY_WINDOW_MS).map((s) => s.ms);
    return recent.length ? median(recent) : null;
  }

  takeSamples() { const s = this.newSamples; this.newSamples = []; return s; }
}
