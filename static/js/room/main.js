// The room page: socket, presence, chat, host controls, media and quality, wired together.
import { Chat } from "./chat.js";
import { ClockOffset } from "./clock.js";
import { Media } from "./media.js";
import { People } from "./people.js";
import { Quality } from "./quality.js";
import { RoomSocket } from "./socket.js";
import { uuid4 } from "./util.js";

const root = document.getElementById("room");
const $ = (id) => document.getElementById(id);
const session = uuid4();
const state = { welcome: null, host: root.dataset.host === "1", status: root.dataset.status, lastHost: null, ended: false };
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new RoomSocket(`${scheme}://${location.host}/ws/rooms/${root.dataset.room}/`);
socket.checkUrl = location.pathname;
const send = (msg) => socket.send(msg);
const clock = new ClockOffset(16);
const me = () => ({ participant: state.welcome ? state.welcome.participant : null, label: state.welcome ? state.welcome.label : root.dataset.label });

function notice(text) {
  const node = $("room-notice");
  node.textContent = text;
  node.hidden = !text;
  clearTimeout(notice.timer);
  if (text) notice.timer = setTimeout(() => { node.hidden = true; }, 8000);
}

function connection(text, cls) {
  const node = $("conn");
  node.textContent = text;
  node.className = `conn ${cls}`;
}

// -- people, chat, media, quality ---------------------------------------------------

const people = new People({
  list: $("people-list"), count: $("people-count"), isHost: () => state.host,
  hostAction: (action, participant) => send({ type: "host", action, participant }),
});
const chat = new Chat({ list: $("chat-list"), form: $("chat-form"), input: $("chat-input"), badge: $("chat-unread"), send, me });
chat.visible = () => !$("panel-chat").hidden && !$("side").hidden;
const media = new Media({
  grid: $("grid"), audioBox: $("audio-box"), send, me, people,
  clock: () => { const e = clock.estimate(); return e ? e.offset : null; },
});
media.addEventListener("notice", (e) => notice(e.detail));
let lastCycle = 0;
media.addEventListener("failed", (e) => {
  if (Date.now() - lastCycle < 10000) return;
  lastCycle = Date.now();
  console.info(`room: the ${e.detail} connection failed, reconnecting`);
  notice("The connection changed; reconnecting video…");
  socket.kick();
});
media.addEventListener("needsound", () => { $("enable-sound").hidden = false; });
media.addEventListener("local", () => { renderControls(); sendState(); });
people.addEventListener("change", () => media.refreshLabels());
const quality = new Quality({ list: $("quality-list"), media, people, send, session, me });

let announcedOffset = null;
let stateSentAt = 0;
let stateTimer = null;
/** Presence to the room, at most once a second (toggles, negotiation, clock refinements coalesce). */
function sendState() {
  if (!state.welcome) return;
  const wait = 1000 - (Date.now() - stateSentAt);
  if (wait > 0) {
    if (!stateTimer) stateTimer = setTimeout(() => { stateTimer = null; sendState(); }, wait);
    return;
  }
  stateSentAt = Date.now();
  const est = clock.estimate();
  const offset = est ? Math.round(est.offset * 10) / 10 : null;
  announcedOffset = offset;
  send({ type: "state", audio: media.audioOn, video: media.videoOn, sources: media.sourceLabels(), clock_offset_ms: offset });
  people.upsert({ participant: state.welcome.participant, audio: media.audioOn, video: media.videoOn, sources: media.sourceLabels(), clock_offset_ms: offset });
}

// -- clock ---------------------------------------------------------------------------

let lastPong = Date.now();
function ping() { send({ type: "clock.ping", t0: Date.now() }); }
function onPong(msg) {
  lastPong = Date.now();
  const est = clock.add(msg.t0, msg.server_ms, Date.now());
  if (est && (announcedOffset === null || Math.abs(est.offset - announcedOffset) > 5)) sendState();
}
setInterval(() => {
  if (!socket.open) return;
  ping();
  if (Date.now() - lastPong > 15000) { console.info("room: no clock.pong for 15 s, reconnecting"); socket.kick(); }
}, 5000);

// -- speaking --------------------------------------------------------------------------

