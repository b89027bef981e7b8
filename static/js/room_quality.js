// The host's quality report: per participant session, a latency histogram against the
// 100/200 ms thresholds, latency, bitrate and loss over time, and freezes. SVG, no library.
"use strict";
(() => {
  const root = document.getElementById("quality-report");
  if (!root) return;
  const list = document.getElementById("qr-sessions");
  const status = document.getElementById("qr-status");
  const NS = "http://www.w3.org/2000/svg";
  const GREEN = "#1e8449", AMBER = "#b9770e", RED = "#b03a2e", INK = "#5d6d7e", LINE = "#d5dbe1", BRAND = "#0b6e99";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const colourFor = (ms) => (ms <= 100 ? GREEN : ms <= 200 ? AMBER : RED);
  const when = (iso) => new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
  const hhmm = (iso) => new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(iso));

  function chart(title, body) {
    const box = el("figure", "qr-chart");
    box.append(el("h3", "", title), body);
    return box;
  }

  function histogram(edges, counts) {
    const W = 420, H = 200, L = 36, B = 38, T = 10;
    const n = counts.length;
    const bw = (W - L - 8) / n;
    const max = Math.max(1, ...counts);
    const total = counts.reduce((a, b) => a + b, 0);
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Latency histogram" });
    s.append(svg("line", { x1: L, y1: H - B, x2: W - 4, y2: H - B, stroke: LINE }));
    counts.forEach((c, i) => {
      const upper = i < edges.length ? edges[i] : Infinity;
      const h = ((H - B - T) * c) / max;
      const bar = svg("rect", { x: L + i * bw + 2, y: H - B - h, width: bw - 4, height: h, fill: colourFor(upper), rx: 2 });
      bar.append(svg("title", {}, `${i < edges.length ? "≤ " + edges[i] : "> " + edges[edges.length - 1]} ms: ${c} (${total ? Math.round((100 * c) / total) : 0}%)`));
      s.append(bar);
      const label = i < edges.length ? String(edges[i]) : `>${edges[edges.length - 1]}`;
      s.append(svg("text", { x: L + i * bw + bw / 2, y: H - B + 14, "text-anchor": "middle" }, label));
    });
    // Threshold lines after the 100 ms and 200 ms buckets.
    for (const [limit, colour] of [[100, AMBER], [200, RED]]) {
      const i = edges.indexOf(limit);
      if (i < 0) continue;
      const x = L + (i + 1) * bw;
      s.append(svg("line", { x1: x, y1: T, x2: x, y2: H - B, stroke: colour, "stroke-dasharray": "4 3", "stroke-width": 1.5 }));
      s.append(svg("text", { x: x + 3, y: T + 10, fill: colour }, `${limit} ms`));
    }
    s.append(svg("text", { x: L, y: H - 6 }, "glass-to-glass latency, ms (upper edge of each bucket)"));
    s.append(svg("text", { x: 4, y: T + 10 }, String(max)));
    return s;
  }

  function line(points, { unit, thresholds = [], colour = BRAND }) {
    const W = 420, H = 180, L = 44, B = 26, T = 10, R = 8;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${unit} over time` });
    if (!points.length) { s.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data")); return s; }
    const t0 = points[0].t, t1 = points[points.length - 1].t || t0 + 1;
    const top = Math.max(...points.map((p) => p.v), ...thresholds.map((x) => x[0] * 1.1), 1);
    const x = (t) => L + ((W - L - R) * (t - t0)) / Math.max(1, t1 - t0);
    const y = (v) => H - B - ((H - B - T) * v) / top;
    s.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: LINE }));
    s.append(svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: LINE }));
    for (const [v, c] of thresholds) {
      s.append(svg("line", { x1: L, y1: y(v), x2: W - R, y2: y(v), stroke: c, "stroke-dasharray": "4 3" }));
      s.append(svg("text", { x: W - R - 2, y: y(v) - 3, "text-anchor": "end", fill: c }, `${v} ${unit}`));
    }
    const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    s.append(svg("path", { d, fill: "none", stroke: colour, "stroke-width": 1.8 }));
    s.append(svg("text", { x: 4, y: T + 8 }, `${Math.round(top)}`));
    s.append(svg("text", { x: 4, y: H - B }, "0"));
    s.append(svg("text", { x: L, y: H - 6 }, hhmm(new Date(t0).toISOString())));
    s.append(svg("text", { x: W - R, y: H - 6, "text-anchor": "end" }, hhmm(new Date(t1).toISOString())));
    return s;
  }

  function series(session, key) {
    return (session.series || []).filter((p) => p[key] !== undefined && p[key] !== null)
      .map((p) => ({ t: new Date(p.t).getTime(), v: Number(p[key]) }));
  }

  function medianFromHist(edges, counts) {
    const total = counts.reduce((a, b) => a + b, 0);
    if (!total) return null;
    let seen = 0;
    for (let i = 0; i < counts.length; i += 1) { seen += counts[i]; if (seen >= total / 2) return i < edges.length ? edges[i] : Infinity; }
    return null;
  }

  function render(data) {
    const edges = data.latency_edges_ms || [];
    const sessions = data.sessions || [];
    status.textContent = sessions.length ? `${sessions.length} session${sessions.length > 1 ? "s" : ""}` : "No quality reports yet: they arrive every 2 seconds while people are in the room.";
    list.replaceChildren(...sessions.map((s) => {
      const card = el("article", "card qr-session");
      card.dataset.participant = s.participant;
      const head = el("div", "qr-head");
      head.append(el("h2", "", s.label), el("span", "muted small", `${when(s.started_at)} → ${hhmm(s.updated_at)}`));
      const hist = s.latency_hist || [];
      const total = hist.reduce((a, b) => a + b, 0);
      const within = hist.slice(0, edges.indexOf(100) + 1).reduce((a, b) => a + b, 0);
      const med = medianFromHist(edges, hist);
      const facts = el("div", "qr-facts");
      const medNode = el("span", med === null ? "" : med <= 100 ? "lat-green" : med <= 200 ? "lat-amber" : "lat-red",
        med === null ? "median latency –" : `median latency ≤ ${med === Infinity ? "> 2000" : med} ms`);
      const losses = series(s, "loss_pct").map((p) => p.v);
      facts.append(
        medNode,
        el("span", "", `${total} latency samples, ${total ? Math.round((100 * within) / total) : 0}% within 100 ms`),
        el("span", "", `${s.freezes || 0} freeze${s.freezes === 1 ? "" : "s"}`),
        el("span", "", `max loss ${losses.length ? Math.max(...losses).toFixed(1) : "–"} %`),
        el("span", "muted", `${s.samples || 0} reports`),
      );
      const charts = el("div", "qr-charts");
      charts.append(
        chart("Latency histogram", histogram(edges, hist)),
        chart("Latency over time (ms)", line(series(s, "g2g_ms"), { unit: "ms", thresholds: [[100, AMBER], [200, RED]], colour: INK })),
        chart("Bitrate received (kbit/s)", line(series(s, "bitrate_kbps"), { unit: "kbit/s" })),
        chart("Packet loss (%)", line(series(s, "loss_pct"), { unit: "%", thresholds: [[2, AMBER]], colour: RED })),
      );
      card.append(head, facts, charts);
      return card;
    }));
  }

  fetch(root.dataset.api, { credentials: "same-origin" })
    .then(async (response) => {
      if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail || "Could not load the report.");
      return response.json();
    })
    .then(render)
    .catch((err) => { status.textContent = err.message; });
})();
