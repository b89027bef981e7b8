// The lossless vitals uplink of the crew's phone (research/reliability-security.md §2.2).
//
// 1. Every batch gets (device, stream, seq), seq contiguous from 0 per stream, and
//    is written to an IndexedDB outbox BEFORE it is sent (seq and batch in one
//    transaction, so a reload never reuses or skips a seq).
// 2. At most WINDOW batches per stream are in flight; the rest wait in the outbox.
// 3. The server acks after its commit: {ack, stream, acked_through, missing}; the
//    outbox drops everything up to acked_through.
// 4. On (re)connect: hello{stream, last_acked} per stream with pending batches; the
//    server's state{acked_through} says where to resend from. Duplicates are harmless.
// 5. Heartbeat: ping every PING_MS; two missed pongs (no traffic at all) = dead socket.
// 6. Reconnect: exponential backoff with full jitter (base 0.5 s, cap 30 s), and at
//    once on the browser's "online" event. No Background Sync (not portable).
// 7. A huge backlog degrades explicitly: the waveform is stored decimated, numerics
//    are kept in full, and the page shows it.
// The outbox survives a reload; it is wiped on logout (wipeAll) and after each ack.
// 8. At rest every batch (and the per-case ACVPU/O2 choice) is sealed with AES-256-GCM
//    under this paramedic's and device's key (outbox_seal.js).

import { canonicalJson, sha256Hex, uuid4, wsUrl } from "./ems.js";
import { openBatch, seal, sealBatch, unseal } from "./outbox_seal.js";

export { unlockOutbox } from "./outbox_seal.js";

const DB_NAME = "telemed-ems-outbox";
const DB_VERSION = 1;
// At most WINDOW batches and MAX_MESSAGES messages in flight per stream: when
// the server is slow, pending batches coalesce into fewer, larger transactions.
export const WINDOW = 32;
const CHUNK = 16;
const MAX_MESSAGES = 2;
const BASE_MS = 500;
const CAP_MS = 30000;
const PING_MS = 15000;
const ACK_TIMEOUT_MS = 8000;
// About 2 h of 4 batches/s; above it the waveform is stored decimated.
export const DEGRADE_AT = 2 * 3600 * 4;
const BLOCK_KEY = "ems.blockSocketUntil";

// ---- IndexedDB ------------------------------------------------------------
function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
}

let dbPromise = null;
export function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        const batches = db.createObjectStore("batches", { keyPath: ["stream", "seq"] });
        batches.createIndex("case", "case");
        db.createObjectStore("streams", { keyPath: "stream" }).createIndex("case", "case");
        db.createObjectStore("meta", { keyPath: "key" });
      };
      req.onsuccess = () => {
        const db = req.result;
        db.onversionchange = () => { db.close(); dbPromise = null; };
        resolve(db);
      };
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error("outbox database blocked"));
    });
  }
  return dbPromise;
}

/** Delete every stored batch and stream (sign-out). */
export async function wipeAll() {
  try {
    const db = await openDb();
    db.close();
  } catch (_) { /* not open */ }
  dbPromise = null;
  await new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(DB_NAME);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
}

/** Up to ``limit`` stored batches of one case, opened, in wire form. */
export async function pendingBatches(caseId, limit) {
  const db = await openDb();
  const rows = await promised(db.transaction("batches").objectStore("batches").index("case").getAll(caseId, limit));
  return (await Promise.all(rows.map(openBatch))).map(({ case: _c, ...wire }) => wire);
}

export async function metaGet(key) {
  const db = await openDb();
  const row = await promised(db.transaction("meta").objectStore("meta").get(key));
  if (!row) return undefined;
  if (!row.sealed) return row.value;
  try {
    return await unseal(row.sealed, `meta|${key}`);
  } catch (err) {
    // A remembered choice (ACVPU, O2) that cannot be opened is asked for again.
    console.warn("outbox meta value cannot be opened", err);
    return undefined;
  }
}

