// The ambulance crew's phone page: open a case in a few taps, stream vitals
// through the lossless outbox, send location and photos, see the hospital's answer.
// Plain ES module; all data text goes in through textContent.

import {
  ApiError, BAND_TEXT, CATEGORIES, CATEGORY_LABEL, EcgStrip, api, el, fmtEta, news2, plausible, setText,
} from "./ems.js";
import {
  Uplink, allowSocket, blockSocket, deviceId, metaGet, metaSet, openDb, pendingBatches, pendingByCase, unlockOutbox, wipeAll,
} from "./outbox.js";
import { LiveVideo, videoConstraints } from "./room/live.js";

const CFG = JSON.parse(document.getElementById("crew-config").textContent);
const $ = (id) => document.getElementById(id);
const FIELDS = ["chief_complaint", "mechanism", "injuries", "treatment"];
const NUMERIC = ["hr", "spo2", "sbp", "dbp", "rr", "temp_c", "gcs"];
const RANGES = { dbp: [10, 250], gcs: [3, 15] };
const ERRORS = {
  network: "No connection. Try again when you have signal.",
  permission_denied: "You are not allowed to do that.",
  unknown_destination: "That hospital is not available. Pick another.",
  invalid_transition: "The case has already moved on.",
  too_large: "The photo is too large (10 MB at most).",
  unsupported_type: "Only photos (JPEG, PNG, WebP) or PDF.",
};

const state = {
  caseId: CFG.case_id,
  summary: null,
  device: null,
  uplink: null,
  latest: {}, // name -> value (the phone's own latest readings, for NEWS2)
  acvpu: null,
  o2: null,
  sim: null,
  strip: null,
  lastFix: null,
  fixSentAt: 0,
  watchId: null,
  video: null, // LiveVideo while the camera goes to the hospital
};
const ACTIVE = ["opened", "en_route", "accepted", "arrived"];

