// The ambulance crew's phone page: open a case in a few taps, stream vitals
// through the lossless outbox, send location and photos, see the hospital's answer.
// Plain ES module; all data text goes in through textContent. Its parts are in
// crew/: the shared state and error box, vitals (NEWS2, the simulated monitor,
// manual entry), location, photos and the live video.

import { CATEGORIES, CATEGORY_LABEL, api, el, fmtAge, fmtEta, setText } from "./ems.js";
import {
  Uplink, allowSocket, blockSocket, deviceId, metaGet, metaSet, openDb, pendingBatches, pendingByCase, unlockOutbox, wipeAll,
} from "./outbox.js";
import { sendFix, startGps } from "./crew/location.js";
import { uploadPhoto } from "./crew/photos.js";
import { $, showError, state } from "./crew/state.js";
import { renderVideo, startVideo, wireVideo } from "./crew/video.js";
import {
  NUMERIC, renderNews, sendManualVitals, startDevice, stopDevice, writeNumerics,
} from "./crew/vitals.js";

const FIELDS = ["chief_complaint", "mechanism", "injuries", "treatment"];

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

/** Fills the destination list; whether the server answered. */
async function loadHospitals() {
  const select = $("f-destination");
  try {
    const { hospitals } = await api("/api/emergency/hospitals/");
    select.replaceChildren(el("option", { value: "", text: hospitals.length ? "Choose…" : "No receiving hospital" }),
      ...hospitals.map((h) => el("option", { value: h.id, text: h.name })));
    if (hospitals.length === 1) select.value = String(hospitals[0].id);
    const last = localStorage.getItem("ems.lastDestination");
    if (last && hospitals.some((h) => String(h.id) === last)) select.value = last;
    return true;
  } catch (err) {
    select.replaceChildren(el("option", { value: "", text: "Could not load hospitals" }));
    showError(err);
    return false;
  }
}

async function loadCrewCases() {
  try {
    const { cases } = await api("/api/emergency/cases/");
    const list = $("crew-case-list");
    list.replaceChildren(...cases.map((c) => el("li", {}, el("a", { class: "ems-big ems-caselink", href: `/emergency/crew/${c.id}/` },
      el("strong", { text: `${CATEGORY_LABEL[c.category] || c.category} ${fmtAge(c)}` }),
      el("span", { class: "muted", text: `${c.status.replace("_", " ")} → ${c.destination.name}` })))));
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
  wireVideo();
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
    // No case, no uplink socket yet: the link pill says whether the server answers.
    loadHospitals().then((answered) => renderLink({ state: answered ? "online" : "offline", backlog: 0, degraded: false }));
    loadCrewCases();
  }
  drainOthers().catch(() => {});

  document.body.dataset.crewReady = "1";
}

init().catch((err) => showError(err));
