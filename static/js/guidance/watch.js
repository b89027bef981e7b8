// The trainees' broadcast: the composited feed (the mentor's marks and the vitals
// burned in) over WebRTC through the media worker's relay, view only, or over HLS
// for large audiences; glass-to-glass latency from the theatre camera's stamps;
// questions to the moderator.
import { ClockOffset } from "../room/clock.js";
import { RoomSocket } from "../room/socket.js";
import { readRegion, readStampTolerant, stampGeometry } from "../room/stamp.js";
import { el, latencyClass, median, uuid4 } from "../room/util.js";

const root = document.getElementById("watch");
const $ = (id) => document.getElementById(id);
const video = $("feed");
const operation = root.dataset.operation;
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new RoomSocket(`${scheme}://${location.host}/ws/guidance/${operation}/`);
socket.checkUrl = location.pathname;
const clock = new ClockOffset(16);
const state = { live: null, iceServers: [], mode: "webrtc", pc: null, hls: null, track: null };

function connection(text, cls) { const n = $("conn"); n.textContent = text; n.className = `conn ${cls}`; }

// -- WebRTC, view only ---------------------------------------------------------------------

function closePeer() {
  if (state.pc) { try { state.pc.close(); } catch (_) { /* closed */ } }
  state.pc = null;
  state.track = null;
}

function subscribe() {
  const live = state.live;
  if (state.mode !== "webrtc" || !live || !live.track || !socket.open) return;
  if (state.track === live.track && state.pc) return;
  closePeer();
  state.track = live.track;
  socket.send({ type: "media.subscribe", tracks: [live.track] });
}

async function onOffer(msg) {
  if (msg.pc !== "sub" || state.mode !== "webrtc") return;
  if (!state.pc) {
    const pc = new RTCPeerConnection({ iceServers: state.iceServers, bundlePolicy: "max-bundle" });
    state.pc = pc;
    pc.addEventListener("icecandidate", (e) => {
      if (pc === state.pc) socket.send({ type: "media.ice", pc: "sub", candidate: e.candidate ? e.candidate.toJSON() : null });
    });
    pc.addEventListener("track", (e) => {
      if (e.track.kind !== "video") return;
      video.srcObject = new MediaStream([e.track]);
      video.play().catch(() => {});
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc === state.pc && pc.connectionState === "failed") { closePeer(); setTimeout(subscribe, 1000); }
    });
  }
  await state.pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
  await state.pc.setLocalDescription(await state.pc.createAnswer());
  socket.send({ type: "media.answer", pc: "sub", sdp: state.pc.localDescription.sdp });
}

// -- HLS --------------------------------------------------------------------------------------

async function startHls() {
  const live = state.live;
  if (!live || !live.hls) { $("mode-label").textContent = "HLS is not available for this broadcast"; return; }
  closePeer();
  video.srcObject = null;
  if (video.canPlayType("application/vnd.apple.mpegurl")) { video.src = live.hls; return; }
  const { default: Hls } = await import("../../vendor/hls.js/hls.light.min.mjs");
  if (!Hls.isSupported()) { $("mode-label").textContent = "This browser cannot play HLS"; return; }
  if (state.hls) state.hls.destroy();
  state.hls = new Hls({ liveSyncDurationCount: 2, lowLatencyMode: true });
  state.hls.loadSource(live.hls);
  state.hls.attachMedia(video);
  video.play().catch(() => {});
}

function stopHls() {
  if (state.hls) { state.hls.destroy(); state.hls = null; }
  video.removeAttribute("src");
  video.load();
}

$("mode").addEventListener("click", () => {
  const toHls = state.mode === "webrtc";
  state.mode = toHls ? "hls" : "webrtc";
  $("mode").setAttribute("aria-pressed", String(toHls));
  $("mode").textContent = toHls ? "Use WebRTC (lowest latency)" : "Use HLS (large audiences)";
  $("mode-label").textContent = toHls ? "HLS" : "WebRTC";
  samples.length = 0;
  if (toHls) startHls(); else { stopHls(); subscribe(); }
});

// -- latency from the stamps burned in at the theatre camera -------------------------------------

const samples = [];
const canvas = document.createElement("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
let lastRead = 0;
let frames = 0;

function onFrame(now, meta) {
  frames += 1;
  if (now - lastRead >= 100) {
    lastRead = now;
    try { readLatency(meta); } catch (_) { /* a frame we could not read */ }
  }
  video.requestVideoFrameCallback(onFrame);
}
if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame);

