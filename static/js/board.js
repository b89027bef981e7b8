// The hospital's command board: inbound cases live, ordered by ETA and severity;
// an opened case shows its live ECG (gap-checked by seq, backfilled over HTTP),
// pre-admission, team activation and acknowledgements, arrival, handover.
// Plain ES module; all data text goes in through textContent. Its parts are in
// board/: the opened case's waveforms and its live video.

import {
  ApiError, CATEGORY_LABEL, EcgStrip, STATUS_LABEL, TREND_ARROW, TREND_WORD, api, el, fmtAge, fmtEta, fmtTime, fmtVital, setText, wsUrl,
} from "./ems.js";
import { RoomSocket } from "./room/socket.js";
import { CaseVideo } from "./board/video.js";
import { Waveforms } from "./board/waveforms.js";

const CFG = JSON.parse(document.getElementById("board-config").textContent);
const $ = (id) => document.getElementById(id);
const PING_MS = 15000;
const ERRORS = {
  network: "No connection to the server.",
  invalid_transition: "The case has already moved on; the board is refreshed.",
  no_team: "No team is set up for this kind of case.",
  unknown_department: "Pick a department of this hospital.",
  permission_denied: "You are not allowed to do that.",
};

const cases = new Map(); // id -> summary (with etaAtMs)
let focusId = null;
let focusDetail = null;
let strip = null;
let skewMs = 0; // server clock minus ours
let lastPong = Date.now();
const stats = { live: 0, backfilled: 0, duplicates: 0, gaps: 0, skipped: 0, samples: 0, resyncs: 0 };
const waveforms = new Waveforms({ focus: () => focusId, strip: () => strip, stats });
const video = new CaseVideo({ focused: () => (focusId ? cases.get(focusId) : null), showError });
window.__board = {
  stats, cases, get focus() { return focusId; },
  get video() { return video.live; },
  dropLiveWaveforms: (n) => { waveforms.dropLive = n; },
  lastSeqs: () => waveforms.lastSeqs(),
};

