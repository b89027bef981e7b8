// Shared pieces of the emergency pages (crew phone page and command board).
// Plain ES module, no framework; every piece of data text goes in via textContent.

export const CATEGORIES = [
  ["stemi", "STEMI"],
  ["stroke", "Stroke"],
  ["trauma", "Major trauma"],
  ["cardiac_arrest", "Cardiac arrest"],
  ["sepsis", "Sepsis"],
  ["obstetric", "Obstetric"],
  ["paediatric", "Paediatric"],
  ["other", "Other"],
];
export const CATEGORY_LABEL = Object.fromEntries(CATEGORIES);
export const STATUS_LABEL = {
  opened: "Opened",
  en_route: "En route",
  accepted: "Accepted",
  arrived: "Arrived",
  handed_over: "Handed over",
  diverted: "Diverted",
  closed: "Closed",
};
export const TREND_ARROW = { rising: "↑", falling: "↓", stable: "→", new: "•", unknown: "" };
export const TREND_WORD = { rising: "rising", falling: "falling", stable: "stable", new: "first score", unknown: "" };

// ---- DOM ------------------------------------------------------------------
/** el("div", {class: "x", text: "y"}, child, ...) — text always via textContent. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setText(id, text) {
  const node = typeof id === "string" ? document.getElementById(id) : id;
  if (node) node.textContent = text === undefined || text === null ? "" : String(text);
}

// ---- HTTP API -------------------------------------------------------------
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || (status === 0 ? "network" : "http_" + status);
    this.body = body;
  }
}

/** fetch JSON; ``form`` (FormData) is sent as multipart. Throws ApiError. */
export async function api(path, { method = "GET", body, form, timeoutMs = 15000 } = {}) {
  const headers = { Accept: "application/json" };
  let payload;
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (form) payload = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, credentials: "same-origin", signal: ctrl.signal });
  } catch (err) {
    throw new ApiError(0, { detail: "No connection.", code: "network" });
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try { data = await res.json(); } catch (_) { data = null; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${path}`;
}

// ---- Canonical JSON and SHA-256 (the batch hash; see consult/emergency/ingest.py) --
/** Key-sorted, whitespace-free JSON, as Python's json.dumps(sort_keys=True, separators=(",", ":")). */
export function canonicalJson(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",") + "]";
  const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(value[k])).join(",") + "}";
}

const K256 = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** Pure-JS SHA-256 for pages served without a secure context (no crypto.subtle). */
function sha256Fallback(bytes) {
  const len = bytes.length;
  const total = (((len + 9) >> 6) + 1) << 6;
  const buf = new Uint8Array(total);
  buf.set(bytes);
  buf[len] = 0x80;
  const view = new DataView(buf.buffer);
  view.setUint32(total - 8, Math.floor((len * 8) / 2 ** 32));
  view.setUint32(total - 4, (len * 8) >>> 0);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < total; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K256[i] + w[i]) >>> 0;
      const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, "0")).join("");
}

export async function sha256Hex(text) {
  const bytes = new TextEncoder().encode(text);
  if (globalThis.crypto && crypto.subtle) {
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return sha256Fallback(bytes);
}

export function uuid4() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---- NEWS2 (RCP 2017), the same tables as media_core/vitals/news2.py --------
const PLAUSIBLE = { rr: [1, 80], spo2: [40, 100], sbp: [30, 300], hr: [10, 300], temp_c: [25, 45] };
const ACVPU = ["A", "C", "V", "P", "U"];

function whole(value, name) {
  if (typeof value !== "number" || !Number.isFinite(value)) return null;
  const [lo, hi] = PLAUSIBLE[name];
  if (value < lo || value > hi) return null;
  return Math.floor(value + 0.5);
}

export function plausible(name, value) {
  if (!(name in PLAUSIBLE)) return true;
  return typeof value === "number" && Number.isFinite(value) && value >= PLAUSIBLE[name][0] && value <= PLAUSIBLE[name][1];
}

/** Per-parameter scores (null when unknown), total and band — SpO2 scale 1. */
export function news2(v) {
  const rr = whole(v.rr, "rr");
  const spo2 = whole(v.spo2, "spo2");
  const sbp = whole(v.sbp, "sbp");
  const hr = whole(v.hr, "hr");
  let temp = null;
  if (typeof v.temp_c === "number" && v.temp_c >= 25 && v.temp_c <= 45) {
    const t = Math.floor(v.temp_c * 10 + 0.5);
    temp = t <= 350 ? 3 : t <= 360 ? 1 : t <= 380 ? 0 : t <= 390 ? 1 : 2;
  }
  const acvpu = typeof v.acvpu === "string" && ACVPU.includes(v.acvpu.toUpperCase()) ? (v.acvpu.toUpperCase() === "A" ? 0 : 3) : null;
  const scores = {
    rr: rr === null ? null : rr <= 8 ? 3 : rr <= 11 ? 1 : rr <= 20 ? 0 : rr <= 24 ? 2 : 3,
    spo2: spo2 === null ? null : spo2 <= 91 ? 3 : spo2 <= 93 ? 2 : spo2 <= 95 ? 1 : 0,
    o2: typeof v.supplemental_o2 === "boolean" ? (v.supplemental_o2 ? 2 : 0) : null,
    sbp: sbp === null ? null : sbp <= 90 ? 3 : sbp <= 100 ? 2 : sbp <= 110 ? 1 : sbp <= 219 ? 0 : 3,
    hr: hr === null ? null : hr <= 40 ? 3 : hr <= 50 ? 1 : hr <= 90 ? 0 : hr <= 110 ? 1 : hr <= 130 ? 2 : 3,
    acvpu,
    temp_c: temp,
  };
  const known = Object.values(scores).filter((s) => s !== null);
  if (known.length < 7) return { scores, total: null, band: "unknown", partial: known.reduce((a, b) => a + b, 0) };
  const total = known.reduce((a, b) => a + b, 0);
  const worst = Math.max(...known);
  const band = total >= 7 ? "high" : total >= 5 ? "medium" : worst >= 3 ? "low-medium" : "low";
  return { scores, total, band };
}

export const BAND_TEXT = {
  high: "HIGH — emergency response",
  medium: "MEDIUM — urgent response",
  "low-medium": "LOW-MEDIUM — a parameter scores 3",
  low: "LOW",
  unknown: "incomplete",
};

// ---- Formatting -----------------------------------------------------------
export function fmtEta(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const min = Math.round(seconds / 60);
  return min < 1 ? "<1 min" : `${min} min`;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtAge(summary) {
  const age = summary.estimated_age === null || summary.estimated_age === undefined ? "?" : summary.estimated_age;
  const sex = { female: "F", male: "M" }[summary.sex] || "?";
  return `${age}${sex}`;
}

export function fmtVital(name, v) {
  if (v === null || v === undefined) return "—";
  if (name === "temp_c") return Number(v).toFixed(1);
  if (name === "supplemental_o2") return v ? "O₂" : "air";
  if (typeof v === "number") return String(Math.round(v));
  return String(v);
}

// ---- Sweeping ECG strip -----------------------------------------------------
/**
 * A monitor-style sweep: samples are queued as they arrive and drawn in real
 * time after a short play-out delay; the sweep erases just ahead of itself.
 * A backlog beyond ``maxLagS`` is skipped so the strip never drifts behind.
 */
export class EcgStrip {
  constructor(canvas, { seconds = 6, rangeUv = [-600, 1600], delayS = 0.6, maxLagS = 3 } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.seconds = seconds;
    this.range = rangeUv;
    this.delayS = delayS;
    this.maxLagS = maxLagS;
    this.queue = [];
    this.rate = 250;
    this.x = 0;
    this.lastY = null;
    this.credit = 0;
    this.playing = false;
    this.last = 0;
    this.samplesDrawn = 0;
    this.raf = null;
    this.resize();
    this._onResize = () => this.resize();
    window.addEventListener("resize", this._onResize);
    this.tick = this.tick.bind(this);
    this.raf = requestAnimationFrame(this.tick);
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const rect = this.canvas.getBoundingClientRect();
    const width = Math.max(100, Math.round(rect.width * ratio));
    const height = Math.max(60, Math.round(rect.height * ratio));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.clear();
    }
  }

  clear() {
    const { ctx, canvas } = this;
    ctx.fillStyle = "#04140c";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    this.grid(0, canvas.width);
    this.x = 0;
    this.lastY = null;
  }

  grid(x0, x1) {
    const { ctx, canvas } = this;
    const pxPerS = canvas.width / this.seconds;
    ctx.strokeStyle = "rgba(60,140,90,.35)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    const step = pxPerS * 0.2;
    for (let x = Math.ceil(x0 / step) * step; x < x1; x += step) { ctx.moveTo(x + 0.5, 0); ctx.lineTo(x + 0.5, canvas.height); }
    const rows = 5;
    for (let i = 1; i < rows; i++) {
      const y = Math.round((canvas.height * i) / rows) + 0.5;
      ctx.moveTo(x0, y); ctx.lineTo(x1, y);
    }
    ctx.stroke();
  }

  push(samples, rateHz) {
    if (rateHz) this.rate = rateHz;
    for (const s of samples) this.queue.push(s);
    const maxQueue = Math.round(this.rate * this.maxLagS);
    if (this.queue.length > maxQueue) this.queue.splice(0, this.queue.length - Math.round(this.rate * this.delayS));
  }

  y(value) {
    const [lo, hi] = this.range;
    const h = this.canvas.height;
    return h - ((value - lo) / (hi - lo)) * h * 0.9 - h * 0.05;
  }

  tick(now) {
    this.raf = requestAnimationFrame(this.tick);
    const dt = this.last ? Math.min(0.25, (now - this.last) / 1000) : 0;
    this.last = now;
    if (!this.playing) {
      if (this.queue.length >= this.rate * this.delayS) this.playing = true;
      else return;
    }
    this.credit += dt * this.rate;
    let n = Math.floor(this.credit);
    this.credit -= n;
    if (n <= 0) return;
    if (n > this.queue.length) { n = this.queue.length; this.credit = 0; }
    if (n === 0) { this.playing = false; return; }
    const { ctx, canvas } = this;
    const dx = canvas.width / (this.seconds * this.rate);
    const eraseW = Math.max(8, canvas.width * 0.03);
    let drawn = 0;
    while (drawn < n) {
      // One path per run up to the right edge; erase once just ahead of it.
      const room = Math.max(1, Math.ceil((canvas.width - this.x) / dx));
      const run = Math.min(n - drawn, room);
      const x0 = this.x;
      const x1 = x0 + run * dx;
      const from = Math.floor(x0) + 1;
      const to = Math.min(canvas.width, Math.ceil(x1 + eraseW));
      ctx.fillStyle = "#04140c";
      ctx.fillRect(from, 0, to - from, canvas.height);
      this.grid(from, to);
      ctx.strokeStyle = "#5cff9d";
      ctx.lineWidth = Math.max(2, (window.devicePixelRatio || 1) * 2);
      ctx.lineJoin = "round";
      ctx.lineCap = "round";
      ctx.beginPath();
      let started = this.lastY !== null;
      if (started) ctx.moveTo(this.x, this.lastY);
      for (let i = 0; i < run; i++) {
        const value = this.queue.shift();
        this.x += dx;
        this.lastY = this.y(value);
        if (started) ctx.lineTo(this.x, this.lastY);
        else { ctx.moveTo(this.x, this.lastY); started = true; }
      }
      ctx.stroke();
      drawn += run;
      this.samplesDrawn += run;
      if (this.x >= canvas.width - 0.01) {
        this.x = 0;
        this.lastY = null;
        ctx.fillStyle = "#04140c";
        ctx.fillRect(0, 0, eraseW, canvas.height);
        this.grid(0, eraseW);
      }
    }
  }

  destroy() {
    cancelAnimationFrame(this.raf);
    window.removeEventListener("resize", this._onResize);
  }
}
