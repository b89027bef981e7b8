// The mentoring page, on top of the room client (static/js/room/main.js):
// draw on the surgeon's live video, deliver every mark without loss (per-author
// sequence numbers, an outbox until the server acknowledges after commit, HTTP
// backfill of gaps), show each party's latency and warn the surgeon when a
// mentor's picture is too old; the surgeon starts the broadcast/recording with
// their camera and ends the operation; the moderator triages trainees' questions.
import { AnnotationSet, Overlay } from "./annotations.js";
import { RoomSocket } from "../room/socket.js";
import { button, el, latencyClass, uuid4 } from "../room/util.js";

const SAFE_LATENCY_MS = 200;  // DESIGN.md: above 200 ms is red
const root = document.getElementById("guidance");
const $ = (id) => document.getElementById(id);
const operation = root.dataset.operation;
const role = root.dataset.role;
const author = root.dataset.author;
const surgeon = root.dataset.surgeon;
const isModerator = root.dataset.moderator === "1";
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new RoomSocket(`${scheme}://${location.host}/ws/guidance/${operation}/`);
socket.checkUrl = location.pathname;

// -- the annotation set: confirmed by the server, plus my outbox on top -----------------

const confirmed = new AnnotationSet();
let confirmedSeq = 0;
let mySeq = 0;
const outbox = [];
const view = new AnnotationSet();
let backfilling = false;

function rebuildView() {
  view.items = new Map(confirmed.items);
  view.lastSeq = new Map(confirmed.lastSeq);
  for (const op of outbox) view.apply(op);
}

function applyConfirmed(seq, op) {
  if (seq <= confirmedSeq) return;
  if (seq > confirmedSeq + 1) { backfill(); return; }
  confirmed.apply(op);
  confirmedSeq = seq;
  rebuildView();
}

/** A sequence gap (a dropped live message): fetch what is missing over HTTP. */
async function backfill() {
  if (backfilling) return;
  backfilling = true;
  try {
    for (;;) {
      const response = await fetch(`/api/guidance/operations/${operation}/annotations/?after=${confirmedSeq}`, { credentials: "same-origin" });
      if (!response.ok) break;
      const { events } = await response.json();
      for (const e of events) if (e.seq === confirmedSeq + 1) { confirmed.apply(e.op); confirmedSeq = e.seq; }
      if (events.length < 500) break;
    }
    rebuildView();
  } finally { backfilling = false; }
}

function sendOp(op) {
  outbox.push(op);
  rebuildView();
  socket.send({ type: "annotate", op });
  status();
}

function status(text) {
  const node = $("tele-state");
  if (!node) return;
  node.textContent = text || (outbox.length ? `Sending ${outbox.length}…` : "");
}

// -- overlays on the tiles that show the surgeon's theatre camera ---------------------------

const overlays = new Map();  // tile → Overlay

function theatreTiles(room) {
  const tiles = [];
  if (author === surgeon) {
    const own = [...room.media.selfTiles.values()].find((t) => t.querySelector("video") && !t.dataset.source.startsWith("screen"));
    if (own) tiles.push(own);
  }
  const remote = [...room.media.tiles.values()].filter((t) => t.dataset.participant === surgeon);
  // The theatre camera is the surgeon's first video track (lowest mid), as the composite's source.
  const info = (tile) => room.media.trackInfo.get(tile.dataset.track);
  remote.sort((a, b) => midOf(info(a)) - midOf(info(b)));
  if (remote.length) tiles.push(remote[0]);
  return tiles;
}

/** The publish transceiver's mid of a ``media.tracks`` entry (track ids are opaque). */
function midOf(entry) {
  const mid = Number(entry && entry.mid);
  return Number.isFinite(mid) ? mid : 1e9;
}

function syncOverlays(room) {
  const wanted = new Set(theatreTiles(room));
  for (const [tile, overlay] of overlays) if (!wanted.has(tile) || !tile.isConnected) { overlay.close(); overlays.delete(tile); }
  for (const tile of wanted) {
    if (overlays.has(tile)) continue;
    const overlay = new Overlay(tile, view);
    overlays.set(tile, overlay);
    tile.classList.add("theatre");
    if (role === "mentor" && !tile.classList.contains("self")) enableDrawing(overlay, tile);
  }
}

// -- drawing (mentors) ------------------------------------------------------------------------

const tool = { kind: "arrow", colour: "#ffe600" };

function pressed(groupId, attr, value) {
  for (const b of document.querySelectorAll(`#${groupId} button`)) b.setAttribute("aria-pressed", String(b.dataset[attr] === value));
}