function showError(err) {
  const box = $("board-error");
  const code = err instanceof ApiError ? err.code : "";
  box.textContent = ERRORS[code] || (err && err.message) || "Something went wrong.";
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

// ---- Summaries and ordering ---------------------------------------------------------
function absorb(summary) {
  const prev = cases.get(summary.id);
  const etaAtMs = summary.eta_at ? Date.parse(summary.eta_at) - skewMs : null;
  const merged = { ...summary, etaAtMs, flags: prev ? prev.flags : [] };
  cases.set(summary.id, merged);
  return merged;
}

function etaSeconds(c) {
  if (!["opened", "en_route", "accepted", "arrived"].includes(c.status)) return null;
  if (c.etaAtMs === null || c.etaAtMs === undefined) return null;
  return Math.max(0, (c.etaAtMs - Date.now()) / 1000);
}

function ordered() {
  const active = [...cases.values()].filter((c) => ["opened", "en_route", "accepted", "arrived"].includes(c.status));
  return active.sort((a, b) => {
    const ea = etaSeconds(a) ?? Infinity;
    const eb = etaSeconds(b) ?? Infinity;
    if (ea !== eb) return ea - eb;
    const na = a.news2.total ?? -1;
    const nb = b.news2.total ?? -1;
    if (na !== nb) return nb - na;
    return a.opened_at < b.opened_at ? -1 : 1;
  });
}

function vitalsLine(v) {
  const bp = v.sbp !== undefined ? `${fmtVital("sbp", v.sbp)}/${v.dbp !== undefined ? fmtVital("dbp", v.dbp) : "—"}` : "—";
  return [
    ["HR", fmtVital("hr", v.hr)], ["SpO₂", fmtVital("spo2", v.spo2)], ["BP", bp], ["RR", fmtVital("rr", v.rr)], ["T", fmtVital("temp_c", v.temp_c)],
  ];
}

function myPendingAcks(c) {
  const out = [];
  for (const a of c.activations || []) for (const m of a.members) if (m.user === CFG.user_id && !m.acknowledged_at) out.push(a);
  return out;
}

function renderList() {
  const list = $("case-list");
  const rows = ordered();
  setText("board-count", rows.length ? `(${rows.length})` : "");
  $("board-empty").hidden = rows.length > 0;
  list.replaceChildren(...rows.map((c) => {
    const band = c.news2.band || "unknown";
    const trend = c.news2.trend || "unknown";
    const acks = (c.activations || []).reduce((acc, a) => acc + a.members.filter((m) => m.acknowledged_at).length, 0);
    const members = (c.activations || []).reduce((acc, a) => acc + a.members.length, 0);
    const row = el("li", {
      class: `board-case band-${band}${c.id === focusId ? " is-open" : ""}`,
      dataset: { case: c.id, status: c.status },
    },
    el("button", { type: "button", class: "board-case-btn", "aria-label": `Open ${CATEGORY_LABEL[c.category] || c.category}, crew ${c.crew.call_sign}` },
      el("span", { class: "bc-news" },
        el("strong", { class: "bc-news-total", text: c.news2.total ?? "—" }),
        el("span", { class: "bc-trend trend-" + trend, title: TREND_WORD[trend] || "", text: TREND_ARROW[trend] || "" })),
      el("span", { class: "bc-who" },
        el("span", { class: "ems-cat cat-" + c.category, text: CATEGORY_LABEL[c.category] || c.category }),
        el("span", { class: "bc-age", text: fmtAge(c) }),
        el("span", { class: "bc-crew muted", text: `${c.crew.call_sign} · ${c.service.name}` }),
        el("span", { class: "bc-status status-" + c.status, text: STATUS_LABEL[c.status] || c.status }),
        c.encounter ? el("span", { class: "bc-enc", text: [c.encounter.department.name, c.encounter.bay].filter(Boolean).join(" · ") }) : null,
        members ? el("span", { class: "bc-teams", text: `Teams ${acks}/${members} ack` }) : null),
      el("span", { class: "bc-vitals" }, ...vitalsLine(c.vitals || {}).map(([k, v]) => el("span", {}, el("small", { text: k }), el("b", { text: v })))),
      el("span", { class: "bc-eta" }, el("strong", { text: c.status === "arrived" ? "here" : fmtEta(etaSeconds(c)) }),
        el("small", { class: "muted", text: c.distance_m ? `${(c.distance_m / 1000).toFixed(1)} km` : "" }))));
    row.querySelector("button").addEventListener("click", () => openCase(c.id));
    return row;
  }));
  renderTeamAlerts();
}

function renderTeamAlerts() {
  const box = $("team-alerts");
  const items = [];
  for (const c of cases.values()) {
    for (const a of myPendingAcks(c)) {
      items.push(el("div", { class: "team-alert", role: "alert" },
        el("strong", { text: `${a.team.name} activated` }),
        el("span", { text: ` · ${CATEGORY_LABEL[c.category] || c.category} · ${fmtAge(c)} · ETA ${fmtEta(etaSeconds(c))}` }),
        el("button", { type: "button", class: "primary", text: "Acknowledge", onclick: (e) => acknowledge(a.id, e.target) }),
        el("button", { type: "button", text: "Open", onclick: () => openCase(c.id) })));
    }
  }
  box.replaceChildren(...items);
}

async function acknowledge(activationId, button) {
  button.disabled = true;
  try {
    await api(`/api/emergency/activations/${activationId}/acknowledge/`, { method: "POST" });
  } catch (err) { showError(err); button.disabled = false; }
}

// ---- The opened case -----------------------------------------------------------------------
/** Close the case detail: its waveforms and its video stop. */
function closeCase() {
  if (!focusId) return;
  sock.send({ type: "unsubscribe", case: focusId });
  waveforms.clear();
  focusId = null;
  focusDetail = null;
  video.sync();
  $("case-panel").hidden = true;
  history.replaceState(null, "", location.pathname);
  renderList();
}

async function openCase(id) {
  if (focusId && focusId !== id) sock.send({ type: "unsubscribe", case: focusId });
  waveforms.keepCase(id);
  focusId = id;
  history.replaceState(null, "", `?case=${id}`);
  $("case-panel").hidden = false;
  if (!strip) strip = new EcgStrip($("p-ecg"), { seconds: 6 });
  strip.queue.length = 0;
  strip.resize();
  strip.clear();
  setText("p-ecg-note", "Waiting for ECG…");
  renderList();
  renderPanel();
  video.sync();
  sock.send({ type: "subscribe", case: id });
  try {
    focusDetail = await api(`/api/emergency/cases/${id}/`);
    if (focusDetail.id !== focusId) return;
    absorb(focusDetail);
    renderPanel();
    loadTimeline();
  } catch (err) { showError(err); }
}

function renderPanel() {
  const c = cases.get(focusId);
  if (!c) return;
  setText("p-title", `${CATEGORY_LABEL[c.category] || c.category} · ${fmtAge(c)}`);
  setText("p-sub", `Crew ${c.crew.call_sign} · ${c.service.name} · opened ${fmtTime(c.opened_at)} · ETA ${c.status === "arrived" ? "arrived" : fmtEta(etaSeconds(c))}`);
  const band = c.news2.band || "unknown";
  $("p-news").className = "ems-news-chip band-" + band;
  setText("p-news-total", c.news2.total ?? "—");
  setText("p-news-trend", `${TREND_ARROW[c.news2.trend] || ""} ${TREND_WORD[c.news2.trend] || ""}`);
  setText("p-status", STATUS_LABEL[c.status] || c.status);
  $("p-status").className = "status-tag status-" + c.status;
  const v = c.vitals || {};
  const dl = $("p-vitals");
  const bp = `${fmtVital("sbp", v.sbp)}/${fmtVital("dbp", v.dbp)}`;
  const pairs = [["HR", fmtVital("hr", v.hr), "/min"], ["SpO₂", fmtVital("spo2", v.spo2), "%"], ["BP", bp, "mmHg"], ["RR", fmtVital("rr", v.rr), "/min"],
    ["Temp", fmtVital("temp_c", v.temp_c), "°C"], ["ACVPU", fmtVital("acvpu", v.acvpu), ""], ["O₂", fmtVital("supplemental_o2", v.supplemental_o2), ""], ["GCS", fmtVital("gcs", v.gcs), ""]];
  dl.replaceChildren(...pairs.map(([k, val, unit]) => el("div", { class: "pv" }, el("dt", { text: k }), el("dd", {}, el("b", { text: val }), el("small", { text: unit })))));
  const flags = c.flags || [];
  $("p-flags").hidden = flags.length === 0;
  setText("p-flags", flags.length ? `Implausible readings flagged (not scored): ${flags.join(", ")}` : "");
  // Answer and actions.
  const enc = c.encounter;
  const answer = $("p-answer");
  answer.className = "p-answer " + (enc ? "answer-ok" : "answer-wait");
  answer.textContent = enc ? `Pre-admitted: ${enc.department.name}${enc.bay ? " · Bay " + enc.bay : ""} (encounter ${enc.status})` : "Not yet accepted.";
  const acceptable = ["opened", "en_route"].includes(c.status);
  $("accept-form").hidden = !acceptable;
  const matching = teamsFor(c.category);
  const teamBox = $("accept-teams");
  teamBox.disabled = matching.length === 0;
  if (matching.length === 0) teamBox.checked = false;
  else if (!teamBox.dataset.touched) teamBox.checked = true;
  setText("accept-teams-label", matching.length ? `Activate ${matching.map((t) => t.name).join(", ")}` : "No team is set up for this category");
  $("btn-activate").hidden = matching.length === 0;
  $("btn-activate").disabled = !["opened", "en_route", "accepted", "arrived"].includes(c.status);
  $("btn-arrived").disabled = !["opened", "en_route", "accepted"].includes(c.status);
  $("btn-handover").disabled = c.status !== "arrived";
  $("p-handoff").href = `/emergency/cases/${c.id}/handoff/`;
  video.sync();
  const teams = $("p-teams");
  teams.replaceChildren(...(c.activations || []).map((a) => el("li", {},
    el("strong", { text: a.team.name }), el("span", { class: "muted", text: ` activated ${fmtTime(a.activated_at)}` }),
    el("ul", { class: "p-members" }, ...a.members.map((m) => el("li", { class: m.acknowledged_at ? "ack-yes" : "ack-no" },
      el("span", { text: m.name }), el("span", { text: m.acknowledged_at ? ` ✓ acknowledged ${fmtTime(m.acknowledged_at)}` : " … not yet" })))))));
  if (!teams.children.length) teams.append(el("li", { class: "muted", text: "None activated." }));
  // Free text and attachments come with the detail (audited read).
  if (focusDetail && focusDetail.id === c.id) {
    const t = focusDetail.text || {};
    const rows = [["Complaint", t.chief_complaint], ["Mechanism", t.mechanism], ["Injuries", t.injuries], ["Treatment", t.treatment],
      ["Allergies", t.allergies], ["Medications", t.medications], ["Background", t.background], ["Other", t.other]].filter(([, x]) => x);
    $("p-text").replaceChildren(...(rows.length ? rows.flatMap(([k, x]) => [el("dt", { text: k }), el("dd", { text: x })]) : [el("dd", { class: "muted", text: "Nothing written yet." })]));
    const att = $("p-attachments");
    const items = (focusDetail.attachments || []).map((a) => {
      const url = `/api/emergency/cases/${c.id}/attachments/${a.id}/`;
      return el("li", {}, a.content_type.startsWith("image/")
        ? el("a", { href: url, target: "_blank", rel: "noopener" }, el("img", { src: url, alt: `${a.kind} ${fmtTime(a.uploaded_at)}`, loading: "lazy" }))
        : el("a", { href: url, target: "_blank", rel: "noopener", text: `${a.kind} (${Math.round(a.size / 1024)} KB)` }));
    });
    att.replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: "None." })]));
  }
}

