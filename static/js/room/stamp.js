// Latency stamps: media_core/stamps.py bit for bit, drawn in RGB and read back from RGB.
//
// 20×4 cells at the frame's top-left corner: a 16-bit sync pattern, 48 bits of
// wall-clock milliseconds, CRC-16/CCITT-FALSE over those 6 bytes; reading order is
// row by row. Cells are 16 px per 720 lines (Python's round, ties to even), halved
// while too big. Pure black/white RGB becomes luma 16/235 after the browser's
// RGB→YUV conversion (limited range), the levels stamps.py writes.

export const COLS = 20;
export const ROWS = 4;
export const SYNC = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0];
const TIME_BITS = 48;
const CRC_BITS = 16;
const MIN_CONTRAST = 90.0;
const MIN_MARGIN = 0.25;

/** Python's round(): half to even. */
function pyRound(x) {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** stamp_geometry(width, height): {x, y, cell, width, height}, or null when it cannot fit. */
export function stampGeometry(width, height) {
  let cell = 16 * Math.max(1, pyRound(height / 720));
  while (cell > 4 && (COLS * cell > width || ROWS * cell > height)) cell = Math.floor(cell / 2);
  if (COLS * cell > width || ROWS * cell > height) return null;
  return { x: 0, y: 0, cell, width: COLS * cell, height: ROWS * cell };
}

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF). */
export function crc16(bytes) {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i += 1) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) : crc << 1;
      crc &= 0xffff;
    }
  }
  return crc;
}

const TWO48 = 2 ** 48;

function msBytes(ms) {
  let v = ms % TWO48;
  const out = new Array(6);
  for (let i = 5; i >= 0; i -= 1) { out[i] = v % 256; v = Math.floor(v / 256); }
  return out;
}

/** The 80 bits (0/1) for ``ms`` in reading order. */
export function encodeBits(ms) {
  const bytes = msBytes(Math.floor(ms));
  const bits = [...SYNC];
  for (const byte of bytes) for (let i = 7; i >= 0; i -= 1) bits.push((byte >> i) & 1);
  const crc = crc16(bytes);
  for (let i = 15; i >= 0; i -= 1) bits.push((crc >> i) & 1);
  return bits;
}

/** Draw the stamp for ``ms`` on a 2D context whose canvas is the frame (width × height). */
export function drawStamp(ctx, width, height, ms) {
  const geo = stampGeometry(width, height);
  if (!geo || ms < 0) return false;
  const bits = encodeBits(ms);
  const c = geo.cell;
  ctx.save();
  ctx.globalAlpha = 1;
  ctx.globalCompositeOperation = "source-over";
  ctx.fillStyle = "#000000";
  ctx.fillRect(geo.x, geo.y, geo.width, geo.height);
  ctx.fillStyle = "#ffffff";
  for (let i = 0; i < bits.length; i += 1) {
    if (bits[i]) ctx.fillRect(geo.x + (i % COLS) * c, geo.y + Math.floor(i / COLS) * c, c, c);
  }
  ctx.restore();
  return true;
}

/** Limited-range luma (BT.601 weights) of an RGB pixel: black → 16, white → 235. */
function luma(r, g, b) {
  return 16 + (219 / 255) * (0.299 * r + 0.587 * g + 0.114 * b);
}

/**
 * The 80 cell means (luma) of a stamp whose cells are ``cell`` px (may be fractional
 * for a rescaled frame), read from RGBA ``data`` (``stride`` px per row) whose top-left
 * pixel is the frame's. Only each cell's centre counts, as in stamps.py.
 */
