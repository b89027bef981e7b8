// The crew page's vitals: NEWS2 on the phone, the (simulated) monitor streaming
// into the outbox, and vitals typed by hand.

import { BAND_TEXT, EcgStrip, el, news2, plausible, setText } from "../ems.js";
import { RATE, SimMonitor } from "./monitor.js";
import { $, showError, state } from "./state.js";

export const NUMERIC = ["hr", "spo2", "sbp", "dbp", "rr", "temp_c", "gcs"];
const RANGES = { dbp: [10, 250], gcs: [3, 15] };

// ---- NEWS2 on the phone -------------------------------------------------------------
export function renderNews() {
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

export async function writeNumerics(values, sampleT0 = Date.now()) {
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

export function startDevice(persist = true) {
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

export function stopDevice() {
  if (!state.sim) return;
  state.sim.stop();
  state.sim = null;
  const toggle = $("device-toggle");
  toggle.setAttribute("aria-pressed", "false");
  toggle.textContent = "Connect monitor (simulated)";
  localStorage.removeItem(`ems.device.${state.caseId}`);
}

// ---- Manual vitals ----------------------------------------------------------------------
export async function sendManualVitals(event) {
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
