// The quality panel: getStats() figures per participant and the stamp latency,
// coloured against DESIGN.md's thresholds; a `quality` report to the room every 2 s.
import { el, fmt, latencyClass, median } from "./util.js";

const EVERY_MS = 2000;

function clamp(v, lo, hi) { return v === null || v === undefined || !Number.isFinite(v) ? null : Math.min(hi, Math.max(lo, v)); }

async function statsOf(pc) {
  if (!pc || pc.connectionState === "closed") return [];
  try { return [...(await pc.getStats()).values()]; } catch (_) { return []; }
}

function selectedRtt(stats) {
  const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
  const pair = transport ? stats.find((s) => s.id === transport.selectedCandidatePairId)
    : stats.find((s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded");
  return pair && Number.isFinite(pair.currentRoundTripTime) ? pair.currentRoundTripTime * 1000 : null;
}

export class Quality {
  constructor({ list, media, people, send, session, me }) {
    this.list = list;
    this.media = media;
    this.people = people;
    this.send = send;
    this.session = session;
    this.me = me;
    this.prev = new Map();     // stats id → previous sample
    this.inbound = new Map();  // track id → figures
    this.outbound = new Map(); // mid → figures
    this.rtt = null;
    this.reported = new Map(); // participant → figures they broadcast
    this.timer = setInterval(() => this.tick(), EVERY_MS);
    this.paintTimer = setInterval(() => this.paintTiles(), 500);
  }

  /** Stop reporting and painting (the session left; the page keeps going). */
  destroy() { clearInterval(this.timer); clearInterval(this.paintTimer); }

  onRemote(msg) { this.reported.set(msg.participant, msg.figures || {}); }

  rate(id, bytes, t) {
    const p = this.prev.get(id);
    return p && t > p.t ? ((bytes - p.bytes) * 8) / (t - p.t) : null;  // kbit/s (ms clock)
  }

  async tick() {
    const [subStats, pubStats] = await Promise.all([statsOf(this.media.sub), statsOf(this.media.pub)]);
    const now = performance.now();
    this.rtt = selectedRtt(subStats) ?? selectedRtt(pubStats);
    const seen = new Set();
    let frozen = false;
    for (const s of subStats) {
      if (s.type !== "inbound-rtp") continue;
      const id = this.media.midToTrack.get(s.mid) || `mid:${s.mid}`;
      const p = this.prev.get(s.id);
      const lost = p ? Math.max(0, s.packetsLost - p.lost) : 0;
      const recv = p ? Math.max(0, s.packetsReceived - p.received) : 0;
      const fig = {
        kind: s.kind, track: id,
        kbps: this.rate(s.id, s.bytesReceived, now),
        loss: p && lost + recv > 0 ? (100 * lost) / (lost + recv) : p ? 0 : null,
        jitter: Number.isFinite(s.jitter) ? s.jitter * 1000 : null,
        fps: s.framesPerSecond ?? null, width: s.frameWidth ?? null, height: s.frameHeight ?? null,
        decoded: s.framesDecoded ?? null,
        frozen: s.kind === "video" && p && ((s.freezeCount ?? 0) > (p.freezes ?? 0) || (s.framesDecoded ?? 0) === (p.decoded ?? 0)),
      };
      frozen = frozen || Boolean(fig.frozen);
      this.prev.set(s.id, { t: now, bytes: s.bytesReceived, lost: s.packetsLost, received: s.packetsReceived, freezes: s.freezeCount, decoded: s.framesDecoded });
      this.inbound.set(id, fig);
      seen.add(id);
    }
    for (const id of [...this.inbound.keys()]) if (!seen.has(id)) this.inbound.delete(id);
    this.outbound.clear();
    for (const s of pubStats) {
      if (s.type !== "outbound-rtp" || s.kind !== "video") continue;
      const remote = pubStats.find((r) => r.type === "remote-inbound-rtp" && r.localId === s.id);
      this.outbound.set(s.mid, {
        kbps: this.rate(s.id, s.bytesSent, now), fps: s.framesPerSecond ?? null,
        width: s.frameWidth ?? null, height: s.frameHeight ?? null, limit: s.qualityLimitationReason || "none",
        encoder: s.encoderImplementation || "", loss: remote && Number.isFinite(remote.fractionLost) ? remote.fractionLost * 100 : null,
      });
      this.prev.set(s.id, { t: now, bytes: s.bytesSent });
    }
    this.report(frozen);
    this.render();
  }

  /** Figures per remote participant: what this browser receives from them. */
  byParticipant() {
    const out = new Map();
    for (const fig of this.inbound.values()) {
      const info = this.media.trackInfo.get(fig.track);
      const pid = info ? info.participant : "?";
      if (!out.has(pid)) out.set(pid, { kbps: 0, video: [], audio: null });
      const agg = out.get(pid);
      agg.kbps += fig.kbps || 0;
      if (fig.kind === "video") agg.video.push(fig); else agg.audio = fig;
    }
    // Latency comes from the tiles' stamps, whether or not getStats() named the track.
    for (const tile of this.media.tiles.values()) {
      const pid = tile.dataset.participant;
      if (!out.has(pid)) out.set(pid, { kbps: 0, video: [], audio: null });
    }
    for (const [pid, agg] of out) {
      const lat = [];
      for (const tile of this.media.tiles.values()) if (tile.dataset.participant === pid) {
        const m = this.media.latencyOf(tile);
        if (m !== null) lat.push(m);
      }
      agg.g2g = lat.length ? Math.max(...lat) : null;
    }
    return out;
  }

  report(frozen) {
    const parts = this.byParticipant();
    const videos = [...this.inbound.values()].filter((f) => f.kind === "video");
    const biggest = videos.reduce((a, b) => ((b.width || 0) * (b.height || 0) > (a ? (a.width || 0) * (a.height || 0) : -1) ? b : a), null);
    const losses = [...this.inbound.values()].map((f) => f.loss).filter((x) => x !== null);
    const jitters = videos.map((f) => f.jitter).filter((x) => x !== null);
    const fpss = videos.map((f) => f.fps).filter((x) => x !== null);
    const samples = this.media.takeSamples().map((s) => Math.round(s.ms * 10) / 10);
    const g2gs = [...parts.values()].map((p) => p.g2g).filter((x) => x !== null);
    const perSender = {};
    for (const [pid, p] of parts) {
      if (Object.keys(perSender).length >= 32) break;
      perSender[pid] = { kbps: Math.round(p.kbps), g2g_ms: p.g2g === null ? null : Math.round(p.g2g) };
    }
    const msg = {
      type: "quality", session: this.session,
      bitrate_kbps: clamp(videos.length ? [...this.inbound.values()].reduce((a, f) => a + (f.kbps || 0), 0) : null, 0, 1_000_000),
      fps: clamp(fpss.length ? fpss.reduce((a, b) => a + b, 0) / fpss.length : null, 0, 240),
      width: biggest && biggest.width ? Math.min(8192, biggest.width) : null,
      height: biggest && biggest.height ? Math.min(8192, biggest.height) : null,
      loss_pct: clamp(losses.length ? Math.max(...losses) : null, 0, 100),
      jitter_ms: clamp(jitters.length ? Math.max(...jitters) : null, 0, 60000),
      rtt_ms: clamp(this.rtt, 0, 60000),
      g2g_ms: clamp(samples.length ? median(samples) : g2gs.length ? median(g2gs) : null, 0, 60000),
      g2g_samples: samples.slice(-120).filter((x) => x >= 0 && x <= 60000),
      frozen: Boolean(frozen),
      per_sender: perSender,
    };
    this.send(msg);
  }

  paintTiles() {
    for (const tile of this.media.tiles.values()) {
      const m = this.media.latencyOf(tile);
      tile.latNode.textContent = m === null ? (tile.stamped ? "… ms" : "no stamp") : `${Math.round(m)} ms`;
      tile.latNode.className = `tile-latency ${latencyClass(m)}`;
    }
  }

  row(dl, label, value, cls) {
    const dt = el("dt", "", label);
    const dd = el("dd", cls || "", value);
    dl.append(dt, dd);
    return dd;
  }

  render() {
    const cards = [];
    const self = this.people.get(this.me().participant);
    // This browser's own sending.
    const mine = el("article", "q-card self");
    mine.append(el("h3", "", "You (sending)"));
    for (const src of this.media.sources) {
      const mid = src.transceiver ? src.transceiver.mid : null;
      const out = mid !== null ? this.outbound.get(mid) : null;
      const dl = el("dl", "q-figures");
      this.row(dl, src.label, out && out.width ? `${out.width}×${out.height} · ${fmt(out.fps, "fps")}` : "starting…");
      this.row(dl, "Bitrate", fmt(out && out.kbps, "kbit/s"));
      this.row(dl, "Limited by", out ? out.limit : "–");
      this.row(dl, "Stamped", src.stamped ? "yes" : "no (browser cannot)");
      mine.append(dl);
    }
    const dlSelf = el("dl", "q-figures");
    this.row(dlSelf, "RTT", fmt(this.rtt, "ms"));
    this.row(dlSelf, "Clock offset", self && self.clock_offset_ms !== null && self.clock_offset_ms !== undefined ? `${fmt(self.clock_offset_ms, "ms", 1)}` : "measuring…");
    mine.append(dlSelf);
    cards.push(mine);
    const parts = this.byParticipant();
    for (const person of this.people.present()) {
      if (person.self) continue;
      const card = el("article", "q-card");
      card.dataset.participant = person.participant;
      card.append(el("h3", "", `From ${person.label}`));
      const p = parts.get(person.participant);
      const dl = el("dl", "q-figures");
      const lat = this.row(dl, "Latency", p && p.g2g !== null ? `${Math.round(p.g2g)} ms` : "– ms", `q-latency ${latencyClass(p ? p.g2g : null)}`);
      lat.title = "Glass to glass: capture on their camera to display here (median of the last 5 s)";
      if (p) {
        for (const v of p.video) {
          this.row(dl, "Video", v.width ? `${v.width}×${v.height} · ${fmt(v.fps, "fps")}` : "waiting…");
        }
        this.row(dl, "Bitrate", fmt(p.kbps, "kbit/s"));
        const losses = [...p.video, p.audio].filter(Boolean).map((f) => f.loss).filter((x) => x !== null);
        this.row(dl, "Packet loss", losses.length ? `${fmt(Math.max(...losses), "%", 1)}` : "–");
        const jit = p.video.map((f) => f.jitter).filter((x) => x !== null);
        this.row(dl, "Jitter", jit.length ? fmt(Math.max(...jit), "ms") : "–");
      } else {
        this.row(dl, "Video", "not receiving yet");
      }
      const theirs = this.reported.get(person.participant);
      if (theirs) {
        this.row(dl, "They see", theirs.g2g_ms !== null && theirs.g2g_ms !== undefined ? `${Math.round(theirs.g2g_ms)} ms` : "– ms", `q-theirs ${latencyClass(theirs.g2g_ms)}`);
      }
      card.append(dl);
      cards.push(card);
    }
    this.list.replaceChildren(...cards);
  }
}