/** Store a meta value; everything but the device id is sealed (ACVPU and O2 are clinical). */
export async function metaSet(key, value) {
  const sealed = key === "device" ? null : await seal(value, `meta|${key}`);
  const db = await openDb();
  const tx = db.transaction("meta", "readwrite");
  tx.objectStore("meta").put(sealed ? { key, sealed } : { key, value });
  await done(tx);
}

/** The phone's device id, minted once and kept. */
export async function deviceId() {
  let id = await metaGet("device");
  if (!id) {
    id = "phone-" + uuid4().slice(0, 8);
    await metaSet("device", id);
  }
  return id;
}

/** Every case with batches still waiting, and how many. */
export async function pendingByCase() {
  const db = await openDb();
  const rows = await promised(db.transaction("streams").objectStore("streams").getAll());
  const out = {};
  for (const s of rows) {
    const n = s.next_seq - 1 - s.acked_through;
    if (n > 0) out[s.case] = (out[s.case] || 0) + n;
  }
  return out;
}

// ---- The uplink -------------------------------------------------------------
/**
 * One case's uplink. Events: "status" (detail: {state, backlog, ...}),
 * "message" (every parsed server message), "refused" (4401/4403).
 */
export class Uplink extends EventTarget {
  constructor(caseId, device) {
    super();
    this.caseId = caseId;
    this.device = device;
    this.streams = new Map(); // stream id -> {stream, kind, next_seq, acked_through, sent_through, ready, lastProgress, active}
    this.current = {}; // kind -> stream id written to now
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.lastHeard = 0;
    this.pingTimer = null;
    this.writeChain = Promise.resolve();
    this.stats = { written: 0, acked: 0, sent: 0, resent: 0, reconnects: 0, refused: 0, lastRtt: null };
    this.state = "connecting";
    this.degraded = false;
    this.online = () => this.retryNow();
    window.addEventListener("online", this.online);
  }

  async load() {
    const db = await openDb();
    const rows = await promised(db.transaction("streams").objectStore("streams").index("case").getAll(this.caseId));
    for (const row of rows) {
      this.streams.set(row.stream, { ...row, sent_through: row.acked_through, ready: false, lastProgress: Date.now() });
      if (row.active && row.device === this.device) this.current[row.kind] = row.stream;
    }
    this.emit();
  }

  backlog() {
    let n = 0;
    for (const s of this.streams.values()) n += Math.max(0, s.next_seq - 1 - s.acked_through);
    return n;
  }

  emit(extra = {}) {
    this.degraded = this.backlog() >= DEGRADE_AT;
    this.dispatchEvent(new CustomEvent("status", {
      detail: { state: this.state, backlog: this.backlog(), degraded: this.degraded, stats: this.stats, ...extra },
    }));
  }

  async _newStream(kind) {
    const row = { stream: uuid4(), case: this.caseId, device: this.device, kind, next_seq: 0, acked_through: -1, active: true, created: Date.now() };
    const old = this.current[kind] && this.streams.get(this.current[kind]);
    const db = await openDb();
    const tx = db.transaction("streams", "readwrite");
    if (old) { old.active = false; tx.objectStore("streams").put(this._row(old)); }
    tx.objectStore("streams").put(row);
    await done(tx);
    this.streams.set(row.stream, { ...row, sent_through: -1, ready: this.open, lastProgress: Date.now() });
    this.current[kind] = row.stream;
    return this.streams.get(row.stream);
  }

  _row(s) {
    return { stream: s.stream, case: s.case, device: s.device, kind: s.kind, next_seq: s.next_seq, acked_through: s.acked_through, active: s.active, created: s.created };
  }

  /**
   * Store one batch durably, then send it if the window allows. ``payload`` is
   * {values} for numerics or {lead, unit, samples} for waveforms. Resolves with
   * the stored batch once it is in IndexedDB.
   */
  write(kind, { sample_t0, rate_hz = 0, payload }) {
    const job = this.writeChain.then(() => this._write(kind, { sample_t0, rate_hz, payload }));
    this.writeChain = job.catch(() => undefined);
    return job;
  }

