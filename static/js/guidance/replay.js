// Replay of a recorded operation: the composited video (marks and vitals burned in)
// with its timeline beside it: each mark when it was drawn (click to jump there)
// and the heart rate and SpO2 over the recording, with a playhead.
import { stampGeometry } from "../room/stamp.js";
import { el } from "../room/util.js";

const root = document.getElementById("replay");
const video = document.getElementById("replay-video");
const list = document.getElementById("timeline");
const chart = document.getElementById("vitals-chart");
const KIND = { arrow: "Arrow", circle: "Circle", freehand: "Line", incision: "Incision line", target: "Target", text: "Label" };

function clock(t) {
  const s = Math.max(0, Math.floor(t));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function number(numerics, ...keys) {
  for (const k of keys) if (Number.isFinite(numerics[k])) return numerics[k];
  return null;
}

/** One entry per mark, at the time it first appears in the annotation snapshots. */
function marks(events) {
  const seen = new Set();
  const out = [];
  for (const e of events) {
    if (e.type !== "annotations") continue;
    for (const a of e.annotations || []) {
      if (seen.has(a.id)) continue;
      seen.add(a.id);
      out.push({ t: e.t, annotation: a });
    }
  }
  return out;
}

function renderTimeline(entries) {
  list.replaceChildren();
  if (!entries.length) { list.append(el("li", "muted small", "No marks were drawn.")); return []; }
  return entries.map(({ t, annotation }) => {
    const li = el("li", "timeline-item");
    const jump = el("button", "link", clock(t));
    jump.type = "button";
    jump.addEventListener("click", () => { video.currentTime = t; video.play().catch(() => {}); });
    const swatch = el("span", "swatch-dot");
    swatch.style.background = annotation.colour;
    const label = KIND[annotation.kind] || annotation.kind;
    li.append(jump, swatch, el("span", "", annotation.text ? `${label}: “${annotation.text}”` : label));
    li.dataset.t = String(t);
    list.append(li);
    return li;
  });
}

function drawChart(vitals, duration, playhead) {
  const ctx = chart.getContext("2d");
  const w = chart.width; const h = chart.height;
  ctx.clearRect(0, 0, w, h);
  if (!vitals.length || !duration) {
    ctx.fillStyle = "#6b7785"; ctx.font = "12px system-ui"; ctx.fillText("No vitals in this recording", 8, h / 2);
    return;
  }
  const series = [
    { key: ["hr", "heart_rate"], colour: "#1a9c4a", lo: 30, hi: 180, label: "HR" },
    { key: ["spo2", "SpO2"], colour: "#2563eb", lo: 70, hi: 100, label: "SpO2" },
  ];
  for (const s of series) {
    ctx.strokeStyle = s.colour; ctx.lineWidth = 1.5; ctx.beginPath();
    let started = false;
    for (const v of vitals) {
      const value = number(v.numerics || {}, ...s.key);
      if (value === null) continue;
      const x = (v.t / duration) * w;
      const y = h - ((Math.min(s.hi, Math.max(s.lo, value)) - s.lo) / (s.hi - s.lo)) * (h - 14) - 4;
      if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
    }
    ctx.stroke();
  }
  ctx.font = "11px system-ui";
  series.forEach((s, i) => { ctx.fillStyle = s.colour; ctx.fillText(s.label, 6 + i * 44, 11); });
  ctx.strokeStyle = "#d33"; ctx.beginPath();
  const x = (playhead / duration) * w;
  ctx.moveTo(x, 0); ctx.lineTo(x, h); ctx.stroke();
}

/** Cover the latency stamp's cells (machine-readable, not for people) in the picture. */
function coverStamp() {
  const w = video.videoWidth; const h = video.videoHeight;
  const geo = w && h ? stampGeometry(w, h) : null;
  const mask = document.getElementById("stamp-mask");
  if (!geo || !video.clientWidth) { mask.hidden = true; return; }
  const scale = Math.min(video.clientWidth / w, video.clientHeight / h);
  Object.assign(mask.style, {
    left: `${(video.clientWidth - w * scale) / 2}px`, top: `${(video.clientHeight - h * scale) / 2}px`,
    width: `${Math.ceil(geo.width * scale)}px`, height: `${Math.ceil(geo.height * scale)}px`,
  });
  mask.hidden = false;
}
video.addEventListener("loadedmetadata", coverStamp);
window.addEventListener("resize", coverStamp);

async function main() {
  const response = await fetch(root.dataset.timeline, { credentials: "same-origin" });
  const timeline = response.ok ? await response.json() : { events: [] };
  const events = timeline.events || [];
  const items = renderTimeline(marks(events));
  const vitals = events.filter((e) => e.type === "vitals");
  const duration = () => video.duration || timeline.duration_s || (events.length ? events[events.length - 1].t : 0);
  const update = () => {
    const t = video.currentTime;
    for (const li of items) li.classList.toggle("past", Number(li.dataset.t) <= t);
    drawChart(vitals, duration(), t);
  };
  video.addEventListener("timeupdate", update);
  video.addEventListener("loadedmetadata", update);
  update();
  window.__replay = { timeline, items };
}
main();
