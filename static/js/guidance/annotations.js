// Telestration in the browser: the annotation set (the same fold as
// surgery_guidance/telestration/schema.py) and drawing it over a <video>.
// Points are normalised to the video frame (0..1, x right, y down); thickness
// and text size are pixels of a 1080-line frame, scaled to what is shown.

export const FADE_OUT_S = 1.0;
const REFERENCE_LINES = 1080;

/** The annotation set after an ordered run of operations (per-author sequence numbers). */
export class AnnotationSet {
  constructor() { this.reset(); }

  reset(snapshot) {
    this.items = new Map();
    this.lastSeq = new Map();
    for (const a of (snapshot && snapshot.annotations) || []) this.items.set(a.id, { ...a, receivedAt: Date.now() });
    for (const [author, seq] of Object.entries((snapshot && snapshot.last_seq) || {})) this.lastSeq.set(author, seq);
  }

  /** Fold one operation in; a replay is a no-op. Returns whether it changed anything. */
  apply(op) {
    const last = this.lastSeq.get(op.author) || 0;
    if (op.seq <= last) return false;
    this.lastSeq.set(op.author, op.seq);
    if (op.op === "add" || op.op === "update") this.items.set(op.annotation.id, { ...op.annotation, receivedAt: Date.now() });
    else if (op.op === "undo") this.items.delete(op.id);
    else if (op.op === "clear") {
      for (const [id, a] of this.items) if (!op.target_author || a.author === op.target_author) this.items.delete(id);
    }
    return true;
  }

  /** Opacity 0..1 now: full until ``fade_after`` s after it was drawn, then a 1 s fade. */
  static opacity(a, nowMs = Date.now()) {
    if (a.pinned) return 1;
    const age = (nowMs - Math.min(a.created_at_ms, a.receivedAt || a.created_at_ms)) / 1000;
    if (age <= a.fade_after) return 1;
    return Math.max(0, 1 - (age - a.fade_after) / FADE_OUT_S);
  }

  visible(nowMs = Date.now()) {
    const out = [];
    for (const a of this.items.values()) {
      const o = AnnotationSet.opacity(a, nowMs);
      if (o > 0) out.push([a, o]);
    }
    return out;
  }
}

/** Where a video's picture lies inside its element (object-fit: contain). */
export function pictureRect(video) {
  const vw = video.videoWidth; const vh = video.videoHeight;
  const cw = video.clientWidth; const ch = video.clientHeight;
  if (!vw || !vh || !cw || !ch) return null;
  const scale = Math.min(cw / vw, ch / vh);
  const w = vw * scale; const h = vh * scale;
  return { left: (cw - w) / 2, top: (ch - h) / 2, width: w, height: h, mirrored: video.classList.contains("mirror") };
}

function toPx(rect, [x, y]) {
  const nx = rect.mirrored ? 1 - x : x;
  return [rect.left + nx * rect.width, rect.top + y * rect.height];
}

function arrow(ctx, [ax, ay], [bx, by], thick) {
  const angle = Math.atan2(by - ay, bx - ax);
  const head = Math.max(8, thick * 4);
  ctx.beginPath(); ctx.moveTo(ax, ay); ctx.lineTo(bx, by); ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(bx, by);
  ctx.lineTo(bx - head * Math.cos(angle - 0.45), by - head * Math.sin(angle - 0.45));
  ctx.lineTo(bx - head * Math.cos(angle + 0.45), by - head * Math.sin(angle + 0.45));
  ctx.closePath(); ctx.fill();
}

/** Draw one annotation (``a``) with ``opacity`` on ``ctx`` over ``rect``. */
export function drawAnnotation(ctx, rect, a, opacity) {
  const scale = rect.height / REFERENCE_LINES;
  const thick = Math.max(1, (a.thickness || 6) * scale);
  const pts = a.points.map((p) => toPx(rect, p));
  ctx.save();
  ctx.globalAlpha = opacity;
  ctx.strokeStyle = a.colour; ctx.fillStyle = a.colour;
  ctx.lineWidth = thick; ctx.lineCap = "round"; ctx.lineJoin = "round";
  if (a.kind === "arrow") arrow(ctx, pts[0], pts[1], thick);
  else if (a.kind === "circle") {
    const r = Math.hypot(pts[1][0] - pts[0][0], pts[1][1] - pts[0][1]);
    ctx.beginPath(); ctx.arc(pts[0][0], pts[0][1], r, 0, Math.PI * 2); ctx.stroke();
  } else if (a.kind === "freehand" || a.kind === "incision") {
    if (a.kind === "incision") ctx.setLineDash([5 * thick + 4, 3 * thick + 3]);
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
  } else if (a.kind === "target") {
    const [cx, cy] = pts[0];
    const radius = 22 * scale + 2 * thick;
    ctx.beginPath(); ctx.arc(cx, cy, radius, 0, Math.PI * 2); ctx.stroke();
    for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
      ctx.beginPath(); ctx.moveTo(cx + dx * 0.45 * radius, cy + dy * 0.45 * radius);
      ctx.lineTo(cx + dx * 1.5 * radius, cy + dy * 1.5 * radius); ctx.stroke();
    }
    ctx.beginPath(); ctx.arc(cx, cy, Math.max(1.5, 0.6 * thick), 0, Math.PI * 2); ctx.fill();
  } else if (a.kind === "text") {
    const size = Math.max(4, (a.text_size || 36) * scale);
    ctx.font = `600 ${size}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.lineWidth = Math.max(2, size / 8); ctx.strokeStyle = "#000";
    ctx.strokeText(a.text, pts[0][0], pts[0][1]);
    ctx.fillText(a.text, pts[0][0], pts[0][1]);
  }
  ctx.restore();
}

/** A canvas laid over a video tile that redraws the set every animation frame. */
export class Overlay {
  constructor(tile, set) {
    this.tile = tile;
    this.video = tile.querySelector("video");
    this.set = set;
    this.draft = null;  // the stroke being drawn, not yet sent
    this.canvas = document.createElement("canvas");
    this.canvas.className = "telestration";
    tile.append(this.canvas);
    this.closed = false;
    const loop = () => { if (this.closed) return; this.paint(); requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  }

  rect() { return pictureRect(this.video); }

  paint() {
    const c = this.canvas;
    const w = this.video.clientWidth; const h = this.video.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
      c.style.width = `${w}px`; c.style.height = `${h}px`;
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const rect = this.rect();
    if (!rect) return;
    for (const [a, o] of this.set.visible()) drawAnnotation(ctx, rect, a, o);
    if (this.draft) drawAnnotation(ctx, rect, this.draft, 0.8);
  }

  /** Normalised frame coordinates of a pointer event, clamped to the picture. */
  toNorm(event) {
    const rect = this.rect();
    if (!rect) return null;
    const box = this.canvas.getBoundingClientRect();
    let x = (event.clientX - box.left - rect.left) / rect.width;
    const y = (event.clientY - box.top - rect.top) / rect.height;
    if (rect.mirrored) x = 1 - x;
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [Math.round(clamp(x) * 1e5) / 1e5, Math.round(clamp(y) * 1e5) / 1e5];
  }

  close() { this.closed = true; this.canvas.remove(); }
}