  async _write(kind, { sample_t0, rate_hz, payload }) {
    let s = this.current[kind] && this.streams.get(this.current[kind]);
    if (!s) s = await this._newStream(kind);
    if (this.degraded && kind !== "numerics" && payload.samples && rate_hz >= 100) {
      // Explicit degradation: keep one sample in four (stated on the page).
      payload = { ...payload, samples: payload.samples.filter((_, i) => i % 4 === 0) };
      rate_hz = rate_hz / 4;
    }
    const n_samples = kind === "numerics" ? 1 : payload.samples.length;
    const sha256 = await sha256Hex(canonicalJson(payload));
    const batch = {
      case: this.caseId, device: this.device, stream: s.stream, seq: s.next_seq, kind,
      sample_t0: Math.round(sample_t0 * 1000) / 1000, rate_hz, n_samples, payload, sha256,
    };
    // Sealed before the transaction opens: an IndexedDB transaction ends at an await.
    const stored = await sealBatch(batch);
    const db = await openDb();
    const tx = db.transaction(["batches", "streams"], "readwrite");
    tx.objectStore("batches").put(stored);
    tx.objectStore("streams").put(this._row({ ...s, next_seq: s.next_seq + 1 }));
    await done(tx);
    s.next_seq += 1;
    this.stats.written += 1;
    this.pump();
    this.emit();
    return batch;
  }