const levels = new Map();  // participant → {level, at}
let lastSpoken = 0;
let speaker = null;
let speakerAt = 0;
setInterval(() => {
  const level = Math.round(media.level * 100) / 100;
  if ((level > 0.05 || lastSpoken > 0.05) && Math.abs(level - lastSpoken) > 0.02) {
    if (send({ type: "speaking", level })) lastSpoken = level;
  }
  for (const tile of document.querySelectorAll(".tile.self")) tile.classList.toggle("speaking", level > 0.08);
  const now = Date.now();
  let loudest = null; let best = 0.08;
  for (const [pid, l] of levels) if (now - l.at < 1200 && l.level > best && pid !== me().participant) { best = l.level; loudest = pid; }
  if (loudest) { speaker = loudest; speakerAt = now; } else if (now - speakerAt > 1500) speaker = null;
  media.setSpeaker(speaker);
  people.setSpeaker(speaker);
}, 250);  // at most 4 speaking messages a second

// -- the socket ---------------------------------------------------------------------------

let mediaReady = media.start();

socket.addEventListener("open", (e) => {
  if (e.detail.reconnect) people.rollCall();
  connection("Connected", "ok");
  stateSentAt = 0;
  clock.reset();
  lastPong = Date.now();
  send({ type: "hello", session, last_chat_seq: chat.lastSeq });
  chat.resendAll();
  for (let i = 0; i < 5; i += 1) setTimeout(ping, i * 150);
  if (e.detail.reconnect) notice("Reconnected.");
});

socket.addEventListener("down", () => {
  connection("Reconnecting…", "warn");
  media.closePeers();
});

socket.addEventListener("superseded", () => {
  // The same person opened the room in another window or on another device: this
  // one lets go of the camera and microphone until "Use here".
  connection("Open elsewhere", "warn");
  media.closePeers();
  media.releaseCapture();
  $("use-here").hidden = false;
  notice("This room is open in another window or on another device.");
});
$("use-here").addEventListener("click", () => {
  $("use-here").hidden = true;
  connection("Connecting…", "warn");
  mediaReady = media.start();
  socket.resume();
});

socket.addEventListener("refused", () => {
  const last = state.lastHost;
  let title = state.welcome ? "You are no longer in this room" : "You are not in this room";
  let text = state.welcome ? "The room has ended or a host removed you."
    : "This room is closed to you. If you were invited, open the link from your invitation again.";
  if (last && last.action === "end") { title = "The room has ended"; text = "The host ended this session. Thank you."; }
  else if (last && last.action === "remove" && last.target === me().participant) { title = "You were removed from the room"; text = "A host removed you from this session."; }
  endRoom(title, text);
});

async function onWelcome(msg) {
  state.welcome = msg;
  state.host = Boolean(msg.host);
  setStatus(msg.status);
  people.setSelf(msg, { audio: media.audioOn, video: media.videoOn, sources: media.sourceLabels() });
  media.setIceServers(msg.ice_servers);
  renderControls();
  await mediaReady;
  sendState();
  await media.publish();
}

function setStatus(status) {
  state.status = status;
  const badge = $("room-status-badge");
  badge.textContent = status === "locked" ? "Locked" : status === "ended" ? "Ended" : "Open";
  badge.classList.toggle("badge-warn", status === "locked");
  $("host-lock").hidden = status === "locked";
  $("host-unlock").hidden = status !== "locked";
}

function onHost(msg) {
  state.lastHost = msg;
  const byRec = people.get(msg.by);
  const by = byRec ? byRec.label : "The host";
  const target = people.get(msg.target);
  if (msg.action === "mute") {
    if (msg.target === me().participant) { media.setMic(false); notice(`${by} muted your microphone. You can unmute when you need to speak.`); }
    else notice(`${by} muted ${target ? target.label : "a participant"}.`);
  } else if (msg.action === "remove") {
    if (msg.target !== me().participant) notice(`${by} removed ${target ? target.label : "a participant"}.`);
  } else if (msg.action === "lock" || msg.action === "unlock") {
    setStatus(msg.action === "lock" ? "locked" : "open");
    notice(msg.action === "lock" ? `${by} locked the room: nobody else can join.` : `${by} unlocked the room.`);
  } else if (msg.action === "end") {
    setStatus("ended");
  }
}