function showError(err) {
  const box = $("crew-error");
  if (!err) { box.hidden = true; return; }
  const code = err instanceof ApiError ? err.code : "";
  box.textContent = ERRORS[code] || (err && err.message) || "Something went wrong.";
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

function pressOne(group, value) {
  for (const b of group.querySelectorAll("button[data-value]")) b.setAttribute("aria-pressed", String(b.dataset.value === value));
}

function choiceGroup(group, onPick) {
  group.addEventListener("click", (event) => {
    const b = event.target.closest("button[data-value]");
    if (!b) return;
    pressOne(group, b.dataset.value);
    onPick(b.dataset.value);
  });
}

// ---- Link and backlog indicators -------------------------------------------------
function renderLink(detail) {
  const link = $("crew-link");
  const labels = {
    online: ["Online", "pill-ok"],
    connecting: ["Connecting…", "pill-wait"],
    offline: [navigator.onLine ? "No signal — storing" : "Offline — storing", "pill-bad"],
    refused: ["Signed out", "pill-bad"],
  };
  const [text, cls] = labels[detail.state] || labels.connecting;
  link.textContent = text;
  link.className = "ems-pill " + cls;
  const backlog = $("crew-backlog");
  const n = detail.backlog;
  backlog.textContent = n ? `Outbox ${n} · ≈${Math.ceil(n / 5)} s unsent` : "Outbox 0 · all delivered";
  backlog.className = "ems-pill " + (n === 0 ? "pill-ok" : n > 40 ? "pill-bad" : "pill-wait");
  backlog.dataset.count = String(n);
  $("crew-degraded").hidden = !detail.degraded;
}

// ---- The hospital's answer --------------------------------------------------------
function renderSummary(summary) {
  state.summary = summary;
  setText("case-cat", CATEGORY_LABEL[summary.category] || summary.category);
  $("case-cat").className = "ems-cat cat-" + summary.category;
  const age = summary.estimated_age === null ? "age ?" : `${summary.estimated_age} y`;
  setText("case-who", `${age} · ${{ female: "female", male: "male" }[summary.sex] || "sex ?"}`);
  setText("case-dest", `→ ${summary.destination.name}`);
  if (summary.eta_s !== null && summary.eta_s !== undefined) setText("eta", fmtEta(summary.eta_s));
  const answer = $("answer");
  const title = $("answer-title");
  const detail = $("answer-detail");
  const teams = $("answer-teams");
  teams.replaceChildren();
  const enc = summary.encounter;
  const where = enc ? [enc.department.name, enc.bay ? `Bay ${enc.bay}` : ""].filter(Boolean).join(" · ") : "";
  if (summary.status === "diverted") {
    answer.className = "ems-answer answer-bad";
    title.textContent = "DIVERTED — go elsewhere";
    detail.textContent = "The hospital cannot take this patient. Contact control.";
  } else if (summary.status === "closed") {
    answer.className = "ems-answer answer-wait";
    title.textContent = "Case closed";
    detail.textContent = "";
  } else if (enc && ["accepted", "arrived", "handed_over"].includes(summary.status)) {
    answer.className = "ems-answer answer-ok";
    title.textContent = summary.status === "handed_over" ? "HANDED OVER" : summary.status === "arrived" ? "ARRIVED — ADMITTED" : "ACCEPTED — ADMITTED";
    detail.textContent = where;
  } else {
    answer.className = "ems-answer answer-wait";
    title.textContent = "Waiting for the hospital";
    detail.textContent = summary.status === "en_route" ? "En route. The hospital sees your vitals live." : "The hospital sees this case and your vitals live.";
  }
  for (const a of summary.activations || []) {
    const acks = a.members.filter((m) => m.acknowledged_at).length;
    teams.append(el("li", {}, el("strong", { text: `${a.team.name} activated` }), ` · ${acks}/${a.members.length} acknowledged`));
  }
  $("btn-depart").disabled = !["opened", "accepted"].includes(summary.status) || summary.status === "en_route";
  $("btn-arrive").disabled = !["opened", "en_route", "accepted"].includes(summary.status);
  document.body.dataset.caseStatus = summary.status;
  renderVideo();
}

// ---- Live video to the hospital (the case's room, through the media worker) ---------
// 720p from the rear camera, capped for a cellular uplink shared with the vitals:
// a moving ambulance's LTE uplink often holds 2–5 Mbit/s, so 1.5 Mbit/s leaves room.
const VIDEO_STATUS = {
  connecting: ["Connecting video…", "pill-wait"],
  live: ["Video live", "pill-ok"],
  reconnecting: ["Video reconnecting…", "pill-bad"],
  ended: ["Video ended", "pill-bad"],
  refused: ["Video not allowed", "pill-bad"],
};

function cellularBitrate(height) {
  return height <= 360 ? 500_000 : height <= 720 ? 1_500_000 : 2_500_000;
}

function renderVideo() {
  const summary = state.summary;
  const toggle = $("video-toggle");
  const possible = Boolean(summary && summary.video_room && ACTIVE.includes(summary.status));
  const on = Boolean(state.video);
  toggle.disabled = !possible && !on;
  toggle.setAttribute("aria-pressed", String(on));
  const ended = summary && summary.video_room && !ACTIVE.includes(summary.status);
  toggle.textContent = on ? "Video on — tap to stop" : possible ? "Video to hospital" : ended ? "Video ended" : "Video not available";
  $("video-live").hidden = !on;
  if (on) {
    const [text, cls] = VIDEO_STATUS[state.video.status] || VIDEO_STATUS.connecting;
    const status = $("video-status");
    status.textContent = text;
    status.className = "ems-pill " + cls;
    status.dataset.status = state.video.status;
    const mic = $("video-mic");
    mic.setAttribute("aria-pressed", String(state.video.media.audioOn));
    mic.textContent = state.video.media.audioOn ? "Mic on" : "Mic off";
    mic.disabled = !state.video.media.mic;
  }
}

function startVideo(persist = true) {
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

function stopVideo() {
  if (!state.video) return;
  state.video.close();
  state.video = null;
  localStorage.removeItem(`ems.video.${state.caseId}`);
  renderVideo();
}

// ---- NEWS2 on the phone -------------------------------------------------------------
function renderNews() {
  const v = { ...state.latest };
  if (state.acvpu) v.acvpu = state.acvpu;
  if (state.o2 !== null) v.supplemental_o2 = state.o2;
  const result = news2(v);
  const box = $("news");
  box.className = "ems-news band-" + result.band;
  setText("news-total", result.total === null ? "—" : result.total);
  const missing = Object.entries(result.scores).filter(([, s]) => s === null).map(([k]) => k);
  setText("news-band", result.total === null ? `needs ${missing.map((m) => NEWS_NAMES[m]).join(", ")}` : BAND_TEXT[result.band]);
  const parts = $("news-parts");
  parts.replaceChildren(...Object.entries(result.scores).map(([k, s]) =>
    el("li", { class: s === null ? "s-none" : "s-" + s }, el("span", { text: NEWS_NAMES[k] }), el("b", { text: s === null ? "–" : s }))));
}
const NEWS_NAMES = { rr: "RR", spo2: "SpO₂", o2: "O₂", sbp: "SBP", hr: "HR", acvpu: "ACVPU", temp_c: "Temp" };

// ---- Simulated monitor (ECG 250 Hz in 4 batches/s, numerics at 1 Hz) ----------------
const SCENARIOS = {
  stemi: { hr: 96, spo2: 94, sbp: 108, dbp: 70, rr: 22, temp_c: 36.8, st: 260 },
  stroke: { hr: 84, spo2: 96, sbp: 182, dbp: 100, rr: 16, temp_c: 36.9, st: 0 },
  trauma: { hr: 118, spo2: 93, sbp: 96, dbp: 60, rr: 26, temp_c: 35.8, st: 0 },
  cardiac_arrest: { hr: 108, spo2: 90, sbp: 88, dbp: 50, rr: 10, temp_c: 35.5, st: 80 },
  sepsis: { hr: 124, spo2: 92, sbp: 92, dbp: 55, rr: 26, temp_c: 39.2, st: 0 },
  obstetric: { hr: 104, spo2: 97, sbp: 138, dbp: 92, rr: 20, temp_c: 37.2, st: 0 },
  paediatric: { hr: 130, spo2: 95, sbp: 100, dbp: 62, rr: 28, temp_c: 38.4, st: 0 },
  other: { hr: 82, spo2: 97, sbp: 128, dbp: 80, rr: 16, temp_c: 36.9, st: 0 },
};
const RATE = 250;
const BATCH_MS = 250;

class SimMonitor {
  constructor(category, onEcg, onNumerics) {
    this.base = SCENARIOS[category] || SCENARIOS.other;
    this.now = { ...this.base };
    this.onEcg = onEcg;
    this.onNumerics = onNumerics;
    this.n = 0; // samples emitted since start
    this.t0 = Date.now();
    this.beat = 0; // time (s) of the current beat
    this.next = 0.2;
    this.timer = null;
    this.batches = 0;
  }

  start() {
    this.t0 = Date.now();
    this.n = 0;
    this.timer = setInterval(() => this.tick(), BATCH_MS);
  }

  stop() { clearInterval(this.timer); this.timer = null; }

  value(t) {
    if (t >= this.next) {
      this.beat = this.next;
      this.next = this.beat + (60 / this.now.hr) * (0.97 + Math.random() * 0.06);
    }
    const p = t - this.beat;
    const g = (mu, sd, a) => a * Math.exp(-((p - mu) ** 2) / (2 * sd * sd));
    let v = g(0.10, 0.022, 130) + g(0.205, 0.008, -110) + g(0.225, 0.010, 1150) + g(0.245, 0.010, -280) + g(0.44, 0.045, 300);
    if (this.base.st && p > 0.26 && p < 0.42) v += this.base.st * Math.sin(((p - 0.26) / 0.16) * Math.PI * 0.5 + 0.3);
    v += 40 * Math.sin(2 * Math.PI * 0.25 * t) + (Math.random() - 0.5) * 24;
    return Math.max(-32768, Math.min(32767, Math.round(v)));
  }

  tick() {
    // Catch up on the wall clock: every sample due by now, in whole batches.
    const due = Math.floor(((Date.now() - this.t0) / 1000) * RATE);
    while (this.n + 62 <= due) {
      const k = this.batches;
      const count = Math.floor(((k + 1) * RATE * BATCH_MS) / 1000) - Math.floor((k * RATE * BATCH_MS) / 1000);
      const samples = [];
      for (let i = 0; i < count; i++) samples.push(this.value((this.n + i) / RATE));
      const t0 = this.t0 + (this.n / RATE) * 1000;
      this.n += count;
      this.batches += 1;
      this.onEcg({ sample_t0: t0, rate_hz: RATE, payload: { lead: "II", unit: "uV", samples } }, samples);
      if (this.batches % 4 === 0) this.numerics(t0);
    }
  }

  numerics(t0) {
    const drift = (name, step, lo, hi) => {
      const target = this.base[name];
      let x = this.now[name] + (Math.random() - 0.5) * step + (target - this.now[name]) * 0.1;
      x = Math.max(lo, Math.min(hi, x));
      this.now[name] = x;
      return x;
    };
    const values = {
      hr: Math.round(drift("hr", 3, 30, 220)),
      spo2: Math.round(Math.min(100, drift("spo2", 1, 70, 100))),
      sbp: Math.round(drift("sbp", 3, 50, 240)),
      dbp: Math.round(drift("dbp", 2, 30, 140)),
      rr: Math.round(drift("rr", 1.2, 6, 50)),
      temp_c: Math.round(drift("temp_c", 0.05, 33, 42) * 10) / 10,
    };
    this.onNumerics({ sample_t0: t0, values });
  }
}

async function writeNumerics(values, sampleT0 = Date.now()) {
  const full = { ...values };
  if (state.acvpu && full.acvpu === undefined) full.acvpu = state.acvpu;
  if (state.o2 !== null && full.supplemental_o2 === undefined) full.supplemental_o2 = state.o2;
  return state.uplink.write("numerics", { sample_t0: sampleT0, payload: { values: full } });
}

function applyLatest(values) {
  for (const [k, v] of Object.entries(values)) {
    if (NUMERIC.includes(k) && typeof v === "number" && (plausible(k, v) && (!RANGES[k] || (v >= RANGES[k][0] && v <= RANGES[k][1])))) state.latest[k] = v;
  }
  renderNews();
}

function startDevice(persist = true) {
  if (state.sim || !state.summary) return;
  const canvas = $("crew-ecg");
  canvas.hidden = false;
  if (!state.strip) state.strip = new EcgStrip(canvas, { seconds: 5 });
  state.strip.resize();
  state.sim = new SimMonitor(state.summary.category, (batch, samples) => {
    state.uplink.write("ecg", batch).catch(showError);
    state.strip.push(samples, RATE);
  }, ({ sample_t0, values }) => {
    writeNumerics(values, sample_t0).catch(showError);
    applyLatest(values);
    for (const [k, v] of Object.entries(values)) { const input = $("v-" + k); if (input && document.activeElement !== input) input.value = v; }
  });
  state.sim.start();
  const toggle = $("device-toggle");
  toggle.setAttribute("aria-pressed", "true");
  toggle.textContent = "Monitor streaming — tap to disconnect";
  if (persist) localStorage.setItem(`ems.device.${state.caseId}`, "1");
}

function stopDevice() {
  if (!state.sim) return;
  state.sim.stop();
  state.sim = null;
  const toggle = $("device-toggle");
  toggle.setAttribute("aria-pressed", "false");
  toggle.textContent = "Connect monitor (simulated)";
  localStorage.removeItem(`ems.device.${state.caseId}`);
}

// ---- Manual vitals ----------------------------------------------------------------------
async function sendManualVitals(event) {
  event.preventDefault();
  const values = {};
  const odd = [];
  for (const name of NUMERIC) {
    const input = $("v-" + name);
    input.classList.remove("implausible");
    if (input.value.trim() === "") continue;
    const v = Number(input.value);
    if (!Number.isFinite(v)) { odd.push(name); input.classList.add("implausible"); continue; }
    values[name] = name === "temp_c" ? Math.round(v * 10) / 10 : Math.round(v);
    const range = RANGES[name];
    if (!plausible(name, v) || (range && (v < range[0] || v > range[1]))) { odd.push(name); input.classList.add("implausible"); }
  }
  if (state.acvpu) values.acvpu = state.acvpu;
  if (state.o2 !== null) values.supplemental_o2 = state.o2;
  const warn = $("vitals-warn");
  if (odd.length) {
    warn.textContent = `Check ${odd.join(", ")}: outside what a patient can have. Sent as typed, flagged, not scored.`;
    warn.hidden = false;
  } else warn.hidden = true;
  if (!Object.keys(values).length) { setText("vitals-sent", "Nothing to send yet."); return; }
  try {
    await writeNumerics(values);
    applyLatest(values);
    setText("vitals-sent", `Stored ${new Date().toLocaleTimeString()} — ${state.uplink.open ? "sending" : "will send when the signal returns"}.`);
  } catch (err) { showError(err); }
}

// ---- Location and ETA ---------------------------------------------------------------------
function sendFix(force = false) {
  const fix = state.lastFix;
  if (!fix || !state.uplink || !state.uplink.open) return;
  if (!force && Date.now() - state.fixSentAt < 5000) return;
  state.fixSentAt = Date.now();
  state.uplink._send({ type: "location", ...fix });
}

function startGps() {
  if (!("geolocation" in navigator) || state.watchId !== null) return;
  state.watchId = navigator.geolocation.watchPosition((pos) => {
    const c = pos.coords;
    const num = (x, lo, hi) => (typeof x === "number" && Number.isFinite(x) && x >= lo && x <= hi ? x : null);
    state.lastFix = {
      lat: c.latitude, lon: c.longitude,
      accuracy_m: num(c.accuracy, 0, 100000), speed_mps: num(c.speed, 0, 150), heading: num(c.heading, 0, 360),
      at: pos.timestamp || Date.now(),
    };
    setText("gps", `GPS ±${Math.round(c.accuracy || 0)} m`);
    sendFix();
  }, (err) => {
    setText("gps", err.code === 1 ? "GPS not allowed" : "GPS unavailable");
  }, { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
}

// ---- Photos -------------------------------------------------------------------------------
async function shrink(file) {
  // Downscale big photos before they cross a weak link (JPEG, longest side 1600 px).
  if (!file.type.startsWith("image/") || file.size < 400 * 1024 || !window.createImageBitmap) return file;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.82));
    return blob || file;
  } catch (_) { return file; }
}

async function uploadPhoto(file) {
  const item = el("li", { class: "photo-pending" }, el("span", { text: `Photo ${new Date().toLocaleTimeString()} — uploading…` }));
  $("photo-list").prepend(item);
  const body = await shrink(file);
  for (let attempt = 0; attempt < 6; attempt++) {
    try {
      const form = new FormData();
      form.append("file", body, "photo.jpg");
      form.append("kind", "photo");
      const res = await api(`/api/emergency/cases/${state.caseId}/attachments/`, { method: "POST", form, timeoutMs: 60000 });
      item.className = "photo-ok";
      item.firstChild.textContent = `Photo ${new Date().toLocaleTimeString()} — sent (${Math.round(res.size / 1024)} KB)`;
      return;
    } catch (err) {
      if (err.code !== "network") { item.className = "photo-bad"; item.firstChild.textContent = ERRORS[err.code] || err.message; return; }
      item.firstChild.textContent = "Photo — no signal, retrying…";
      await new Promise((r) => setTimeout(r, 2000 * 2 ** attempt));
    }
  }
  item.className = "photo-bad";
  item.firstChild.textContent = "Photo not sent — no signal. Take it again later.";
}

// ---- Case lifecycle --------------------------------------------------------------------------
async function startCase(caseId) {
  state.caseId = caseId;
  $("crew-new").hidden = true;
  $("crew-case").hidden = false;
  setText("case-id", caseId);
  // The query string stays: ``?video=<lines>&fps=<rate>`` caps the camera (weak links, tests).
  if (location.pathname !== `/emergency/crew/${caseId}/`) history.replaceState(null, "", `/emergency/crew/${caseId}/${location.search}`);
  const saved = (await metaGet(`case.${caseId}`)) || {};
  if (saved.acvpu) { state.acvpu = saved.acvpu; pressOne($("acvpu-buttons"), saved.acvpu); }
  if (typeof saved.o2 === "boolean") { state.o2 = saved.o2; pressOne($("o2-buttons"), saved.o2 ? "o2" : "air"); }
  renderNews();
  const uplink = new Uplink(caseId, state.device);
  state.uplink = uplink;
  uplink.addEventListener("status", (e) => {
    renderLink(e.detail);
    if (e.detail.state === "online") sendFix(true);
  });
  uplink.addEventListener("message", (e) => onServer(e.detail));
  uplink.addEventListener("refused", () => showError(new Error("The hospital link refused this phone. Sign in again.")));
  await uplink.load();
  uplink.connect();
  try {
    const detail = await api(`/api/emergency/cases/${caseId}/`);
    renderSummary(detail);
    for (const f of FIELDS) $("d-" + f).value = detail.text[f] || "";
    for (const [k, v] of Object.entries(detail.vitals || {})) if (!(k in state.latest) && NUMERIC.includes(k)) state.latest[k] = v;
    renderNews();
  } catch (err) {
    if (err.code === "http_404" || err.status === 404) { showError(new Error("This case is not one of your crew's.")); return; }
    showError(err);
  }
  if (localStorage.getItem(`ems.device.${caseId}`) === "1") startDevice(false);
  if (localStorage.getItem(`ems.video.${caseId}`) === "1") startVideo(false);
  startGps();
}

function onServer(msg) {
  if (msg.type === "resync") {
    // The server's channel layer was down or restarted: the hospital's answer
    // may have been missed, so reload the case (vitals are unaffected).
    api(`/api/emergency/cases/${state.caseId}/`).then(renderSummary).catch(() => {});
    return;
  }
  if (msg.type === "case" && msg.case && msg.case.id === state.caseId) renderSummary(msg.case);
  else if (msg.type === "eta" || msg.type === "location") {
    setText("eta", fmtEta(msg.eta_s));
    setText("eta-dist", msg.distance_m ? `${(msg.distance_m / 1000).toFixed(1)} km` : "");
  } else if (msg.type === "vitals" && msg.news2) {
    $("news").dataset.server = msg.news2.total === null ? "" : String(msg.news2.total);
  }
}

async function openCase(event) {
  event.preventDefault();
  const cat = $("cat-buttons").querySelector("[aria-pressed=true]");
  const dest = $("f-destination").value;
  if (!cat) { showError(new Error("Pick a category.")); return; }
  if (!dest) { showError(new Error("Pick the destination hospital.")); return; }
  const ageRaw = $("f-age").value.trim();
  const sex = ($("sex-buttons").querySelector("[aria-pressed=true]") || {}).dataset || {};
  const body = { category: cat.dataset.value, destination: Number(dest), sex: sex.value || "unknown" };
  if (ageRaw !== "") body.estimated_age = Math.max(0, Math.min(120, Math.round(Number(ageRaw))));
  for (const f of FIELDS) { const v = $("f-" + f).value.trim(); if (v) body[f] = v; }
  const button = $("open-case");
  button.disabled = true;
  try {
    const created = await api("/api/emergency/cases/", { method: "POST", body });
    await startCase(created.id);
    renderSummary(created);
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
  }
}

async function step(path) {
  try { renderSummary(await api(`/api/emergency/cases/${state.caseId}/${path}/`, { method: "POST" })); } catch (err) { showError(err); }
}

async function saveDetails() {
  const body = {};
  for (const f of FIELDS) body[f] = $("d-" + f).value.trim();
  try {
    await api(`/api/emergency/cases/${state.caseId}/`, { method: "PATCH", body });
    setText("details-saved", "Saved.");
  } catch (err) { showError(err); }
}

async function loadHospitals() {
  const select = $("f-destination");
  try {
    const { hospitals } = await api("/api/emergency/hospitals/");
    select.replaceChildren(el("option", { value: "", text: hospitals.length ? "Choose…" : "No receiving hospital" }),
      ...hospitals.map((h) => el("option", { value: h.id, text: h.name })));
    if (hospitals.length === 1) select.value = String(hospitals[0].id);
    const last = localStorage.getItem("ems.lastDestination");
    if (last && hospitals.some((h) => String(h.id) === last)) select.value = last;
  } catch (err) {
    select.replaceChildren(el("option", { value: "", text: "Could not load hospitals" }));
    showError(err);
  }
}

async function loadCrewCases() {
  try {
    const { cases } = await api("/api/emergency/cases/");
    const list = $("crew-case-list");
    list.replaceChildren(...cases.map((c) => el("li", {}, el("a", { class: "ems-big ems-caselink", href: `/emergency/crew/${c.id}/` },
      el("strong", { text: CATEGORY_LABEL[c.category] || c.category }), ` · ${c.status.replace("_", " ")} → ${c.destination.name}`))));
    $("crew-cases").hidden = cases.length === 0;
  } catch (_) { /* the form still works */ }
}

/** Outboxes of other cases left from an earlier session: deliver them over HTTP. */
async function drainOthers() {
  const pending = await pendingByCase();
  for (const caseId of Object.keys(pending)) {
    if (caseId === state.caseId) continue;
    const db = await openDb();
    const rows = await pendingBatches(caseId, 32);
    if (!rows.length) continue;
    try {
      const res = await api(`/api/emergency/cases/${caseId}/vitals/`, { method: "POST", body: { batches: rows } });
      const tx = db.transaction(["batches", "streams"], "readwrite");
      for (const ack of res.acks) {
        tx.objectStore("batches").delete(IDBKeyRange.bound([ack.stream, 0], [ack.stream, ack.acked_through]));
        const req = tx.objectStore("streams").get(ack.stream);
        req.onsuccess = () => { if (req.result) tx.objectStore("streams").put({ ...req.result, acked_through: Math.max(req.result.acked_through, ack.acked_through) }); };
      }
    } catch (_) { /* next time */ }
  }
}

function wireLogout() {
  // Sign-out wipes the outbox: nothing clinical stays on a shared phone.
  const form = document.querySelector('form[action$="/accounts/logout/"]');
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    if (form.dataset.wiped) return;
    event.preventDefault();
    const backlog = state.uplink ? state.uplink.backlog() : 0;
    if (backlog > 0 && !window.confirm(`${backlog} vitals batches are not delivered yet. Sign out and delete them from this phone?`)) return;
    if (state.sim) state.sim.stop();
    if (state.video) state.video.close();
    if (state.uplink) state.uplink.stop();
    for (const key of Object.keys(localStorage)) if (key.startsWith("ems.")) localStorage.removeItem(key);
    await wipeAll();
    form.dataset.wiped = "1";
    form.submit();
  });
}