export function cellMeans(data, stride, rows, cell) {
  const means = new Float64Array(COLS * ROWS);
  for (let r = 0; r < ROWS; r += 1) {
    for (let c = 0; c < COLS; c += 1) {
      let y0, y1, x0, x1;
      if (Number.isInteger(cell)) {
        const lo = Math.floor(cell / 4);
        const hi = cell - lo;
        y0 = r * cell + lo; y1 = r * cell + hi; x0 = c * cell + lo; x1 = c * cell + hi;
      } else {
        y0 = Math.round(r * cell + cell / 4); y1 = Math.max(y0 + 1, Math.round((r + 1) * cell - cell / 4));
        x0 = Math.round(c * cell + cell / 4); x1 = Math.max(x0 + 1, Math.round((c + 1) * cell - cell / 4));
      }
      y1 = Math.min(y1, rows); x1 = Math.min(x1, stride);
      let sum = 0;
      let n = 0;
      for (let y = y0; y < y1; y += 1) {
        let p = (y * stride + x0) * 4;
        for (let x = x0; x < x1; x += 1, p += 4) { sum += luma(data[p], data[p + 1], data[p + 2]); n += 1; }
      }
      means[r * COLS + c] = n ? sum / n : 0;
    }
  }
  return means;
}

/** read_stamp's checks on 80 cell means: the time in ms, or null ("no stamp"). */
export function decodeMeans(means) {
  let white = 0; let nw = 0; let black = 0; let nb = 0;
  for (let i = 0; i < SYNC.length; i += 1) {
    if (SYNC[i]) { white += means[i]; nw += 1; } else { black += means[i]; nb += 1; }
  }
  white /= nw; black /= nb;
  const contrast = white - black;
  if (contrast < MIN_CONTRAST) return null;
  const mid = (white + black) / 2;
  for (const m of means) if (Math.abs(m - mid) < MIN_MARGIN * contrast) return null;
  const bits = Array.from(means, (m) => (m > mid ? 1 : 0));
  for (let i = 0; i < SYNC.length; i += 1) if (bits[i] !== SYNC[i]) return null;
  const bytes = [];
  for (let b = 0; b < 8; b += 1) {
    let v = 0;
    for (let i = 0; i < 8; i += 1) v = (v << 1) | bits[SYNC.length + b * 8 + i];
    bytes.push(v);
  }
  const timeBytes = bytes.slice(0, 6);
  const crc = (bytes[6] << 8) | bytes[7];
  if (crc16(timeBytes) !== crc) return null;
  let ms = 0;
  for (const byte of timeBytes) ms = ms * 256 + byte;
  return ms;
}

/** read_stamp on RGBA pixels of a whole frame (or of its top-left corner, at least the stamp). */
export function readStamp(data, stride, rows, frameWidth, frameHeight) {
  const geo = stampGeometry(frameWidth, frameHeight);
  if (!geo || geo.width > stride || geo.height > rows) return null;
  return decodeMeans(cellMeans(data, stride, rows, geo.cell));
}

// A sender's encoder may lower the resolution under load (WebRTC steps of 3/4 and
// 2/3 per side). The reader then also tries the stamp of the original size, scaled.
const SCALES = [0.75, 0.5, 2 / 3, 0.375, 0.25, 1 / 3];

/** The cell sizes to try on a decoded frame, the exact geometry first. */
export function candidateCells(frameWidth, frameHeight) {
  const out = [];
  const exact = stampGeometry(frameWidth, frameHeight);
  if (exact) out.push(exact.cell);
  for (const s of SCALES) {
    const g = stampGeometry(Math.round(frameWidth / s), Math.round(frameHeight / s));
    if (!g) continue;
    const cell = g.cell * s;
    if (cell >= 2 && COLS * cell <= frameWidth && ROWS * cell <= frameHeight && !out.includes(cell)) out.push(cell);
  }
  return out;
}

/** Try each candidate cell size on a top-left region (stride × rows px). */
export function readStampTolerant(data, stride, rows, frameWidth, frameHeight) {
  for (const cell of candidateCells(frameWidth, frameHeight)) {
    if (COLS * cell > stride || ROWS * cell > rows) continue;
    const ms = decodeMeans(cellMeans(data, stride, rows, cell));
    if (ms !== null) return ms;
  }
  return null;
}

/** The top-left region (w, h) a reader must look at for a frame size. */
export function readRegion(frameWidth, frameHeight) {
  let w = 0; let h = 0;
  for (const cell of candidateCells(frameWidth, frameHeight)) {
    w = Math.max(w, Math.ceil(COLS * cell)); h = Math.max(h, Math.ceil(ROWS * cell));
  }
  return { width: Math.min(w, frameWidth), height: Math.min(h, frameHeight) };
}
