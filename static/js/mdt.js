// MDT finder: seats (a named clinician or anyone of a department), ranked
// earliest common times, then book one for a patient.
// Plain script, no framework; all data text goes in through textContent.
"use strict";

(() => {
  const CFG = JSON.parse(document.getElementById("schedule-config").textContent);
  const MAX_SEATS = 12;
  const MESSAGES = {
    slot_unavailable: "Someone just booked one of these clinicians at that time. The times were refreshed.",
    outside_availability: "That time is outside a clinician's availability. The times were refreshed.",
    in_the_past: "That time has already passed. The times were refreshed.",
    unknown_time_zone: "That time zone is not known. Pick one from the list, e.g. Europe/London.",
    range_too_long: "Search a shorter date range (at most 120 days).",
    invalid_time_range: "The end date is before the start date.",
    invalid_seat: "Each seat needs a clinician or a department.",
    invalid_participants: "Name each clinician once.",
    not_mdt: "Choose an MDT consultation type.",
    not_authenticated: "Your session has ended. Sign in again.",
    not_found: "That patient, clinician or consultation type is not available to you.",
    permission_denied: "You are not allowed to do that.",
    access_blocked: "Patient access is paused for review by an administrator.",
  };
  const REFRESH_ON = ["slot_unavailable", "outside_availability", "in_the_past"];

  // Shared with the other scheduling pages: static/js/schedule_common.js.
  const { $, api, el, show, fact, fillZones, todayIn, addDays, dayLabel, localDay, localTime } =
    window.Schedule;
  const messageFor = (err) => window.Schedule.messageFor(err, MESSAGES);

  const state = { seats: [], kinds: [], slots: [], chosen: null, searched: null, patient: null, appointment: null };

  // ---- Seats ---------------------------------------------------------------
  const departments = new Map();
  for (const p of CFG.practitioners) {
    if (p.department_id && !departments.has(p.department_id)) departments.set(p.department_id, p.department);
  }
  const practitionerName = (id) => (CFG.practitioners.find((p) => p.id === id) || {}).name || "";

  function seatOptions(select) {
    select.append(el("option", { value: "", text: "Choose a clinician or a department…" }));
    const named = el("optgroup", { label: "A named clinician" });
    for (const p of CFG.practitioners) {
      named.append(el("option", { value: `p:${p.id}`, text: p.department ? `${p.name} · ${p.department}` : p.name }));
    }
    const any = el("optgroup", { label: "Anyone of a department" });
    for (const [id, name] of departments) any.append(el("option", { value: `d:${id}`, text: `Any of ${name}` }));
    select.append(named, any);
  }

  function renderSeats() {
    const list = $("seats");
    const values = [...list.querySelectorAll("select")].map((s) => s.value);
    list.replaceChildren();
    const count = Math.max(values.length, 2);
    for (let i = 0; i < count; i++) {
      const id = `seat-${i}`;
      const select = el("select", { id });
      seatOptions(select);
      select.value = values[i] || "";
      select.addEventListener("change", clearResults);
      const remove = el("button", {
        type: "button",
        class: "icon-button",
        "aria-label": `Remove seat ${i + 1}`,
        disabled: count <= 2,
        text: "✕",
      });
      remove.addEventListener("click", () => {
        select.closest("li").remove();
        renderSeats();
        clearResults();
      });
      list.append(el("li", { class: "seat" }, el("label", { for: id, text: `Seat ${i + 1}` }), el("div", { class: "seat-row" }, select, remove)));
    }
    $("seat-add").disabled = count >= MAX_SEATS;
  }

  $("seat-add").addEventListener("click", () => {
    const list = $("seats");
    const li = el("li", {}, el("select"));
    list.append(li);
    renderSeats();
    list.querySelector("li:last-child select").focus();
    clearResults();
  });

  function readSeats() {
    return [...$("seats").querySelectorAll("select")].map((s) => {
      const [kind, id] = s.value.split(":");
      if (kind === "p") return { practitioner: Number(id) };
      if (kind === "d") return { department: Number(id) };
      return null;
    });
  }

  function seatLabel(seat) {
    return seat.practitioner ? practitionerName(seat.practitioner) : `Any of ${departments.get(seat.department)}`;
  }

  // ---- Meeting type, dates, search ----------------------------------------
  const typeSelect = $("mdt-type");
  const zoneInput = $("mdt-zone");
  const fromInput = $("mdt-from");
  const toInput = $("mdt-to");
  const zone = () => zoneInput.value.trim();

  async function loadKinds() {
    try {
      state.kinds = (await api(`${CFG.api}consultation-types/`)).filter((k) => k.is_mdt);
      typeSelect.replaceChildren(
        el("option", { value: "", text: state.kinds.length ? "Choose…" : "No MDT consultation types set up" }),
      );
      for (const k of state.kinds) {
        const how = k.modality === "video" ? "video" : "in person";
        typeSelect.append(el("option", { value: k.id, text: `${k.name} · ${k.duration_minutes} min · ${how}` }));
      }
      if (state.kinds.length === 1) typeSelect.value = state.kinds[0].id;
    } catch (err) {
      typeSelect.replaceChildren(el("option", { value: "", text: messageFor(err) }));
    }
  }

  for (const input of [typeSelect, fromInput, toInput, zoneInput]) input.addEventListener("change", clearResults);
  fromInput.addEventListener("change", () => {
    if (toInput.value < fromInput.value) toInput.value = addDays(fromInput.value, 13);
  });

  function clearResults() {
    state.slots = [];
    state.chosen = null;
    $("results").replaceChildren();
    $("confirm-card").hidden = true;
    const status = $("slots-status");
    status.classList.remove("error");
    show(status, "Find common times to see when every seat can be filled.");
  }

  function formProblem(seats) {
    if (seats.length < 2) return "An MDT meeting needs at least two seats.";
    if (seats.some((s) => s === null)) return "Choose a clinician or a department for every seat.";
    const named = seats.filter((s) => s.practitioner).map((s) => s.practitioner);
    if (new Set(named).size !== named.length) return "A clinician is named in two seats.";
    if (!typeSelect.value) return "Choose an MDT consultation type.";
    if (!fromInput.value || !toInput.value) return "Choose the dates to search.";
    if (!zone()) return "Choose a time zone.";
    return "";
  }

  async function search(note = "") {
    const seats = note && state.searched ? state.searched.seats : readSeats();
    const problem = formProblem(seats);
    show($("form-error"), problem);
    if (problem) return;
    const status = $("slots-status");
    const box = $("results");
    state.chosen = null;
    $("confirm-card").hidden = true;
    status.classList.remove("error");
    show(status, "Looking for common times…");
    box.replaceChildren();
    const body = {
      seats,
      consultation_type: Number(typeSelect.value),
      start_date: fromInput.value,
      end_date: toInput.value,
      time_zone: zone(),
      limit: 10,
    };
    let data;
    try {
      data = await api(`${CFG.api}mdt-search/`, { method: "POST", body });
    } catch (err) {
      show(status, messageFor(err));
      status.classList.add("error");
      if (err.code === "unknown_time_zone") zoneInput.focus();
      return;
    }
    state.searched = body;
    state.slots = data.slots;
    const prefix = note ? `${note} ` : "";
    status.classList.toggle("error", Boolean(note));
    if (!data.slots.length) {
      show(status, `${prefix}No time in these dates suits every seat. Try later dates or a department seat instead of a named clinician.`);
      return;
    }
    show(status, `${prefix}The ${data.slots.length} earliest time${data.slots.length === 1 ? "" : "s"}, in ${data.time_zone}.`);
    for (const slot of data.slots) box.append(resultItem(slot, seats));
    if (!note && window.matchMedia("(max-width: 760px)").matches) {
      $("slots-card").scrollIntoView({ behavior: "smooth", block: "start" });
    }
  }

  function resultItem(slot, seats) {
    const who = el("ul", { class: "seat-fill" });
    slot.practitioners.forEach((p, i) => {
      const seat = seats[i];
      const how = seat && seat.department ? `any of ${departments.get(seat.department)}` : "named";
      who.append(el("li", {}, el("strong", { text: p.name }), el("span", { class: "muted small", text: ` · seat ${i + 1}, ${how}` })));
    });
    const button = el(
      "button",
      { type: "button", class: "mdt-slot", "aria-pressed": "false" },
      el("span", { class: "rank", text: `#${slot.rank}` }),
      el(
        "span",
        { class: "mdt-when" },
        el("strong", { text: dayLabel(localDay(slot.local_start)) }),
        el("span", { text: ` ${localTime(slot.local_start)}–${localTime(slot.local_end)}` }),
      ),
      who,
    );
    button.addEventListener("click", () => {
      for (const other of $("results").querySelectorAll(".mdt-slot[aria-pressed='true']")) {
        other.setAttribute("aria-pressed", "false");
      }
      button.setAttribute("aria-pressed", "true");
      state.chosen = slot;
      refreshConfirm(true);
    });
    return el("li", {}, button);
  }

  $("mdt-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });

  // ---- Patient -------------------------------------------------------------
  const patientList = $("patient-list");
  const patients = new Map();
  const patientText = (p) => `${p.display_name} · born ${p.birth_date} · MRN ${p.mrn}`;

  function pickPatient(p) {
    state.patient = p;
    const picked = $("patient-picked");
    picked.replaceChildren();
    if (p) {
      picked.append(el("span", { class: "chip chip-ok", text: `Selected: ${patientText(p)}` }));
      patientList.value = patients.has(p.id) ? p.id : "";
    }
    $("book-confirm").disabled = !state.patient || !state.chosen;
  }

  async function loadPatients() {
    try {
      const data = await api(`${CFG.patients_api}?limit=50`);
      patientList.replaceChildren(
        el("option", { value: "", text: data.count ? "Choose a patient…" : "No patients in your care" }),
      );
      for (const p of data.results) {
        patients.set(p.id, p);
        patientList.append(el("option", { value: p.id, text: patientText(p) }));
      }
      if (data.count > data.results.length) {
        patientList.append(
          el("option", { value: "", disabled: true, text: `…and ${data.count - data.results.length} more: search by MRN` }),
        );
      }
    } catch (err) {
      patientList.replaceChildren(el("option", { value: "", text: messageFor(err) }));
    }
  }
  patientList.addEventListener("change", () => pickPatient(patients.get(patientList.value) || null));

  async function findByMrn() {
    const mrn = $("patient-mrn").value.trim();
    const picked = $("patient-picked");
    if (!mrn) return;
    picked.replaceChildren(el("span", { class: "muted", text: "Searching…" }));
    try {
      const data = await api(`${CFG.patients_api}?${new URLSearchParams({ mrn })}`);
      if (data.results.length) {
        pickPatient(data.results[0]);
      } else {
        pickPatient(null);
        picked.replaceChildren(el("span", { class: "error", text: "No patient in your care has that MRN." }));
      }
    } catch (err) {
      picked.replaceChildren(el("span", { class: "error", text: messageFor(err) }));
    }
  }
  $("patient-find").addEventListener("click", findByMrn);
  $("patient-mrn").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      findByMrn();
    }
  });

  // ---- Confirm and book ----------------------------------------------------
  function whenText(slot, tz) {
    return `${dayLabel(localDay(slot.local_start))}, ${localTime(slot.local_start)}–${localTime(slot.local_end)} (${tz})`;
  }

  function refreshConfirm(scroll = false) {
    const card = $("confirm-card");
    if (!state.chosen) {
      card.hidden = true;
      return;
    }
    const dl = $("confirm-facts");
    dl.replaceChildren();
    fact(dl, "When", whenText(state.chosen, state.searched.time_zone));
    fact(dl, "Type", typeSelect.selectedOptions[0] ? typeSelect.selectedOptions[0].textContent : "");
    const seats = el("ol", { class: "plain-list" });
    state.chosen.practitioners.forEach((p, i) => {
      const seat = state.searched.seats[i];
      seats.append(el("li", { text: seat.department ? `${p.name} (any of ${departments.get(seat.department)})` : p.name }));
    });
    fact(dl, "Clinicians", seats);
    show($("confirm-error"), "");
    $("book-confirm").disabled = !state.patient;
    card.hidden = false;
    if (scroll) card.scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  $("book-back").addEventListener("click", () => {
    $("confirm-card").hidden = true;
    $("results").querySelector(".mdt-slot[aria-pressed='true']")?.focus();
  });

  $("book-confirm").addEventListener("click", async () => {
    if (!state.patient || !state.chosen) return;
    const button = $("book-confirm");
    button.disabled = true;
    show($("confirm-error"), "");
    const seats = state.searched.seats;
    const body = {
      patient: state.patient.id,
      consultation_type: state.searched.consultation_type,
      practitioners: state.chosen.practitioners.map((p) => p.id),
      start: state.chosen.start,
      time_zone: state.searched.time_zone,
      reason: $("book-reason").value.trim(),
    };
    if (seats.some((s) => s.department)) body.seat_departments = seats.map((s) => s.department || null);
    try {
      showResult(await api(`${CFG.api}appointments/`, { method: "POST", body }));
    } catch (err) {
      if (REFRESH_ON.includes(err.code)) {
        await search(messageFor(err));
        $("slots-status").scrollIntoView({ behavior: "smooth", block: "nearest" });
      } else {
        show($("confirm-error"), messageFor(err));
      }
    } finally {
      button.disabled = !state.patient;
    }
  });

  // ---- Result and patient link ---------------------------------------------
  function showResult(a) {
    state.appointment = a;
    $("confirm-card").hidden = true;
    $("slots-card").hidden = true;
    const dl = $("result-facts");
    dl.replaceChildren();
    fact(dl, "When", whenText(state.chosen, a.time_zone));
    fact(dl, "Patient", (a.patient && a.patient.name) || patientText(state.patient));
    fact(dl, "Clinicians", a.participants.map((p) => p.name).join(", "));
    fact(dl, "Type", a.consultation_type.name);
    const room = $("result-room");
    room.hidden = !a.room;
    if (a.room) room.href = a.room;
    $("send-link").hidden = !a.room;
    $("link-box").hidden = true;
    show($("link-error"), "");
    const card = $("result-card");
    card.hidden = false;
    card.focus();
    card.scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  window.Schedule.bindPatientLink({
    apiBase: CFG.api,
    appointment: () => state.appointment,
    messageFor,
  });

  $("book-another").addEventListener("click", () => {
    state.appointment = null;
    $("result-card").hidden = true;
    $("slots-card").hidden = false;
    $("send-link").textContent = "Send patient link";
    $("book-reason").value = "";
    search();
  });

  // ---- Start ---------------------------------------------------------------
  fillZones($("zones"));
  renderSeats();
  const today = todayIn(zone());
  fromInput.value = today;
  fromInput.min = today;
  toInput.value = addDays(today, 13);
  toInput.min = today;
  loadKinds();
  loadPatients();
})();