async function loadTimeline() {
  if (!focusId) return;
  const id = focusId;
  try {
    const tl = await api(`/api/emergency/cases/${id}/timeline/`);
    if (id !== focusId) return;
    $("p-timeline").replaceChildren(...tl.events.map((e) => el("li", {}, el("time", { text: fmtTime(e.at) }), el("span", { text: " " + e.label }))));
    const iv = tl.intervals;
    const m = (s) => (s === null || s === undefined ? "—" : `${Math.round(s / 60)} min`);
    setText("p-intervals", `Call-to-door ${m(iv.call_to_door_s)} · open-to-accept ${m(iv.open_to_accept_s)} · call-to-team ${m(iv.call_to_team_activation_s)} · door-to-team ${m(iv.door_to_team_s)}`);
  } catch (_) { /* the timeline is secondary */ }
}

async function act(path, body) {
  if (!focusId) return;
  try {
    const summary = await api(`/api/emergency/cases/${focusId}/${path}/`, { method: "POST", body });
    if (summary.team_activation === "no_team") showError(new Error("Accepted. No team is set up for this category, so none was activated."));
    absorb(summary);
    renderList();
    renderPanel();
    loadTimeline();
  } catch (err) {
    showError(err);
    if (err.code === "invalid_transition") refreshAll();
  }
}

