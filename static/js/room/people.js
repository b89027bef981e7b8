// The participant list: presence (joined, left), microphone/camera, host and patient
// badges, the speaking highlight, and the host's controls (mute, remove).
import { button, el } from "./util.js";

// After a reconnect the room answers a roll call ("who is here?"); whoever has not
// answered within this time left while this socket was away and missed their "left".
const ROLL_CALL_MS = 5000;

export class People extends EventTarget {
  constructor({ list, count, isHost, hostAction }) {
    super();
    this.list = list;
    this.count = count;
    this.isHost = isHost;          // () => bool
    this.hostAction = hostAction;  // (action, participant) => void
    this.people = new Map();       // participant id → record
    this.selfId = null;
    this.speaker = null;
    this.rollCallTimer = null;
  }

  setSelf(welcome, local) {
    this.selfId = welcome.participant;
    this.upsert({
      participant: welcome.participant, label: welcome.label, host: welcome.host,
      patient: welcome.participant === "patient", present: true, self: true, ...local,
    });
  }

  get(id) { return this.people.get(id); }

  upsert(fields) {
    const old = this.people.get(fields.participant) || { sources: [], audio: true, video: true, clock_offset_ms: null };
    const rec = { ...old, ...fields };
    this.people.set(fields.participant, rec);
    this.render();
    this.dispatchEvent(new CustomEvent("change", { detail: rec }));
    return rec;
  }

  onPresence(msg) {
    if (msg.participant === this.selfId) return;  // my own echo (state, a stale "left")
    const fields = {
      participant: msg.participant, label: msg.label, host: Boolean(msg.host), patient: Boolean(msg.patient),
      present: msg.state !== "left",
    };
    if (msg.state !== "left") {
      Object.assign(fields, { audio: msg.audio !== false, video: msg.video !== false, sources: msg.sources || [] });
      if (msg.clock_offset_ms !== undefined) fields.clock_offset_ms = msg.clock_offset_ms;
      fields.leftAt = null;
      fields.heardAt = Date.now();
    } else {
      fields.leftAt = Date.now();
    }
    this.upsert(fields);
  }

  /** Anything from a participant proves they are here (heals a late, stale "left"). */
  seen(id) {
    const rec = this.people.get(id);
    if (!rec || id === this.selfId) return;
    if (!rec.present) this.upsert({ participant: id, present: true, leftAt: null, heardAt: Date.now() });
    else rec.heardAt = Date.now();
  }

  /**
   * The socket came back: a "left" sent while it was down never arrives. The server
   * asks the room who is here on every connect; those who stay silent are gone.
   */
  rollCall() {
    const since = Date.now();
    clearTimeout(this.rollCallTimer);
    this.rollCallTimer = setTimeout(() => {
      this.rollCallTimer = null;
      for (const p of [...this.people.values()]) {
        if (p.present && p.participant !== this.selfId && !((p.heardAt || 0) >= since)) {
          this.upsert({ participant: p.participant, present: false, leftAt: Date.now() });
        }
      }
    }, ROLL_CALL_MS);
  }

  /** Stop the pending roll call (the page leaves the room). */
  destroy() { clearTimeout(this.rollCallTimer); }

  setSpeaker(id) {
    if (this.speaker === id) return;
    this.speaker = id;
    this.render();
  }

  present() { return [...this.people.values()].filter((p) => p.present); }

  render() {
    const people = [...this.people.values()].sort((a, b) =>
      (b.present - a.present) || (b.self ? 1 : 0) - (a.self ? 1 : 0) || (b.host - a.host) || String(a.label).localeCompare(String(b.label)));
    const host = this.isHost();
    const items = people.map((p) => {
      const li = el("li", "person" + (p.present ? "" : " left") + (this.speaker === p.participant ? " speaking" : ""));
      li.dataset.participant = p.participant;
      const who = el("div", "person-who");
      who.append(el("span", "presence-dot", ""), el("strong", "person-name", p.self ? `${p.label} (you)` : p.label));
      if (p.host) who.append(el("span", "role-badge host-badge", "Host"));
      if (p.patient) who.append(el("span", "role-badge patient-badge", "Patient"));
      const state = el("div", "person-state small");
      if (!p.present) {
        state.append(el("span", "muted", "left"));
      } else {
        state.append(
          el("span", p.audio ? "dev on" : "dev off", p.audio ? "mic on" : "muted"),
          el("span", p.video ? "dev on" : "dev off", p.video ? "camera on" : "camera off"),
        );
        // state.sources entries are "<mid>:<label>" (see media.js sourceLabels).
        const extra = (p.sources || []).map((s) => String(s).replace(/^\d+:/, "")).filter((s) => s !== "Camera");
        if (extra.length) state.append(el("span", "dev on", `+ ${extra.join(", ")}`));
      }
      li.append(who, state);
      if (host && p.present && !p.self) {
        const tools = el("div", "person-tools");
        tools.append(
          button("Mute", "small-btn host-mute", () => this.hostAction("mute", p.participant), `Mute ${p.label}`),
          button("Remove", "small-btn danger host-remove", () => {
            if (window.confirm(`Remove ${p.label} from the room?`)) this.hostAction("remove", p.participant);
          }, `Remove ${p.label}`),
        );
        li.append(tools);
      }
      return li;
    });
    this.list.replaceChildren(...items);
    if (this.count) this.count.textContent = String(this.present().length);
  }
}