function enableDrawing(overlay, tile) {
  const c = overlay.canvas;
  c.classList.add("drawable");
  let start = null;
  c.addEventListener("pointerdown", (e) => {
    const p = overlay.toNorm(e);
    if (!p) return;
    c.setPointerCapture(e.pointerId);
    start = p;
    const base = newAnnotation(tile, overlay);
    if (tool.kind === "text") {
      const text = (window.prompt("Label text") || "").trim().slice(0, 200);
      start = null;
      if (text) commit({ ...base, points: [p], text });
      return;
    }
    if (tool.kind === "target") { start = null; commit({ ...base, points: [p] }); return; }
    overlay.draft = { ...base, points: tool.kind === "freehand" || tool.kind === "incision" ? [p] : [p, p] };
  });
  c.addEventListener("pointermove", (e) => {
    if (!start || !overlay.draft) return;
    const p = overlay.toNorm(e);
    if (!p) return;
    const d = overlay.draft;
    if (d.kind === "freehand" || d.kind === "incision") {
      const last = d.points[d.points.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) > 0.003 && d.points.length < 2000) d.points.push(p);
    } else d.points = [d.points[0], p];
  });
  const finish = () => {
    const d = overlay.draft;
    overlay.draft = null;
    start = null;
    if (!d) return;
    const [a, b] = [d.points[0], d.points[d.points.length - 1]];
    if (d.points.length < 2 || Math.hypot(b[0] - a[0], b[1] - a[1]) < 0.01) return;  // a slip, not a mark
    commit(d);
  };
  c.addEventListener("pointerup", finish);
  c.addEventListener("pointercancel", () => { overlay.draft = null; start = null; });
}

function newAnnotation(tile, overlay) {
  const video = overlay.video;
  const a = {
    id: uuid4(), kind: tool.kind, author, colour: tool.colour, points: [],
    frame_time: Math.min(1e7, Math.max(0, video.currentTime || 0)),
    created_at_ms: Date.now(), thickness: 6,
    pinned: $("tele-pin").checked, fade_after: 6, tracked: $("tele-track").checked,
  };
  if (tile.lastStampMs) a.capture_ms = tile.lastStampMs;  // the frame the mentor is looking at
  if (tool.kind === "text") a.text_size = 40;
  return a;
}

function commit(annotation) {
  annotation.created_at_ms = Date.now();
  sendOp({ op: "add", author, seq: ++mySeq, annotation });
}

if (role === "mentor") {
  for (const b of document.querySelectorAll("#tele-kinds button")) b.addEventListener("click", () => { tool.kind = b.dataset.kind; pressed("tele-kinds", "kind", tool.kind); });
  for (const b of document.querySelectorAll("#tele-colours button")) b.addEventListener("click", () => { tool.colour = b.dataset.colour; pressed("tele-colours", "colour", tool.colour); });
  $("tele-undo").addEventListener("click", () => {
    const mine = [...view.items.values()].filter((a) => a.author === author);
    const last = mine[mine.length - 1];
    if (last) sendOp({ op: "undo", author, seq: ++mySeq, id: last.id });
  });
  $("tele-clear").addEventListener("click", () => sendOp({ op: "clear", author, seq: ++mySeq, target_author: author }));
}

// -- the guidance socket ------------------------------------------------------------------------

function onWelcome(msg) {
  const ann = msg.annotations || { seq: 0, state: {} };
  confirmed.reset(ann.state);
  confirmedSeq = ann.seq;
  const applied = (ann.state.last_seq || {})[author] || 0;
  mySeq = Math.max(mySeq, applied);
  // Resend what the server has not applied, in order (it acknowledges replays too).
  while (outbox.length && outbox[0].seq <= applied) outbox.shift();
  for (const op of outbox) socket.send({ type: "annotate", op });
  rebuildView();
  status();
  renderLive(msg.live);
  questions.clear();
  for (const q of msg.questions || []) questions.set(q.id, q);
  renderQuestions();
  if (role === "surgeon") { lastSource = null; announceSource(); }
}

function onAck(msg) {
  while (outbox.length && outbox[0].seq <= msg.author_seq) outbox.shift();
  rebuildView();
  status();
}

function onError(msg) {
  if (msg.for === "annotate") {
    if (msg.code === "out_of_order") { for (const op of outbox) socket.send({ type: "annotate", op }); return; }
    // Refused for good (bad geometry, not the owner…): drop it, and realign numbering.
    const dropped = outbox.shift();
    if (dropped) { mySeq = dropped.seq - 1; for (const op of outbox) op.seq -= 1; }
    rebuildView();
    status(`Mark refused (${msg.code}).`);
    for (const op of outbox) socket.send({ type: "annotate", op });
  } else if (msg.for === "source") {
    compositeState(`Broadcast not started (${msg.code}); retrying…`);
    setTimeout(() => { lastSource = null; announceSource(); }, 5000);
  } else if (msg.for === "end") {
    window.alert(msg.detail || "Could not end the operation.");
  }
}

socket.addEventListener("message", (event) => {
  const msg = event.detail;
  switch (msg.type) {
    case "welcome": onWelcome(msg); break;
    case "annotation": applyConfirmed(msg.seq, msg.op); break;
    case "annotations": for (const e of msg.events) applyConfirmed(e.seq, e.op); break;
    case "annotations.reset": confirmed.reset(msg.state); confirmedSeq = msg.seq; rebuildView(); break;
    // The server's channel layer came back: marks drawn meanwhile come by seq.
    case "resync": socket.send({ type: "hello", last_seq: confirmedSeq }); break;
    case "annotate.ack": onAck(msg); break;
    case "live": renderLive(msg); break;
    case "source.ack": renderLive(msg); break;
    case "latency": onLatency(msg); break;
    case "question": questions.set(msg.question.id, msg.question); renderQuestions(); break;
    case "ended": $("op-status").textContent = "Ended"; break;
    case "error": onError(msg); break;
    default: break;
  }
});
socket.addEventListener("open", () => socket.send({ type: "hello", last_seq: confirmedSeq }));