// ---- Vitals of every case (numerics and NEWS2) ---------------------------------------------
function onVitals(msg) {
  const c = cases.get(msg.case);
  if (!c) return;
  const bad = new Set((msg.flags || []).map((f) => f.split(":")[0]));
  if (bad.has("bp")) { bad.add("sbp"); bad.add("dbp"); }
  const values = { ...(c.vitals || {}) };
  for (const [k, v] of Object.entries(msg.values || {})) {
    if (v === null || v === undefined || bad.has(k)) continue;
    if (typeof v === "string" && k !== "acvpu") continue; // a device's "---"
    values[k] = k === "acvpu" ? String(v).toUpperCase() : v;
  }
  c.vitals = values;
  c.flags = msg.flags || [];
  if (msg.news2) c.news2 = msg.news2;
  scheduleRender();
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => { renderQueued = false; renderList(); if (focusId) renderPanel(); }, 250);
}

// ---- Socket --------------------------------------------------------------------------------
const sock = new RoomSocket(wsUrl("/ws/emergency/board/"));

async function refreshAll() {
  try {
    const { cases: list } = await api("/api/emergency/cases/");
    const seen = new Set();
    for (const s of list) { absorb(s); seen.add(s.id); }
    for (const id of [...cases.keys()]) if (!seen.has(id) && id !== focusId) cases.delete(id);
    renderList();
    if (focusId) renderPanel();
  } catch (err) { showError(err); }
}

