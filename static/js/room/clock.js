// NTP-style clock offset over the room socket (media_core/clock.py in JS).
// offset = server clock − this browser's clock (Date.now()); min-RTT filter over a window.

export class ClockOffset {
  constructor(window = 16) {
    this.window = window;
    this.samples = [];
  }

  /** One clock.pong: t0/t3 on this clock, serverMs stands for both t1 and t2. */
  add(t0, serverMs, t3) {
    const t1 = serverMs;
    const t2 = serverMs;
    const rtt = (t3 - t0) - (t2 - t1);
    if (rtt < 0) return this.estimate();
    this.samples.push({ offset: ((t1 - t0) + (t2 - t3)) / 2, rtt });
    if (this.samples.length > this.window) this.samples.shift();
    return this.estimate();
  }

  estimate() {
    if (!this.samples.length) return null;
    let best = this.samples[0];
    for (const s of this.samples) if (s.rtt < best.rtt) best = s;
    return { offset: best.offset, uncertainty: best.rtt / 2, rtt: best.rtt, samples: this.samples.length };
  }

  reset() { this.samples = []; }
}
