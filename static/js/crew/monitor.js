// A simulated bedside monitor for the crew page: ECG lead II at 250 Hz in four
// batches a second, numerics once a second, drifting around a scenario's values.

const SCENARIOS = {
  stemi: { hr: 96, spo2: 94, sbp: 108, dbp: 70, rr: 22, temp_c: 36.8, st: 260 },
  stroke: { hr: 84, spo2: 96, sbp: 182, dbp: 100, rr: 16, temp_c: 36.9, st: 0 },
  trauma: { hr: 118, spo2: 93, sbp: 96, dbp: 60, rr: 26, temp_c: 35.8, st: 0 },
  cardiac_arrest: { hr: 108, spo2: 90, sbp: 88, dbp: 50, rr: 10, temp_c: 35.5, st: 80 },
  sepsis: { hr: 124, spo2: 92, sbp: 92, dbp: 55, rr: 26, temp_c: 39.2, st: 0 },
  obstetric: { hr: 104, spo2: 97, sbp: 138, dbp: 92, rr: 20, temp_c: 37.2, st: 0 },
  paediatric: { hr: 130, spo2: 95, sbp: 100, dbp: 62, rr: 28, temp_c: 38.4, st: 0 },
  other: { hr: 82, spo2: 97, sbp: 128, dbp: 80, rr: 16, temp_c: 36.9, st: 0 },
};
export const RATE = 250;
const BATCH_MS = 250;

export class SimMonitor {
  constructor(category, onEcg, onNumerics) {
    this.base = SCENARIOS[category] || SCENARIOS.other;
    this.now = { ...this.base };
    this.onEcg = onEcg;
    this.onNumerics = onNumerics;
    this.n = 0; // samples emitted since start
    this.t0 = Date.now();
    this.beat = 0; // time (s) of the current beat
    this.next = 0.2;
    this.timer = null;
    this.batches = 0;
  }

  start() {
    this.t0 = Date.now();
    this.n = 0;
    this.timer = setInterval(() => this.tick(), BATCH_MS);
  }

  stop() { clearInterval(this.timer); this.timer = null; }

  value(t) {
    if (t >= this.next) {
      this.beat = this.next;
      this.next = this.beat + (60 / this.now.hr) * (0.97 + Math.random() * 0.06);
    }
    const p = t - this.beat;
    const g = (mu, sd, a) => a * Math.exp(-((p - mu) ** 2) / (2 * sd * sd));
    let v = g(0.10, 0.022, 130) + g(0.205, 0.008, -110) + g(0.225, 0.010, 1150) + g(0.245, 0.010, -280) + g(0.44, 0.045, 300);
    if (this.base.st && p > 0.26 && p < 0.42) v += this.base.st * Math.sin(((p - 0.26) / 0.16) * Math.PI * 0.5 + 0.3);
    v += 40 * Math.sin(2 * Math.PI * 0.25 * t) + (Math.random() - 0.5) * 24;
    return Math.max(-32768, Math.min(32767, Math.round(v)));
  }

  tick() {
    // Catch up on the wall clock: every sample due by now, in whole batches.
    const due = Math.floor(((Date.now() - this.t0) / 1000) * RATE);
    while (this.n + 62 <= due) {
      const k = this.batches;
      const count = Math.floor(((k + 1) * RATE * BATCH_MS) / 1000) - Math.floor((k * RATE * BATCH_MS) / 1000);
      const samples = [];
      for (let i = 0; i < count; i++) samples.push(this.value((this.n + i) / RATE));
      const t0 = this.t0 + (this.n / RATE) * 1000;
      this.n += count;
      this.batches += 1;
      this.onEcg({ sample_t0: t0, rate_hz: RATE, payload: { lead: "II", unit: "uV", samples } }, samples);
      if (this.batches % 4 === 0) this.numerics(t0);
    }
  }

  numerics(t0) {
    const drift = (name, step, lo, hi) => {
      const target = this.base[name];
      let x = this.now[name] + (Math.random() - 0.5) * step + (target - this.now[name]) * 0.1;
      x = Math.max(lo, Math.min(hi, x));
      this.now[name] = x;
      return x;
    };
    const values = {
      hr: Math.round(drift("hr", 3, 30, 220)),
      spo2: Math.round(Math.min(100, drift("spo2", 1, 70, 100))),
      sbp: Math.round(drift("sbp", 3, 50, 240)),
      dbp: Math.round(drift("dbp", 2, 30, 140)),
      rr: Math.round(drift("rr", 1.2, 6, 50)),
      temp_c: Math.round(drift("temp_c", 0.05, 33, 42) * 10) / 10,
    };
    this.onNumerics({ sample_t0: t0, values });
  }
}
