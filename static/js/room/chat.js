// Room chat: an outbox of unacknowledged lines (resent until chat.ack), lines ordered
// by seq, and gap detection (a missing seq asks for chat.history).
import { clockTime, el, uuid4 } from "./util.js";

const RESEND_AFTER_MS = 5000;

export class Chat {
  constructor({ list, form, input, badge, send, me }) {
    this.list = list;
    this.badge = badge;
    this.send = send;            // (msg) => bool
    this.me = me;                // () => {participant, label}
    this.lines = new Map();      // seq → line
    this.lastSeq = 0;            // highest seq held with nothing missing below it
    this.outbox = new Map();     // client_id → {body, sentAt}
    this.historyAsked = 0;
    this.unread = 0;
    this.visible = () => true;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = input.value.trim();
      if (!body) return;
      input.value = "";
      this.post(body);
    });
    setInterval(() => this.resendStale(), 2000);
  }

  post(body) {
    const clientId = uuid4();
    this.outbox.set(clientId, { body: body.slice(0, 4000), sentAt: 0 });
    this.flush(clientId);
    this.render();
    return clientId;
  }

  flush(clientId) {
    const item = this.outbox.get(clientId);
    if (item && this.send({ type: "chat.send", client_id: clientId, body: item.body })) item.sentAt = Date.now();
  }

  /** After a (re)connection: everything not acknowledged goes again (the server dedupes). */
  resendAll() { for (const id of this.outbox.keys()) this.flush(id); }

  resendStale() {
    const now = Date.now();
    for (const [id, item] of this.outbox) if (now - item.sentAt > RESEND_AFTER_MS) this.flush(id);
    if (this.lastSeq < this.maxSeq() && now - this.historyAsked > RESEND_AFTER_MS) this.askHistory();
  }

  maxSeq() { let m = 0; for (const s of this.lines.keys()) m = Math.max(m, s); return m; }

  askHistory() {
    this.historyAsked = Date.now();
    this.send({ type: "chat.history", after_seq: this.lastSeq });
  }

  add(line, { live = false } = {}) {
    if (!line || !Number.isInteger(line.seq) || this.lines.has(line.seq)) return;
    this.lines.set(line.seq, line);
    this.outbox.delete(line.client_id);
    while (this.lines.has(this.lastSeq + 1)) this.lastSeq += 1;
    if (this.lastSeq < this.maxSeq() && Date.now() - this.historyAsked > 1000) this.askHistory();
    if (live && !this.visible() && line.sender !== this.me().participant) this.unread += 1;
  }

  onMessage(msg) {
    if (msg.type === "chat.message") {
      this.add(msg.message, { live: true });
    } else if (msg.type === "chat.history") {
      for (const line of msg.messages || []) this.add(line);
      // A full page (200) may mean more: keep paging.
      if ((msg.messages || []).length >= 200) this.askHistory();
    } else if (msg.type === "chat.ack") {
      const item = this.outbox.get(msg.client_id);
      if (item && Number.isInteger(msg.seq) && !this.lines.has(msg.seq)) {
        const me = this.me();
        this.add({ seq: msg.seq, client_id: msg.client_id, sender: me.participant, label: me.label, body: item.body, at: new Date().toISOString() });
      }
      this.outbox.delete(msg.client_id);
    } else {
      return;
    }
    this.render();
  }

  markRead() { this.unread = 0; this.renderBadge(); }

  renderBadge() {
    if (!this.badge) return;
    this.badge.textContent = this.unread ? String(this.unread) : "";
    this.badge.hidden = !this.unread;
  }

  render() {
    const me = this.me().participant;
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const items = [];
    for (const seq of [...this.lines.keys()].sort((a, b) => a - b)) {
      const line = this.lines.get(seq);
      const li = el("li", "chat-line" + (line.sender === me ? " mine" : ""));
      li.dataset.seq = String(seq);
      const head = el("div", "chat-head");
      head.append(el("strong", "chat-who", line.sender === me ? "You" : line.label), el("span", "chat-time", clockTime(line.at)));
      li.append(head, el("p", "chat-body", line.body));
      items.push(li);
    }
    for (const [id, item] of this.outbox) {
      const li = el("li", "chat-line mine pending");
      li.dataset.clientId = id;
      const head = el("div", "chat-head");
      head.append(el("strong", "chat-who", "You"), el("span", "chat-time", "sending…"));
      li.append(head, el("p", "chat-body", item.body));
      items.push(li);
    }
    this.list.replaceChildren(...items);
    if (atBottom || this.outbox.size) this.list.scrollTop = this.list.scrollHeight;
    this.renderBadge();
  }
}