sock.addEventListener("open", () => {
  $("board-link").textContent = "Live";
  $("board-link").className = "ems-pill pill-ok";
  lastPong = Date.now();
  refreshAll();
  // Streams keep their last seq: the "subscribed" answer backfills the gap.
  if (focusId) sock.send({ type: "subscribe", case: focusId });
});
sock.addEventListener("down", (e) => {
  $("board-link").textContent = `Reconnecting in ${Math.ceil(e.detail.wait / 1000)} s…`;
  $("board-link").className = "ems-pill pill-bad";
});
sock.addEventListener("refused", () => {
  $("board-link").textContent = "Signed out";
  $("board-link").className = "ems-pill pill-bad";
});
sock.addEventListener("message", (e) => {
  const msg = e.detail;
  switch (msg.type) {
    case "ready":
      if (typeof msg.server_ms === "number") skewMs = msg.server_ms - Date.now();
      break;
    case "pong":
      lastPong = Date.now();
      break;
    case "case": {
      const prev = cases.get(msg.case.id);
      absorb(msg.case);
      scheduleRender();
      if (msg.case.id === focusId && (!prev || prev.updated_at !== msg.case.updated_at)) {
        // Case changes are rare (status, teams, text, attachments): refresh the detail.
        loadTimeline();
        api(`/api/emergency/cases/${focusId}/`).then((d) => { if (d.id === focusId) { focusDetail = d; renderPanel(); } }).catch(() => {});
      }
      break;
    }
    case "vitals": onVitals(msg); break;
    case "location": {
      const c = cases.get(msg.case);
      if (c) {
        c.etaAtMs = msg.eta_at ? Date.parse(msg.eta_at) - skewMs : null;
        c.distance_m = msg.distance_m;
        c.position = { lat: msg.lat, lon: msg.lon };
        scheduleRender();
      }
      break;
    }
    case "subscribed": waveforms.onSubscribed(msg); break;
    case "resync":
      // The server's channel layer was down or restarted: live messages may be
      // lost. Reload the cases and catch up the open case's streams by seq.
      stats.resyncs += 1;
      refreshAll();
      if (focusId) sock.send({ type: "subscribe", case: focusId });
      break;
    case "waveform": waveforms.onWaveform(msg); break;
    case "team_alert":
      refreshAll();
      break;
    case "error":
      if (msg.code !== "rate_limited") showError(new Error(msg.detail || msg.code));
      break;
    default:
  }
});

setInterval(() => {
  if (!sock.open) return;
  if (Date.now() - lastPong > 2 * PING_MS + 2000) { sock.kick(); return; }
  sock.send({ type: "ping", t0: Date.now() });
}, PING_MS);
// ETAs count down between updates.
setInterval(() => { renderList(); if (focusId) renderPanel(); }, 15000);

// ---- Actions --------------------------------------------------------------------------------
let teams = [];
function teamsFor(category) { return teams.filter((t) => (t.activates_for || []).includes(category)); }

async function loadTeams() {
  try {
    ({ teams } = await api("/api/emergency/teams/"));
    if (focusId) renderPanel();
  } catch (_) { teams = []; }
}

function initActions() {
  $("accept-teams").addEventListener("change", (e) => { e.target.dataset.touched = "1"; });
  const select = $("accept-dept");
  select.replaceChildren(...CFG.departments.map((d) => el("option", { value: d.id, text: d.name })));
  if (CFG.default_department) select.value = String(CFG.default_department);
  $("accept-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const bay = $("accept-bay").value.trim();
    if (!/^[\w .\-/]{0,32}$/.test(bay)) { showError(new Error("Bay: letters, digits, space, . - / only (32 at most).")); return; }
    act("accept", { department: Number(select.value), bay, activate_teams: $("accept-teams").checked });
  });
  $("btn-activate").addEventListener("click", () => act("activate", {}));
  $("btn-arrived").addEventListener("click", () => act("arrive"));
  $("btn-handover").addEventListener("click", () => act("handover"));
  $("p-close").addEventListener("click", closeCase);
  video.wire();
}

initActions();
loadTeams();
sock.connect();
if (CFG.focus && /^[0-9a-f-]{36}$/i.test(CFG.focus)) {
  refreshAll().then(() => openCase(CFG.focus));
}
document.body.dataset.boardReady = "1";
