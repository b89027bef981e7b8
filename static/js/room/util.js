// Small helpers shared by the room modules: DOM building (text only), ids, statistics.

/** An element with a class and text (always textContent: nothing is parsed as HTML). */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** A button with a label, a class and a click handler. */
export function button(label, cls, onClick, title) {
  const node = el("button", cls, label);
  node.type = "button";
  if (title) { node.title = title; node.setAttribute("aria-label", title); }
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

/** A random RFC 4122 v4 uuid (crypto.randomUUID needs a secure context; this does not). */
export function uuid4() {
  if (globalThis.crypto && crypto.randomUUID) {
    try { return crypto.randomUUID(); } catch (_) { /* fall through */ }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function median(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** green / amber / red against DESIGN.md's thresholds (≤100 ms, ≤200 ms, above). */
export function latencyClass(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "lat-none";
  return ms <= 100 ? "lat-green" : ms <= 200 ? "lat-amber" : "lat-red";
}

export function fmt(value, unit = "", digits = 0) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return `${value.toFixed(digits)}${unit ? " " + unit : ""}`;
}

export function clockTime(iso) {
  const d = iso ? new Date(iso) : new Date();
  return new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(d);
}
