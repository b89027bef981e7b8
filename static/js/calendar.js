// Week calendar of appointments: placed by local time in the viewer's zone.
// Plain script, no framework; all data text goes in through textContent.
"use strict";

(() => {
  const CFG = JSON.parse(document.getElementById("schedule-config").textContent);
  const TZ = CFG.time_zone;
  const HOUR_PX = 80;
  const ACTIVE = ["proposed", "pending", "booked", "arrived", "checked-in"];
  const STATUS_LABEL = {
    proposed: "Proposed",
    pending: "Pending",
    booked: "Booked",
    arrived: "Arrived",
    fulfilled: "Fulfilled",
    cancelled: "Cancelled",
    noshow: "No-show",
    "checked-in": "Checked in",
  };
  // What a clinician or coordinator may move an appointment to, per status.
  const NEXT_STATUS = {
    booked: [
      ["checked-in", "Check in"],
      ["arrived", "Mark arrived"],
      ["noshow", "No-show"],
    ],
    "checked-in": [
      ["arrived", "Mark arrived"],
      ["noshow", "No-show"],
    ],
    arrived: [["fulfilled", "Mark fulfilled"]],
    pending: [["booked", "Confirm booking"]],
    proposed: [["booked", "Confirm booking"]],
  };
  const RESCHEDULABLE = ["proposed", "pending", "booked"];
  const MESSAGES = {
    slot_unavailable: "Someone just booked this slot. Pick another one.",
    outside_availability: "That time is outside the clinician's availability.",
    in_the_past: "That time has already passed. Pick a later slot.",
    unknown_time_zone: "Your time zone is not recognised. Ask an administrator.",
    invalid_transition: "The appointment has already moved on; the week was refreshed.",
    not_active: "The appointment is no longer active; the week was refreshed.",
    not_authenticated: "Your session has ended. Sign in again.",
    not_found: "That appointment is no longer in your diary.",
    permission_denied: "You are not allowed to do that.",
  };

  // Shared with the other scheduling pages: static/js/schedule_common.js.
  const { $, api, el, fact: factIn, keyToUtc, addDays, dayLabel, partsIn } = window.Schedule;
  const messageFor = (err) => window.Schedule.messageFor(err, MESSAGES);

  /** Wall-clock parts of an instant in the viewer's zone (DST-correct). */
  function localParts(date) {
    const out = partsIn(date, TZ);
    return {
      key: `${out.year}-${out.month}-${out.day}`,
      minutes: Number(out.hour) * 60 + Number(out.minute),
      time: `${out.hour}:${out.minute}`,
    };
  }

  function mondayOf(key) {
    return addDays(key, -((keyToUtc(key).getUTCDay() + 6) % 7));
  }

  const dayFormat = new Intl.DateTimeFormat("en-GB", {
    timeZone: "UTC",
    weekday: "short",
    day: "numeric",
    month: "short",
  });
  const rangeFormat = new Intl.DateTimeFormat("en-GB", {
    timeZone: "UTC",
    day: "numeric",
    month: "short",
    year: "numeric",
  });

  // ---- State ---------------------------------------------------------------
  const params = new URLSearchParams(window.location.search);
  const todayKey = () => localParts(new Date()).key;
  const state = {
    week: /^\d{4}-\d{2}-\d{2}$/.test(params.get("week") || "")
      ? mondayOf(params.get("week"))
      : mondayOf(todayKey()),
    practitioner: CFG.is_coordinator ? params.get("practitioner") || "" : "",
    appointments: [],
    loading: 0,
  };

  const grid = $("cal-grid");
  const list = $("cal-list");
  const status = $("cal-status");
  const picker = $("cal-practitioner");

  if (picker) {
    if ([...picker.options].some((o) => o.value === state.practitioner)) {
      picker.value = state.practitioner;
    } else {
      state.practitioner = "";
    }
    picker.addEventListener("change", () => {
      state.practitioner = picker.value;
      syncUrl();
      render();
    });
  }
  $("cal-prev").addEventListener("click", () => go(addDays(state.week, -7)));
  $("cal-next").addEventListener("click", () => go(addDays(state.week, 7)));
  $("cal-today").addEventListener("click", () => go(mondayOf(todayKey())));

  function go(week) {
    state.week = week;
    syncUrl();
    load();
  }

  function syncUrl() {
    const q = new URLSearchParams();
    if (state.week !== mondayOf(todayKey())) q.set("week", state.week);
    if (state.practitioner) q.set("practitioner", state.practitioner);
    const qs = q.toString();
    history.replaceState(null, "", qs ? `?${qs}` : window.location.pathname);
  }

  async function load() {
    const ticket = ++state.loading;
    const end = addDays(state.week, 6);
    $("cal-range").textContent = `${rangeFormat.format(keyToUtc(state.week))} – ${rangeFormat.format(keyToUtc(end))}`;
    status.textContent = "Loading…";
    status.classList.remove("error");
    const q = new URLSearchParams({ start_date: state.week, end_date: end, time_zone: TZ });
    try {
      const data = await api(`${CFG.api}appointments/?${q}`);
      if (ticket !== state.loading) return;
      state.appointments = data.appointments;
      status.textContent = "";
      render();
    } catch (err) {
      if (ticket !== state.loading) return;
      status.textContent = messageFor(err);
      status.classList.add("error");
    }
  }

  function visible() {
    const pid = Number(state.practitioner);
    return state.appointments
      .filter((a) => !pid || a.participants.some((p) => p.id === pid))
      .map((a) => {
        const start = localParts(new Date(a.start));
        const end = localParts(new Date(a.end));
        return { a, start, end };
      });
  }

  function patientLabel(a) {
    return a.patient && a.patient.name ? a.patient.name : "Patient (not in your list)";
  }

  function clinicians(a) {
    return a.participants.map((p) => p.name).join(", ");
  }

  // Side-by-side lanes for overlapping appointments in one day column.
  function lanes(items) {
    items.sort((x, y) => x.top - y.top || y.bottom - x.bottom);
    let cluster = [];
    let clusterEnd = -1;
    const flush = () => {
      const ends = [];
      for (const item of cluster) {
        let lane = ends.findIndex((e) => e <= item.top);
        if (lane === -1) lane = ends.length;
        ends[lane] = item.bottom;
        item.lane = lane;
      }
      for (const item of cluster) item.lanes = ends.length;
    };
    for (const item of items) {
      if (item.top >= clusterEnd && cluster.length) {
        flush();
        cluster = [];
      }
      cluster.push(item);
      clusterEnd = Math.max(clusterEnd, item.bottom);
    }
    if (cluster.length) flush();
    return items;
  }

  function render() {
    const days = Array.from({ length: 7 }, (_, i) => addDays(state.week, i));
    const rows = visible();
    const byDay = Object.fromEntries(days.map((d) => [d, []]));
    let first = 8 * 60;
    let last = 18 * 60;
    for (const row of rows) {
      if (!byDay[row.start.key]) continue;
      const endMinutes = row.end.key === row.start.key ? row.end.minutes : 24 * 60;
      row.top = row.start.minutes;
      row.bottom = Math.max(endMinutes, row.top + 15);
      byDay[row.start.key].push(row);
      first = Math.min(first, row.top);
      last = Math.max(last, row.bottom);
    }
    const firstHour = Math.floor(first / 60);
    const lastHour = Math.min(24, Math.ceil(last / 60));
    renderGrid(days, byDay, firstHour, lastHour);
    renderList(days, byDay);
    if (!status.classList.contains("error")) {
      status.textContent = rows.length
        ? ""
        : state.practitioner
          ? "Nothing booked in this diary this week."
          : "Nothing booked this week.";
    }
  }

  function apptButton(row, extraClass) {
    const { a } = row;
    const button = el("button", {
      type: "button",
      class: `appt status-${a.status} ${extraClass}`,
      "aria-label": `${row.start.time}–${row.end.time} ${patientLabel(a)}, ${a.consultation_type.name}, ${STATUS_LABEL[a.status] || a.status}`,
    });
    button.append(
      el("span", { class: "appt-time" }, row.start.time, el("span", { class: "appt-end", text: `–${row.end.time}` })),
      el("span", { class: "appt-patient", text: patientLabel(a) }),
      el("span", { class: "appt-type", text: a.consultation_type.name }),
    );
    if (CFG.is_coordinator && !state.practitioner) {
      button.append(el("span", { class: "appt-who", text: clinicians(a) }));
    }
    button.addEventListener("click", () => openDialog(a));
    return button;
  }

  function renderGrid(days, byDay, firstHour, lastHour) {
    grid.replaceChildren();
    const today = todayKey();
    const height = (lastHour - firstHour) * HOUR_PX;
    grid.append(el("div", { class: "cal-corner", "aria-hidden": "true" }));
    for (const day of days) {
      grid.append(
        el("div", {
          class: `cal-dayhead${day === today ? " is-today" : ""}`,
          text: dayFormat.format(keyToUtc(day)),
        }),
      );
    }
    const gutter = el("div", { class: "cal-gutter", style: `height:${height}px` });
    for (let h = firstHour; h < lastHour; h++) {
      gutter.append(
        el("span", {
          class: "cal-hour",
          style: `top:${(h - firstHour) * HOUR_PX}px`,
          text: `${String(h).padStart(2, "0")}:00`,
        }),
      );
    }
    grid.append(gutter);
    const now = localParts(new Date());
    for (const day of days) {
      const col = el("div", {
        class: `cal-col${day === today ? " is-today" : ""}`,
        style: `height:${height}px;--hour:${HOUR_PX}px`,
        role: "group",
        "aria-label": dayLabel(day),
      });
      for (const row of lanes(byDay[day])) {
        const button = apptButton(row, "appt-block");
        const width = 100 / row.lanes;
        button.style.top = `${((row.top - firstHour * 60) / 60) * HOUR_PX}px`;
        const px = Math.max(((row.bottom - row.top) / 60) * HOUR_PX - 2, 22);
        button.style.height = `${px}px`;
        if (px < 40) button.classList.add("appt-compact");
        else if (px < 58) button.classList.add("appt-short");
        button.style.left = `calc(${row.lane * width}% + 2px)`;
        button.style.width = `calc(${width}% - 4px)`;
        col.append(button);
      }
      if (day === now.key && now.minutes >= firstHour * 60 && now.minutes < lastHour * 60) {
        col.append(
          el("div", {
            class: "cal-now",
            style: `top:${((now.minutes - firstHour * 60) / 60) * HOUR_PX}px`,
            "aria-hidden": "true",
          }),
        );
      }
      grid.append(col);
    }
  }

  function renderList(days, byDay) {
    list.replaceChildren();
    const today = todayKey();
    for (const day of days) {
      const section = el("section", { class: `cal-listday${day === today ? " is-today" : ""}` });
      section.append(
        el("h2", {}, dayLabel(day), day === today ? el("span", { class: "today-tag", text: "Today" }) : null),
      );
      const items = byDay[day].slice().sort((x, y) => x.top - y.top);
      if (!items.length) {
        section.append(el("p", { class: "muted small", text: "Nothing booked." }));
      } else {
        const ul = el("ul", { class: "cal-items" });
        for (const row of items) {
          const button = apptButton(row, "appt-row");
          button.append(el("span", { class: `status-pill status-${row.a.status}`, text: STATUS_LABEL[row.a.status] || row.a.status }));
          ul.append(el("li", {}, button));
        }
        section.append(ul);
      }
      list.append(section);
    }
  }

  // ---- Appointment dialog --------------------------------------------------
  const dialog = $("appt-dialog");
  const facts = $("appt-facts");
  const actions = $("appt-actions");
  const errorBox = $("appt-error");
  const okBox = $("appt-ok");
  const cancelBox = $("appt-cancel");
  const rescheduleBox = $("appt-reschedule");
  let current = null;
  let reschedule = { from: null, chosen: null };

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
    if (text) okBox.hidden = true;
  }

  function showOk(text) {
    okBox.textContent = text;
    okBox.hidden = !text;
    if (text) errorBox.hidden = true;
  }

  const fact = (label, value) => factIn(facts, label, value);

  function fillFacts(a, reason) {
    const start = localParts(new Date(a.start));
    const end = localParts(new Date(a.end));
    facts.replaceChildren();
    fact("When", `${dayLabel(start.key)}, ${start.time}–${end.time} (${TZ})`);
    fact("Patient", patientLabel(a));
    const kind = a.consultation_type;
    fact("Type", `${kind.name} · ${kind.duration_minutes} min · ${kind.modality === "video" ? "video" : "in person"}`);
    fact("Clinicians", clinicians(a));
    fact("Status", el("span", { class: `status-pill status-${a.status}`, text: STATUS_LABEL[a.status] || a.status }));
    if (a.cancellation_reason) {
      const label = (CFG.cancel_reasons.find((r) => r.code === a.cancellation_reason) || {}).label;
      fact("Cancelled", label || a.cancellation_reason.replace(/_/g, " "));
    }
    if (reason) fact("Reason", reason);
    if (a.time_zone !== TZ) fact("Booked in", a.time_zone);
  }

  function fillActions(a) {
    actions.replaceChildren();
    if (a.room && ACTIVE.includes(a.status)) {
      actions.append(el("a", { class: "button-link primary-link", href: a.room, text: "Open room" }));
    }
    for (const [code, label] of NEXT_STATUS[a.status] || []) {
      const b = el("button", { type: "button", class: code === "noshow" ? "warn" : "", text: label });
      b.addEventListener("click", () => setStatus(code, label));
      actions.append(b);
    }
    if (RESCHEDULABLE.includes(a.status)) {
      const b = el("button", { type: "button", text: "Reschedule…" });
      b.addEventListener("click", startReschedule);
      actions.append(b);
    }
    if (ACTIVE.includes(a.status)) {
      const b = el("button", { type: "button", class: "danger", text: "Cancel…" });
      b.addEventListener("click", () => {
        rescheduleBox.hidden = true;
        cancelBox.hidden = false;
        $("appt-cancel-reason").focus();
      });
      actions.append(b);
    }
  }

  function openDialog(a) {
    current = a;
    showError("");
    showOk("");
    cancelBox.hidden = true;
    rescheduleBox.hidden = true;
    fillFacts(a, "");
    fillActions(a);
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    // The booking reason is clinical free text: fetched only when opened.
    api(`${CFG.api}appointments/${encodeURIComponent(a.id)}/`)
      .then((detail) => {
        if (current && current.id === a.id && detail.reason) fillFacts(current, detail.reason);
      })
      .catch(() => {});
  }

  async function setStatus(code, label) {
    showError("");
    try {
      const updated = await api(`${CFG.api}appointments/${encodeURIComponent(current.id)}/status/`, {
        method: "POST",
        body: { status: code },
      });
      updated.patient = current.patient;
      current = updated;
      fillFacts(current, "");
      fillActions(current);
      showOk(`Done: ${label.toLowerCase()}.`);
      load();
    } catch (err) {
      showError(messageFor(err));
      if (["invalid_transition", "not_active"].includes(err.code)) load();
    }
  }

  $("appt-cancel-back").addEventListener("click", () => {
    cancelBox.hidden = true;
  });
  $("appt-cancel-confirm").addEventListener("click", async () => {
    showError("");
    try {
      const updated = await api(`${CFG.api}appointments/${encodeURIComponent(current.id)}/cancel/`, {
        method: "POST",
        body: { reason: $("appt-cancel-reason").value },
      });
      updated.patient = current.patient;
      current = updated;
      cancelBox.hidden = true;
      fillFacts(current, "");
      fillActions(current);
      showOk("The appointment was cancelled and the time freed.");
      load();
    } catch (err) {
      showError(messageFor(err));
      if (err.code === "not_active") load();
    }
  });

  // Reschedule: free slots of the one clinician, or common slots of all of an MDT.
  function startReschedule() {
    cancelBox.hidden = true;
    rescheduleBox.hidden = false;
    reschedule = { from: todayKey(), chosen: null };
    const many = current.participants.length > 1;
    $("appt-reschedule-note").textContent = many
      ? `Times when all ${current.participants.length} clinicians are free, in ${TZ}.`
      : `Free ${current.consultation_type.duration_minutes}-minute slots of ${clinicians(current)}, in ${TZ}.`;
    loadSlots();
  }

  $("appt-slots-earlier").addEventListener("click", () => {
    const earlier = addDays(reschedule.from, -14);
    reschedule.from = earlier < todayKey() ? todayKey() : earlier;
    loadSlots();
  });
  $("appt-slots-later").addEventListener("click", () => {
    reschedule.from = addDays(reschedule.from, 14);
    loadSlots();
  });
  $("appt-reschedule-back").addEventListener("click", () => {
    rescheduleBox.hidden = true;
  });

  async function fetchSlots() {
    const end = addDays(reschedule.from, 13);
    const kind = current.consultation_type.id;
    if (current.participants.length > 1) {
      const data = await api(`${CFG.api}mdt-search/`, {
        method: "POST",
        body: {
          seats: current.participants.map((p) => ({ practitioner: p.id })),
          consultation_type: kind,
          start_date: reschedule.from,
          end_date: end,
          time_zone: TZ,
          limit: 50,
        },
      });
      return data.slots;
    }
    const q = new URLSearchParams({
      consultation_type: kind,
      start_date: reschedule.from,
      end_date: end,
      time_zone: TZ,
    });
    const pid = current.participants[0].id;
    const data = await api(`${CFG.api}practitioners/${pid}/slots/?${q}`);
    return data.slots;
  }

  async function loadSlots() {
    const box = $("appt-slots");
    const confirm = $("appt-reschedule-confirm");
    reschedule.chosen = null;
    confirm.disabled = true;
    $("appt-slots-earlier").disabled = reschedule.from <= todayKey();
    box.replaceChildren(el("p", { class: "muted", text: "Looking for free slots…" }));
    let slots;
    try {
      slots = await fetchSlots();
    } catch (err) {
      box.replaceChildren(el("p", { class: "error", text: messageFor(err) }));
      return;
    }
    box.replaceChildren();
    if (!slots.length) {
      box.append(el("p", { class: "empty", text: "No free slots in these two weeks. Try later." }));
      return;
    }
    const groups = new Map();
    for (const slot of slots) {
      const key = slot.local_start.slice(0, 10);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(slot);
    }
    for (const [key, daySlots] of groups) {
      const wrap = el("div", { class: "slot-day" });
      wrap.append(el("h4", { text: dayLabel(key) }));
      const row = el("div", { class: "slot-buttons" });
      for (const slot of daySlots) {
        const b = el("button", {
          type: "button",
          class: "slot",
          "aria-pressed": "false",
          text: slot.local_start.slice(11, 16),
        });
        b.addEventListener("click", () => {
          for (const other of box.querySelectorAll(".slot[aria-pressed='true']")) {
            other.setAttribute("aria-pressed", "false");
          }
          b.setAttribute("aria-pressed", "true");
          reschedule.chosen = slot;
          confirm.disabled = false;
          confirm.textContent = `Move to ${dayLabel(key)}, ${slot.local_start.slice(11, 16)}`;
        });
        row.append(b);
      }
      wrap.append(row);
      box.append(wrap);
    }
  }

  $("appt-reschedule-confirm").addEventListener("click", async () => {
    if (!reschedule.chosen) return;
    showError("");
    try {
      const moved = await api(`${CFG.api}appointments/${encodeURIComponent(current.id)}/reschedule/`, {
        method: "POST",
        body: { start: reschedule.chosen.start },
      });
      moved.patient = current.patient;
      current = moved;
      rescheduleBox.hidden = true;
      fillFacts(current, "");
      fillActions(current);
      showOk("Rescheduled. The old time is freed.");
      const movedWeek = mondayOf(localParts(new Date(moved.start)).key);
      if (movedWeek !== state.week) go(movedWeek);
      else load();
    } catch (err) {
      showError(messageFor(err));
      if (["slot_unavailable", "outside_availability", "in_the_past"].includes(err.code)) loadSlots();
    }
  });

  dialog.addEventListener("close", () => {
    current = null;
  });

  // Keep the week fresh while the page is open (statuses change elsewhere).
  setInterval(() => {
    if (!document.hidden && !dialog.open) load();
  }, 60_000);

  load();
})();