  // ---- socket ----
  get open() { return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN); }

  blockedFor() {
    const until = Number(sessionStorage.getItem(BLOCK_KEY) || 0);
    return Math.max(0, until - Date.now());
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = null;
    const blocked = this.blockedFor();
    if (blocked > 0) {
      // Test hook and "airplane mode": no socket until the block lifts.
      this.state = "offline";
      this.emit();
      this.timer = setTimeout(() => this.connect(), Math.min(blocked, 1000));
      return;
    }
    this.state = "connecting";
    this.emit();
    const ws = new WebSocket(wsUrl(`/ws/emergency/crew/${this.caseId}/`));
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      if (ws !== this.ws) return;
      if (this.blockedFor() > 0) { ws.close(4000, "blocked"); return; }
      this.attempt = 0;
      this.state = "online";
      this.lastHeard = Date.now();
      for (const s of this.streams.values()) { s.ready = false; s.sent_through = s.acked_through; s.msgs = []; }
      this._hello();
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this._heartbeat(), PING_MS);
      this.emit();
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      let msg;
      try { msg = JSON.parse(event.data); } catch (_) { return; }
      if (!msg || typeof msg.type !== "string") return;
      this._onMessage(msg);
      this.dispatchEvent(new CustomEvent("message", { detail: msg }));
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      for (const s of this.streams.values()) { s.ready = false; s.sent_through = s.acked_through; s.msgs = []; }
      if (event.code === 4401 || event.code === 4403) {
        this.stopped = true;
        this.state = "refused";
        this.emit();
        this.dispatchEvent(new CustomEvent("refused", { detail: { code: event.code } }));
        return;
      }
      if (!opened && this.attempt >= 1) this._probe();
      // Full jitter: uniformly random below the exponential ceiling.
      const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** this.attempt);
      this.attempt += 1;
      const wait = Math.random() * ceiling;
      this.stats.reconnects += 1;
      this.state = "offline";
      this.emit({ retryInMs: wait });
      this.timer = setTimeout(() => this.connect(), wait);
    });
  }

  /**
   * A refusal before accept reaches the browser as a failed handshake, without
   * the 4401/4403 close code: ask the API whether the case is still ours.
   */
  async _probe() {
    try {
      const res = await fetch(`/api/emergency/cases/${this.caseId}/`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if ([401, 403, 404].includes(res.status)) {
        this.stopped = true;
        clearTimeout(this.timer);
        this.state = "refused";
        this.emit();
        this.dispatchEvent(new CustomEvent("refused", { detail: { code: res.status } }));
      }
    } catch (_) { /* no network: keep retrying */ }
  }

  retryNow() {
    if (!this.stopped && this.ws === null) this.connect();
  }

  /** Close the socket as a dead network would (the close handler reconnects). */
  drop() {
    if (this.ws) { const ws = this.ws; try { ws.close(4000, "dropped"); } catch (_) { ws.close(); } }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    window.removeEventListener("online", this.online);
    if (this.ws) this.ws.close(1000, "bye");
  }

  _send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  _heartbeat() {
    if (!this.open) return;
    if (Date.now() - this.lastHeard > 2 * PING_MS + 1000) {
      // Two pings without any answer: a half-open socket. Drop it and reconnect.
      this.drop();
      return;
    }
    this._send({ type: "ping", t0: Date.now() });
    // An ack that never comes (a refused or lost frame): ask where the server stands.
    for (const s of this.streams.values()) {
      const patience = Math.max(ACK_TIMEOUT_MS, 3 * (this.stats.lastRtt || 0));
      if (s.ready && s.sent_through > s.acked_through && Date.now() - s.lastProgress > patience) {
        s.ready = false;
        this._send({ type: "hello", device: s.device, stream: s.stream, last_acked: s.acked_through });
      }
    }
  }

  _hello() {
    for (const s of this.streams.values()) {
      if (s.device !== this.device) continue;
      if (s.next_seq - 1 > s.acked_through || s.active) {
        this._send({ type: "hello", device: s.device, stream: s.stream, last_acked: s.acked_through });
      }
    }
  }

  async _onMessage(msg) {
    if (msg.type === "state" || msg.type === "ack") {
      const s = this.streams.get(msg.stream);
      if (!s) return;
      await this._acked(s, msg.acked_through);
      if (msg.type === "state" || (msg.missing && msg.missing.length)) {
        // Resend everything above what the server holds contiguously.
        if (msg.type === "ack") this.stats.resent += Math.max(0, s.sent_through - s.acked_through);
        s.sent_through = s.acked_through;
        s.msgs = [];
        s.ready = true;
      }
      this.pump();
    } else if (msg.type === "pong") {
      this.stats.lastRtt = Date.now() - msg.t0;
      this.emit();
    } else if (msg.type === "error") {
      this._onError(msg);
    }
  }

  async _onError(msg) {
    const s = msg.stream && this.streams.get(msg.stream);
    if (s && ["hash_mismatch", "seq_conflict", "stream_conflict", "stream_kind_mismatch"].includes(msg.code)) {
      // The server refuses this batch for good; a gap would stall the stream's
      // ack forever, so the rest moves to a fresh stream (the refusal is shown).
      this.stats.refused += 1;
      await this._rotate(s, msg.seq);
      return;
    }
    if (["rate_limited", "ingest_failed", "message_too_large", "invalid_message"].includes(msg.code)) {
      // Nothing was stored: ask again where each stream stands, shortly.
      setTimeout(() => {
        for (const st of this.streams.values()) {
          if (st.sent_through > st.acked_through) {
            st.ready = false;
            this._send({ type: "hello", device: st.device, stream: st.stream, last_acked: st.acked_through });
          }
        }
      }, 1000 + Math.random() * 1000);
    }
  }

  async _rotate(s, badSeq) {
    const job = this.writeChain.then(async () => {
      const db = await openDb();
      const range = IDBKeyRange.bound([s.stream, s.acked_through + 1], [s.stream, Number.MAX_SAFE_INTEGER]);
      const rows = await promised(db.transaction("batches").objectStore("batches").getAll(range));
      const kept = (await Promise.all(rows.map(openBatch))).filter((b) => b.seq !== badSeq);
      const fresh = await this._newStream(s.kind);
      // Re-sealed for their new place (it is part of the additional data).
      const moved = await Promise.all(kept.map((b, seq) => sealBatch({ ...b, stream: fresh.stream, seq })));
      const tx = db.transaction(["batches", "streams"], "readwrite");
      const store = tx.objectStore("batches");
      store.delete(range);
      for (const row of moved) store.put(row);
      const seq = moved.length;
      s.next_seq = s.acked_through + 1;
      s.active = false;
      tx.objectStore("streams").put(this._row(s));
      tx.objectStore("streams").put(this._row({ ...fresh, next_seq: seq }));
      await done(tx);
      fresh.next_seq = seq;
      this.streams.delete(s.stream);
      if (this.open) this._send({ type: "hello", device: fresh.device, stream: fresh.stream, last_acked: -1 });
    });
    this.writeChain = job.catch(() => undefined);
    await job;
    this.emit();
  }

  async _acked(s, ackedThrough) {
    if (typeof ackedThrough !== "number" || ackedThrough <= s.acked_through) {
      if (typeof ackedThrough === "number") s.lastProgress = Date.now();
      return;
    }
    const from = s.acked_through + 1;
    s.acked_through = ackedThrough;
    s.lastProgress = Date.now();
    if (s.sent_through < ackedThrough) s.sent_through = ackedThrough;
    this.stats.acked += ackedThrough - from + 1;
    const db = await openDb();
    const tx = db.transaction(["batches", "streams"], "readwrite");
    tx.objectStore("batches").delete(IDBKeyRange.bound([s.stream, 0], [s.stream, ackedThrough]));
    const current = await promised(tx.objectStore("streams").get(s.stream));
    if (current) tx.objectStore("streams").put({ ...current, acked_through: Math.max(current.acked_through, ackedThrough) });
    await done(tx);
    this.emit();
  }

  /** Send what the window allows, oldest first, per stream. */
  async pump() {
    if (this._pumping) { this._pumpAgain = true; return; }
    this._pumping = true;
    try {
      do {
        this._pumpAgain = false;
        for (const s of this.streams.values()) {
          if (!this.open || !s.ready) continue;
          const inflight = s.sent_through - s.acked_through;
          const room = WINDOW - inflight;
          s.msgs = (s.msgs || []).filter((last) => last > s.acked_through);
          if (s.msgs.length >= MAX_MESSAGES) continue;
          const last = s.next_seq - 1;
          if (room <= 0 || s.sent_through >= last) continue;
          const db = await openDb();
          const hi = Math.min(last, s.sent_through + Math.min(room, CHUNK));
          const range = IDBKeyRange.bound([s.stream, s.sent_through + 1], [s.stream, hi]);
          const stored = await promised(db.transaction("batches").objectStore("batches").getAll(range));
          let rows;
          try {
            rows = await Promise.all(stored.map(openBatch));
          } catch (err) {
            // Tampered with, or sealed under a key no longer issued: never sent.
            this.stats.unreadable = (this.stats.unreadable || 0) + 1;
            console.error("outbox record cannot be opened", err);
            continue;
          }
          if (!this.open || !s.ready) continue;
          if (!rows.length) { s.sent_through = hi; continue; }
          const items = rows.map(({ case: _c, ...wire }) => wire);
          const ok = items.length === 1 ? this._send({ type: "batch", ...items[0] }) : this._send({ type: "batches", items });
          if (ok) {
            if (s.sent_through <= s.acked_through) s.lastProgress = Date.now();
            s.sent_through = rows[rows.length - 1].seq;
            s.msgs.push(s.sent_through);
            this.stats.sent += rows.length;
            this._pumpAgain = true;
          }
        }
      } while (this._pumpAgain && this.open);
    } finally {
      this._pumping = false;
    }
  }
}

/** Test hook and manual "offline" switch: no socket for ``ms`` (survives a reload). */
export function blockSocket(ms) { sessionStorage.setItem(BLOCK_KEY, String(Date.now() + ms)); }
export function allowSocket() { sessionStorage.removeItem(BLOCK_KEY); }