socket.addEventListener("message", (event) => {
  const msg = event.detail;
  switch (msg.type) {
    case "welcome": onWelcome(msg); break;
    case "presence": people.onPresence(msg); media.refreshLabels(); break;
    // The server's channel layer was down or restarted: fetch missed chat, recount people.
    case "resync": send({ type: "hello", session, last_chat_seq: chat.lastSeq }); people.rollCall(); break;
    case "chat.message": case "chat.ack": case "chat.history": chat.onMessage(msg); break;
    case "clock.pong": onPong(msg); break;
    case "speaking": levels.set(msg.participant, { level: msg.level, at: Date.now() }); people.seen(msg.participant); break;
    case "quality": quality.onRemote(msg); people.seen(msg.participant); break;
    case "host": onHost(msg); break;
    case "media.tracks": media.onTracks(msg.tracks); break;
    case "media.answer": media.onAnswer(msg).catch((err) => notice(`Media: ${err.name}`)); break;
    case "media.offer": media.onSubOffer(msg).catch((err) => notice(`Media: ${err.name}`)); break;
    case "media.renegotiate": media.publish(); break;
    case "error":
      if (msg.for === "media.subscribe") media.onSubscribeError();
      else if (msg.for === "host") notice(msg.detail || "That did not work.");
      else if (msg.code === "media_unavailable" || msg.code === "worker_overloaded") {
        notice("Video is not available right now; retrying…");
        setTimeout(() => media.publish(), 3000 + Math.random() * 3000);
      }
      break;
    default: break;
  }
});

function endRoom(title, text) {
  if (state.ended) return;
  state.ended = true;
  socket.stop();
  media.closePeers();
  for (const s of [...media.sources]) media.removeSource(s);
  if (media.mic) media.mic.stop();
  $("ended-title").textContent = title;
  $("ended-text").textContent = text;
  $("room-ended").hidden = false;
  $("room-main").hidden = true;
  connection("Disconnected", "bad");
}

// -- controls -------------------------------------------------------------------------------

function renderControls() {
  const mic = $("toggle-mic");
  mic.setAttribute("aria-pressed", String(!media.audioOn));
  mic.querySelector(".ctl-label").textContent = media.audioOn ? "Mute" : "Unmute";
  mic.classList.toggle("off", !media.audioOn);
  mic.disabled = !media.mic;
  const cam = $("toggle-cam");
  cam.setAttribute("aria-pressed", String(!media.videoOn));
  cam.querySelector(".ctl-label").textContent = media.videoOn ? "Stop video" : "Start video";
  cam.classList.toggle("off", !media.videoOn);
  cam.disabled = !media.sources.some((s) => s.kind === "camera");
  for (const node of document.querySelectorAll(".host-only")) node.hidden = !state.host;
  if (state.host) setStatus(state.status);
}

$("toggle-mic").addEventListener("click", () => media.setMic(!media.audioOn));
$("toggle-cam").addEventListener("click", () => media.setCamera(!media.videoOn));
$("add-camera").addEventListener("click", () => media.addCamera().catch((err) => notice(err.message || "No other camera.")));
$("add-screen").addEventListener("click", () => {
  if (!navigator.mediaDevices.getDisplayMedia) { notice("This browser cannot share a screen."); return; }
  media.addScreen().catch(() => notice("Screen sharing was cancelled."));
});
$("enable-sound").addEventListener("click", () => {
  for (const a of document.querySelectorAll("#audio-box audio")) a.play().catch(() => {});
  $("enable-sound").hidden = true;
});
$("leave").addEventListener("click", () => {
  endRoom("You left the room", "You can rejoin from the same link while the room is open.");
});
$("host-lock").addEventListener("click", () => send({ type: "host", action: "lock" }));
$("host-unlock").addEventListener("click", () => send({ type: "host", action: "unlock" }));
$("host-end").addEventListener("click", () => {
  if (window.confirm("End the room for everyone?")) send({ type: "host", action: "end" });
});

// Side panels: people, chat, quality (one at a time; on phones a sheet over the video).
function showPanel(name) {
  const side = $("side");
  const current = side.dataset.panel;
  const closing = !side.hidden && current === name;
  side.hidden = closing;
  side.dataset.panel = closing ? "" : name;
  for (const p of ["people", "chat", "quality"]) {
    $(`panel-${p}`).hidden = closing || p !== name;
    $(`show-${p}`).setAttribute("aria-pressed", String(!closing && p === name));
  }
  if (!closing && name === "chat") { chat.markRead(); $("chat-input").focus({ preventScroll: true }); }
}
for (const p of ["people", "chat", "quality"]) $(`show-${p}`).addEventListener("click", () => showPanel(p));
$("chat-list").addEventListener("scroll", () => chat.markRead());
if (window.matchMedia("(min-width: 900px)").matches) showPanel("people");
$("side-close").addEventListener("click", () => showPanel($("side").dataset.panel));

window.addEventListener("pagehide", () => socket.stop());

// For tests and for support: the live objects.
window.__room = {
  get socket() { return socket.ws; },
  roomSocket: socket, chat, people, media, quality, clock, session, state,
  framesByParticipant() {
    const out = {};
    for (const tile of media.tiles.values()) out[tile.dataset.participant] = (out[tile.dataset.participant] || 0) + tile.frames;
    return out;
  },
};

renderControls();
socket.connect();
