// The clinician's live waiting list: who is waiting, since when, device checks, admit.
"use strict";
(() => {
  const panel = document.getElementById("waiting-panel");
  if (!panel) return;
  const list = document.getElementById("waiting-list");
  const empty = document.getElementById("waiting-empty");
  const count = document.getElementById("waiting-count");
  const live = document.getElementById("waiting-live");
  const baseTitle = document.title;
  let socket = null;
  let backoff = 500;
  let rows = [];

  // The CSRF cookie is HttpOnly; the page carries the token in a meta tag.
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const minutesSince = (iso) => Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
  const clock = (iso) => new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(new Date(iso));

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render() {
    list.replaceChildren();
    const waitingNow = rows.filter((r) => !r.admitted_at);
    count.textContent = waitingNow.length ? `(${waitingNow.length})` : "";
    document.title = waitingNow.length ? `(${waitingNow.length}) ${baseTitle}` : baseTitle;
    empty.hidden = rows.length > 0;
    for (const row of rows) {
      const item = el("li", "waiting-item" + (row.admitted_at ? " admitted" : ""));
      item.dataset.appointment = row.appointment;
      const who = el("div", "waiting-who");
      who.append(el("strong", "", row.patient), el("span", "muted small", ` · ${row.consultation} at ${clock(row.starts_at)}`));
      const since = el("div", "small waiting-since",
        row.admitted_at ? `Admitted at ${clock(row.admitted_at)}` : `Waiting since ${clock(row.arrived_at)} (${minutesSince(row.arrived_at)} min)`);
      const checks = el("div", "small waiting-checks");
      const c = row.checks || {};
      checks.append(
        el("span", c.camera ? "chip ok" : "chip bad", c.camera ? "camera ✓" : "camera ?"),
        el("span", c.microphone ? "chip ok" : "chip bad", c.microphone ? "mic ✓" : "mic ?"),
        el("span", "chip", c.rtt_ms != null ? `${c.rtt_ms} ms` : "network ?"),
      );
      item.append(who, since, checks);
      if (!row.admitted_at) {
        const button = el("button", "primary admit", "Admit");
        button.type = "button";
        button.addEventListener("click", () => admit(row.appointment, button));
        item.append(button);
      } else if (row.room) {
        const link = el("a", "button", "Open room");
        link.href = row.room;
        item.append(link);
      }
      list.append(item);
    }
  }

  async function refresh() {
    const response = await fetch(panel.dataset.api, { credentials: "same-origin" });
    if (!response.ok) { live.textContent = "Could not load the waiting list."; return; }
    rows = (await response.json()).waiting;
    render();
  }

  async function admit(appointment, button) {
    button.disabled = true;
    const response = await fetch(`/api/scheduling/appointments/${appointment}/admit/`, {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() },
    });
    const body = await response.json();
    if (!response.ok) { live.textContent = body.detail || "Could not admit."; button.disabled = false; return; }
    const row = rows.find((r) => r.appointment === appointment);
    if (row) { row.admitted_at = new Date().toISOString(); row.room = body.room; }
    render();
    window.open(body.room, "_self");
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/diary/`);
    socket.addEventListener("open", () => { backoff = 500; live.textContent = "Live"; refresh(); });
    socket.addEventListener("message", (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "waiting_changed") refresh();
      if (msg.type === "appointment_changed") document.dispatchEvent(new CustomEvent("diary:changed", { detail: msg }));
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401 || event.code === 4403) { live.textContent = "Sign in again to see the waiting room."; return; }
      live.textContent = "Reconnecting…";
      setTimeout(connect, backoff + Math.random() * backoff);
      backoff = Math.min(backoff * 2, 15000);
    });
  }

  setInterval(render, 30000);  // keep "waiting N min" current
  connect();
})();