// -- live status and the surgeon's source -------------------------------------------------------------

function compositeState(text) { const node = $("composite-state"); if (node) node.textContent = text; }

function renderLive(live) {
  if (!live) return;
  if (live.status) $("op-status").textContent = live.status === "live" ? "Live" : live.status === "ended" ? "Ended" : "Scheduled";
  if (live.track) compositeState("Live: recording" + (live.hls ? " and broadcasting to trainees." : "."));
}

let lastSource = null;
let room = null;
function announceSource() {
  if (!room || role !== "surgeon" || !socket.open) return;
  const mine = [...room.media.trackInfo.values()].filter((t) => t.participant === author && t.kind === "video");
  mine.sort((a, b) => midOf(a) - midOf(b));
  const track = mine.length ? mine[0].track : null;
  if (track && track !== lastSource) {
    lastSource = track;
    compositeState("Starting the broadcast and recording…");
    const est = room.clock.estimate();
    socket.send({ type: "source", track, clock_offset_ms: est ? Math.round(est.offset * 10) / 10 : null });
  }
}

if (role === "surgeon") {
  $("op-end").addEventListener("click", () => {
    if (window.confirm("End the operation? The broadcast stops and the recording is kept.")) socket.send({ type: "end" });
  });
}

// -- latency: what each party sees, and the surgeon's warning -----------------------------------------

const remoteLatency = new Map();  // author → {label, role, p50, at}

function onLatency(msg) {
  remoteLatency.set(msg.author, { label: msg.label, role: msg.role, p50: msg.p50_ms, at: Date.now() });
  renderWarning();
}

function renderWarning() {
  const node = $("latency-warning");
  if (role !== "surgeon") return;
  const late = [...remoteLatency.values()].filter((l) => l.role === "mentor" && Date.now() - l.at < 8000 && l.p50 !== null && l.p50 > SAFE_LATENCY_MS);
  node.hidden = !late.length;
  node.textContent = late.map((l) => `${l.label} sees your picture ${Math.round(l.p50)} ms late: their marks may lag the field.`).join(" ");
  const fresh = [...remoteLatency.values()].filter((l) => l.role === "mentor" && Date.now() - l.at < 8000 && l.p50 !== null);
  const list = $("mentor-latency");
  list.replaceChildren(...fresh.map((l) => el("span", `tile-latency-inline ${latencyClass(l.p50)}`, `${l.label} ${Math.round(l.p50)} ms`)));
  list.hidden = !fresh.length;
}

function reportLatency() {
  if (!room || role === "surgeon") return;
  const tile = theatreTiles(room).find((t) => !t.classList.contains("self"));
  if (!tile) return;
  const p50 = room.media.latencyOf(tile);
  const values = tile.samples.map((s) => s.ms).sort((a, b) => a - b);
  const p95 = values.length ? values[Math.min(values.length - 1, Math.floor(values.length * 0.95))] : null;
  socket.send({ type: "latency", p50_ms: p50, p95_ms: p95 });
  const node = $("tele-state");
  if (node && !outbox.length && p50 !== null) {
    node.textContent = `You see the theatre ${Math.round(p50)} ms late`;
    node.className = `tele-state small ${latencyClass(p50)}`;
  }
}

// -- questions ---------------------------------------------------------------------------------------------

const questions = new Map();

function renderQuestions() {
  const list = $("question-list");
  list.replaceChildren();
  const shown = [...questions.values()].filter((q) => q.status === "approved" || (isModerator && q.status === "pending"));
  for (const q of shown) {
    const li = el("li", `question q-${q.status}`);
    li.append(el("p", "q-body", q.body), el("span", "muted small", q.asked_by || ""));
    if (q.status === "pending" && isModerator) {
      li.append(
        button("Approve", "small-btn", () => socket.send({ type: "question.moderate", id: q.id, decision: "approve" })),
        button("Decline", "small-btn", () => socket.send({ type: "question.moderate", id: q.id, decision: "reject" })),
      );
    }
    list.append(li);
  }
  $("questions-count").textContent = String(shown.filter((q) => q.status === "approved").length);
}

// -- start once the room client is up --------------------------------------------------------------------

function whenRoom() {
  if (!window.__room) { setTimeout(whenRoom, 50); return; }
  room = window.__room;
  room.roomSocket.addEventListener("message", (e) => { if (e.detail.type === "media.tracks") setTimeout(announceSource, 0); });
  setInterval(() => syncOverlays(room), 400);
  setInterval(reportLatency, 2000);
  setInterval(renderWarning, 2000);
  socket.connect();
}
whenRoom();

window.__guidance = { socket, confirmed, view, outbox, overlays, get confirmedSeq() { return confirmedSeq; } };