async function init() {
  // Hooks for the browser tests (and a field "airplane mode" check).
  window.__crew = {
    get caseId() { return state.caseId; },
    get device() { return state.device; },
    dropSocket: () => state.uplink && state.uplink.drop(),
    blockSocket: (ms) => { blockSocket(ms); if (state.uplink) state.uplink.drop(); },
    allowSocket: () => { allowSocket(); if (state.uplink) state.uplink.retryNow(); },
    backlog: () => (state.uplink ? state.uplink.backlog() : 0),
    stats: () => (state.uplink ? { ...state.uplink.stats, state: state.uplink.state } : { written: 0, acked: 0, state: "starting" }),
    streams: () => (state.uplink ? [...state.uplink.streams.values()].map((s) => ({ stream: s.stream, kind: s.kind, next_seq: s.next_seq, acked_through: s.acked_through })) : []),
    startDevice: () => startDevice(),
    stopDevice: () => stopDevice(),
    flushWrites: () => (state.uplink ? state.uplink.writeChain : Promise.resolve()),
    get video() { return state.video; },
  };
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  state.device = await deviceId();
  // The outbox key comes from the server for this user and device; writes wait for it.
  unlockOutbox(state.device).catch(showError);
  setText("device-id", state.device);
  wireLogout();
  const cats = $("cat-buttons");
  cats.replaceChildren(...CATEGORIES.map(([value, label]) =>
    el("button", { type: "button", class: "ems-choice cat-" + value, "data-value": value, "aria-pressed": "false", text: label })));
  choiceGroup(cats, () => {});
  choiceGroup($("sex-buttons"), () => {});
  choiceGroup($("acvpu-buttons"), (v) => {
    state.acvpu = v;
    metaSet(`case.${state.caseId}`, { acvpu: state.acvpu, o2: state.o2 });
    renderNews();
    if (!state.sim) writeNumerics({ acvpu: v }).catch(showError);
  });
  choiceGroup($("o2-buttons"), (v) => {
    state.o2 = v === "o2";
    metaSet(`case.${state.caseId}`, { acvpu: state.acvpu, o2: state.o2 });
    renderNews();
    if (!state.sim) writeNumerics({ supplemental_o2: state.o2 }).catch(showError);
  });
  $("new-case").addEventListener("submit", openCase);
  $("f-destination").addEventListener("change", (e) => localStorage.setItem("ems.lastDestination", e.target.value));
  $("vitals-form").addEventListener("submit", sendManualVitals);
  $("device-toggle").addEventListener("click", () => (state.sim ? stopDevice() : startDevice()));
  $("video-toggle").addEventListener("click", () => (state.video ? stopVideo() : startVideo()));
  $("video-mic").addEventListener("click", () => { if (state.video) state.video.media.setMic(!state.video.media.audioOn); });
  $("video-sound").addEventListener("click", () => {
    for (const a of document.querySelectorAll("#video-audio audio")) a.play().catch(() => {});
    $("video-sound").hidden = true;
  });
  $("photo-input").addEventListener("change", (e) => {
    const file = e.target.files && e.target.files[0];
    if (file) uploadPhoto(file);
    e.target.value = "";
  });
  $("btn-depart").addEventListener("click", () => step("depart"));
  $("btn-arrive").addEventListener("click", () => step("arrive"));
  $("save-details").addEventListener("click", saveDetails);
  renderLink({ state: "connecting", backlog: 0, degraded: false });
  if (state.caseId) {
    await startCase(state.caseId);
  } else {
    $("crew-new").hidden = false;
    loadHospitals();
    loadCrewCases();
  }
  drainOthers().catch(() => {});

  document.body.dataset.crewReady = "1";
}

init().catch((err) => showError(err));
