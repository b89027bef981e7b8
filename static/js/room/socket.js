// The room websocket: reconnects by itself with exponential backoff and full jitter.
//
// Events (EventTarget): "open" (each (re)connection; detail.reconnect), "message"
// (detail: the parsed JSON), "down" (lost; will retry), "refused" (4401/4403: gone for good),
// "superseded" (4409: the same person opened the room elsewhere; stopped until resume()).

const BASE_MS = 500;
const CAP_MS = 15000;

export class RoomSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.attempt = 0;
    this.opened = 0;
    this.stopped = false;
    this.timer = null;
    this.checkUrl = null;  // a page that answers 404 once this user may no longer enter
    window.addEventListener("online", () => this.retryNow());
  }

  get open() { return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN); }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = null;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this.opened += 1;
      this.dispatchEvent(new CustomEvent("open", { detail: { reconnect: this.opened > 1 } }));
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      let msg;
      try { msg = JSON.parse(event.data); } catch (_) { return; }
      if (msg && typeof msg.type === "string") this.dispatchEvent(new CustomEvent("message", { detail: msg }));
    });
    let opened = false;
    ws.addEventListener("open", () => { opened = true; });
    ws.addEventListener("close", async (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (event.code === 4401 || event.code === 4403) {
        this.refuse(event.code);
        return;
      }
      if (event.code === 4409) {
        this.stopped = true;
        this.dispatchEvent(new CustomEvent("superseded", { detail: { code: event.code } }));
        return;
      }
      // A refused handshake shows as 1006 before "open": ask the page whether we may still enter.
      if (!opened && this.attempt >= 1 && this.checkUrl) {
        try {
          const response = await fetch(this.checkUrl, { credentials: "same-origin", cache: "no-store" });
          if (response.status === 404 || response.status === 403) { this.refuse(response.status === 404 ? 4403 : 4401); return; }
        } catch (_) { /* offline: keep trying */ }
        if (this.stopped) return;
      }
      // Full jitter: a uniformly random wait below the exponential ceiling.
      const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** this.attempt);
      this.attempt += 1;
      const wait = Math.random() * ceiling;
      this.dispatchEvent(new CustomEvent("down", { detail: { code: event.code, wait } }));
      this.timer = setTimeout(() => this.connect(), wait);
    });
  }

  refuse(code) {
    this.stopped = true;
    this.dispatchEvent(new CustomEvent("refused", { detail: { code } }));
  }

  /** Connect again after "superseded": this window takes the room back. */
  resume() {
    if (!this.stopped || this.ws) return;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /** Reconnect at once (the network came back), if waiting to retry. */
  retryNow() {
    if (!this.stopped && this.ws === null && this.timer !== null) this.connect();
  }

  /** Drop a socket that stopped answering; the close handler reconnects. */
  kick() {
    if (this.ws) { try { this.ws.close(4000, "no answer"); } catch (_) { this.ws.close(); } }
  }

  /** Send a message if the socket is open; returns whether it went out. */
  send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "bye");
  }
}
