// The opened case's waveforms on the command board: per-stream seq, gaps
// backfilled over HTTP, and a catch-up after a resync or a reconnect.

import { api, setText } from "../ems.js";

const GAP_GIVE_UP_MS = 5000;
// After a resync or a reconnect, gaps up to this many batches (5 min of ECG) are
// backfilled; a longer one jumps to the present (the full record is in the report).
const CATCH_UP_MAX = 1200;

export class Waveforms {
  /**
   * focus: () => the opened case's id (or null); strip: () => its EcgStrip (or null);
   * stats: the board's counters (live, backfilled, duplicates, gaps, skipped, samples).
   */
  constructor({ focus, strip, stats }) {
    this.focus = focus;
    this.strip = strip;
    this.stats = stats;
    this.streams = new Map(); // stream id -> {case, kind, lastSeq, pending: Map, fetching, gapSince}
    this.dropLive = 0; // test hook: lose live batches as a channel layer might
  }

  /** Forget every stream (the case is closed). */
  clear() { this.streams.clear(); }

  /** Forget the streams of cases other than ``caseId``. */
  keepCase(caseId) { for (const [sid, s] of this.streams) if (s.case !== caseId) this.streams.delete(sid); }

  /** The last seq shown, per stream. */
  lastSeqs() { return Object.fromEntries([...this.streams].map(([id, s]) => [id, s.lastSeq])); }

  streamState(msg) {
    let s = this.streams.get(msg.stream);
    if (!s) {
      // A stream seen first live: start just before it (older data is history, not live).
      s = { case: msg.case || this.focus(), kind: msg.kind, lastSeq: msg.seq - 1, pending: new Map(), fetching: false, gapSince: 0 };
      this.streams.set(msg.stream, s);
    }
    return s;
  }

  play(batch) {
    const strip = this.strip();
    if (batch.kind !== "ecg" || !strip) return;
    const samples = batch.payload && batch.payload.samples;
    if (!Array.isArray(samples)) return;
    strip.push(samples, batch.rate_hz || 250);
    this.stats.samples += samples.length;
    setText("p-ecg-note", `Lead II · ${batch.rate_hz || 250} Hz · seq ${batch.seq}`);
  }

  deliver(streamId) {
    const s = this.streams.get(streamId);
    if (!s) return;
    while (s.pending.has(s.lastSeq + 1)) {
      const batch = s.pending.get(s.lastSeq + 1);
      s.pending.delete(s.lastSeq + 1);
      s.lastSeq += 1;
      this.play(batch);
    }
    for (const seq of [...s.pending.keys()]) if (seq <= s.lastSeq) s.pending.delete(seq);
    if (s.pending.size === 0) { s.gapSince = 0; return; }
    // A gap: fetch what is missing; if the server does not have it yet, skip after a while.
    if (!s.gapSince) { s.gapSince = Date.now(); this.stats.gaps += 1; }
    if (!s.fetching) this.backfill(streamId);
    if (Date.now() - s.gapSince > GAP_GIVE_UP_MS) {
      const next = Math.min(...s.pending.keys());
      this.stats.skipped += next - s.lastSeq - 1;
      s.lastSeq = next - 1;
      s.gapSince = 0;
      this.deliver(streamId);
    }
  }

  /** Fetch missing batches over HTTP; with ``upTo``, page on until that seq is in. */
  async backfill(streamId, { afterSeq, limit, upTo } = {}) {
    const s = this.streams.get(streamId);
    if (!s || s.fetching) return;
    s.fetching = true;
    try {
      let after = afterSeq ?? s.lastSeq;
      for (;;) {
        const want = limit ?? (upTo !== undefined ? Math.max(1, Math.min(500, upTo - after))
          : Math.max(1, Math.min(500, (s.pending.size ? Math.min(...s.pending.keys()) : after + 1) - after - 1 || 40)));
        const res = await api(`/api/emergency/cases/${s.case}/vitals/?stream=${encodeURIComponent(streamId)}&after_seq=${after}&limit=${want}`);
        for (const b of res.batches) {
          if (b.seq > s.lastSeq && !s.pending.has(b.seq)) { s.pending.set(b.seq, b); this.stats.backfilled += 1; }
        }
        const top = res.batches.length ? res.batches[res.batches.length - 1].seq : after;
        if (upTo === undefined || !res.more || top >= upTo || top === after) break;
        after = top;
      }
    } catch (_) { /* retried on the next live batch */ } finally {
      s.fetching = false;
    }
    this.deliver(streamId);
  }

  onWaveform(msg) {
    if (msg.case !== this.focus()) return;
    if (this.dropLive > 0) { this.dropLive -= 1; return; }
    const s = this.streamState(msg);
    if (msg.seq <= s.lastSeq || s.pending.has(msg.seq)) { this.stats.duplicates += 1; return; }
    this.stats.live += 1;
    s.pending.set(msg.seq, msg);
    this.deliver(msg.stream);
  }

  onSubscribed(msg) {
    if (msg.case !== this.focus()) return;
    const ecg = (msg.streams || []).filter((s) => s.kind === "ecg");
    // Streams followed before a resync or a reconnect: fetch what was committed
    // while live messages were lost, from the last seq shown.
    for (const info of ecg) {
      const s = this.streams.get(info.stream);
      if (!s || info.acked_through <= s.lastSeq) continue;
      if (info.acked_through - s.lastSeq > CATCH_UP_MAX) {
        this.stats.skipped += info.acked_through - 12 - s.lastSeq;
        s.lastSeq = info.acked_through - 12;
        s.pending.clear();
      }
      this.backfill(info.stream, { upTo: info.acked_through });
    }
    const latest = ecg[ecg.length - 1];
    if (!latest) return;
    if (!this.streams.has(latest.stream)) {
      // Prefill about three seconds so the strip starts at once.
      const start = Math.max(-1, latest.acked_through - 12);
      this.streams.set(latest.stream, { case: msg.case, kind: "ecg", lastSeq: start, pending: new Map(), fetching: false, gapSince: 0 });
      this.backfill(latest.stream, { afterSeq: start, limit: 12 });
    }
  }
}