function readLatency(meta) {
  const w = meta.width; const h = meta.height;
  const region = readRegion(w, h);
  if (!region.width || !region.height) return;
  if (canvas.width !== region.width || canvas.height !== region.height) { canvas.width = region.width; canvas.height = region.height; }
  ctx.drawImage(video, 0, 0, region.width, region.height, 0, 0, region.width, region.height);
  const ms = readStampTolerant(ctx.getImageData(0, 0, region.width, region.height).data, region.width, region.height, w, h);
  if (ms !== null) coverStamp(w, h);
  const mine = clock.estimate();
  const theirs = state.live ? state.live.clock_offset_ms : null;
  if (ms === null || !mine || theirs === null || theirs === undefined) return;
  const receive = Date.now() + ((meta.expectedDisplayTime || performance.now()) - performance.now());
  const g2g = (receive + mine.offset) - (ms + theirs);
  if (g2g < -100 || g2g > 120000) return;
  samples.push({ t: performance.now(), ms: Math.max(0, g2g) });
  while (samples.length && performance.now() - samples[0].t > 5000) samples.shift();
}

/** A quiet patch over the stamp's cells where the picture shows them (object-fit: contain). */
function coverStamp(w, h) {
  const geo = stampGeometry(w, h);
  const vw = video.clientWidth; const vh = video.clientHeight;
  if (!geo || !vw || !vh) return;
  const scale = Math.min(vw / w, vh / h);
  Object.assign($("stamp-mask").style, {
    left: `${(vw - w * scale) / 2}px`, top: `${(vh - h * scale) / 2}px`,
    width: `${Math.ceil(geo.width * scale)}px`, height: `${Math.ceil(geo.height * scale)}px`,
  });
  $("stamp-mask").hidden = false;
}

setInterval(() => {
  const value = median(samples.map((s) => s.ms));
  const node = $("latency");
  node.textContent = value === null ? "– ms" : `${Math.round(value)} ms`;
  node.className = `tile-latency ${state.mode === "hls" ? "lat-none" : latencyClass(value)}`;
  $("wait").hidden = frames > 0 && Boolean(state.live && state.live.track);
}, 500);

// -- questions ------------------------------------------------------------------------------------

const mine = new Map();  // client_id → question (pending until acknowledged)
const STATUS = { pending: "Waiting for the moderator", approved: "Passed to the mentors", rejected: "Not taken", sending: "Sending…" };

function renderQuestions() {
  const list = $("my-questions");
  list.replaceChildren();
  for (const q of mine.values()) {
    const li = el("li", `question q-${q.status}`);
    li.append(el("p", "q-body", q.body), el("span", "muted small", STATUS[q.status] || q.status));
    list.append(li);
  }
}

$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = $("ask-body").value.trim();
  if (!body) return;
  const q = { client_id: uuid4(), body, status: "sending" };
  mine.set(q.client_id, q);
  socket.send({ type: "question.ask", client_id: q.client_id, body });
  $("ask-body").value = "";
  renderQuestions();
});

// -- the socket --------------------------------------------------------------------------------------

function onLive(live) {
  state.live = { ...state.live, ...live };
  $("watch-status").textContent = live.status === "ended" ? "Ended" : live.track ? "Live" : "Scheduled";
  if (state.mode === "webrtc") subscribe(); else startHls();
}

socket.addEventListener("message", (event) => {
  const msg = event.detail;
  switch (msg.type) {
    case "welcome":
      state.iceServers = msg.ice_servers || [];
      for (const q of msg.questions || []) mine.set(q.client_id, q);
      renderQuestions();
      state.track = null;
      onLive(msg.live);
      break;
    case "live": onLive(msg); break;
    case "media.offer": onOffer(msg).catch((err) => console.warn("watch: offer failed", err)); break;
    case "media.renegotiate": closePeer(); subscribe(); break;
    case "clock.pong": clock.add(msg.t0, msg.server_ms, Date.now()); break;
    case "question.ack": case "question": {
      const q = msg.question;
      mine.set(q.client_id, q);
      renderQuestions();
      break;
    }
    case "ended": $("watch-status").textContent = "Ended"; $("wait").textContent = "This operation has ended."; break;
    case "error":
      if (msg.for === "media.subscribe") { state.track = null; setTimeout(subscribe, 2000); }
      break;
    default: break;
  }
});

function ping() { socket.send({ type: "clock.ping", t0: Date.now() }); }
socket.addEventListener("open", () => {
  connection("Connected", "ok");
  clock.reset();
  for (let i = 0; i < 5; i += 1) setTimeout(ping, i * 150);
  for (const q of mine.values()) if (q.status === "sending") socket.send({ type: "question.ask", client_id: q.client_id, body: q.body });
});
setInterval(() => { if (socket.open) ping(); }, 5000);
socket.addEventListener("down", () => { connection("Reconnecting…", "warn"); closePeer(); });
socket.addEventListener("refused", () => {
  closePeer();
  stopHls();
  connection("Disconnected", "bad");
  $("gone").hidden = false;
});

window.__watch = {
  socket, state, clock,
  get frames() { return frames; },
  latency() { return median(samples.map((s) => s.ms)); },
};
socket.connect();
