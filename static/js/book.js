// Coordinator booking: patient, consultation type, clinician, free slot, book.
// Plain script, no framework; all data text goes in through textContent.
"use strict";

(() => {
  const CFG = JSON.parse(document.getElementById("schedule-config").textContent);
  const MESSAGES = {
    slot_unavailable: "Someone just booked this slot. The free slots were refreshed.",
    outside_availability:
      "That time is outside the clinician's availability. The free slots were refreshed.",
    in_the_past: "That time has already passed. The free slots were refreshed.",
    unknown_time_zone: "That time zone is not known. Pick one from the list, e.g. Europe/London.",
    range_too_long: "Search a shorter date range (at most 120 days).",
    invalid_time_range: "The end date is before the start date.",
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

  // ---- Patient -------------------------------------------------------------
  const state = { patient: null, slots: [], chosen: null, appointment: null, kinds: [] };
  const patientList = $("patient-list");
  const patients = new Map();

  function patientText(p) {
    return `${p.display_name} · born ${p.birth_date} · MRN ${p.mrn}`;
  }

  function pickPatient(p) {
    state.patient = p;
    const picked = $("patient-picked");
    picked.replaceChildren();
    if (p) {
      picked.append(el("span", { class: "chip chip-ok", text: `Selected: ${patientText(p)}` }));
      patientList.value = patients.has(p.id) ? p.id : "";
    }
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

  patientList.addEventListener("change", () => {
    pickPatient(patients.get(patientList.value) || null);
    refreshConfirm();
  });

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
        state.patient = null;
        picked.replaceChildren(el("span", { class: "error", text: "No patient in your care has that MRN." }));
      }
    } catch (err) {
      picked.replaceChildren(el("span", { class: "error", text: messageFor(err) }));
    }
    refreshConfirm();
  }
  $("patient-find").addEventListener("click", findByMrn);
  $("patient-mrn").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      findByMrn();
    }
  });

  // ---- Type, clinician, range ---------------------------------------------
  const typeSelect = $("book-type");
  const practitionerSelect = $("book-practitioner");
  const zoneInput = $("book-zone");
  const fromInput = $("book-from");
  const toInput = $("book-to");

  async function loadKinds() {
    try {
      state.kinds = (await api(`${CFG.api}consultation-types/`)).filter((k) => !k.is_mdt);
      typeSelect.replaceChildren(
        el("option", { value: "", text: state.kinds.length ? "Choose…" : "No consultation types set up" }),
      );
      for (const k of state.kinds) {
        const how = k.modality === "video" ? "video" : "in person";
        typeSelect.append(el("option", { value: k.id, text: `${k.name} · ${k.duration_minutes} min · ${how}` }));
      }
    } catch (err) {
      typeSelect.replaceChildren(el("option", { value: "", text: messageFor(err) }));
    }
  }

  function fillPractitioners() {
    practitionerSelect.replaceChildren(el("option", { value: "", text: "Choose…" }));
    const groups = new Map();
    for (const p of CFG.practitioners) {
      const dept = p.department || "No department";
      if (!groups.has(dept)) groups.set(dept, el("optgroup", { label: dept }));
      groups.get(dept).append(el("option", { value: p.id, text: p.name }));
    }
    for (const group of groups.values()) practitionerSelect.append(group);
  }

  const zone = () => zoneInput.value.trim();

  function resetDates() {
    const today = todayIn(zone());
    fromInput.value = today;
    fromInput.min = today;
    toInput.value = addDays(today, 6);
    toInput.min = today;
  }

  for (const input of [typeSelect, practitionerSelect, fromInput, toInput, zoneInput]) {
    input.addEventListener("change", clearSlots);
  }
  fromInput.addEventListener("change", () => {
    if (toInput.value < fromInput.value) toInput.value = addDays(fromInput.value, 6);
  });

  function clearSlots() {
    state.slots = [];
    state.chosen = null;
    $("slots").replaceChildren();
    $("confirm-card").hidden = true;
    $("slots-status").classList.remove("error");
    show($("slots-status"), "Show free slots to see the clinician's free times.");
  }

  // ---- Slots ---------------------------------------------------------------
  function formProblem() {
    if (!typeSelect.value) return "Choose a consultation type.";
    if (!practitionerSelect.value) return "Choose a clinician.";
    if (!fromInput.value || !toInput.value) return "Choose the dates to search.";
    if (!zone()) return "Choose a time zone.";
    return "";
  }

  async function loadSlots(note = "") {
    const problem = formProblem();
    show($("form-error"), problem);
    if (problem) return;
    const status = $("slots-status");
    const box = $("slots");
    state.chosen = null;
    $("confirm-card").hidden = true;
    show(status, "Looking for free slots…");
    status.classList.remove("error");
    box.replaceChildren();
    const q = new URLSearchParams({
      consultation_type: typeSelect.value,
      start_date: fromInput.value,
      end_date: toInput.value,
      time_zone: zone(),
    });
    let data;
    try {
      data = await api(`${CFG.api}practitioners/${encodeURIComponent(practitionerSelect.value)}/slots/?${q}`);
    } catch (err) {
      show(status, messageFor(err));
      status.classList.add("error");
      if (err.code === "unknown_time_zone") zoneInput.focus();
      return;
    }
    state.slots = data.slots;
    const prefix = note ? `${note} ` : "";
    if (!data.slots.length) {
      show(status, `${prefix}No free slots in these dates. Try later dates or another clinician.`);
      status.classList.toggle("error", Boolean(note));
      return;
    }
    show(status, `${prefix}${data.slots.length} free slot${data.slots.length === 1 ? "" : "s"}, times in ${data.time_zone}.`);
    status.classList.toggle("error", Boolean(note));
    renderSlots(box, data.slots);
    if (!note && window.matchMedia("(max-width: 760px)").matches) {
      $("slots-card").scrollIntoView({ behavior: "smooth", block: "start" });
    }
  }

  function renderSlots(box, slots) {
    const groups = new Map();
    for (const slot of slots) {
      const key = localDay(slot.local_start);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(slot);
    }
    for (const [key, daySlots] of groups) {
      const row = el("div", { class: "slot-buttons" });
      for (const slot of daySlots) {
        const b = el("button", {
          type: "button",
          class: "slot",
          "aria-pressed": "false",
          "aria-label": `${dayLabel(key)} ${localTime(slot.local_start)}`,
          text: localTime(slot.local_start),
        });
        b.addEventListener("click", () => {
          for (const other of box.querySelectorAll(".slot[aria-pressed='true']")) {
            other.setAttribute("aria-pressed", "false");
          }
          b.setAttribute("aria-pressed", "true");
          state.chosen = slot;
          refreshConfirm(true);
        });
        row.append(b);
      }
      box.append(el("div", { class: "slot-day" }, el("h3", { text: dayLabel(key) }), row));
    }
  }

  $("book-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadSlots();
  });

  // ---- Confirm and book ----------------------------------------------------
  function practitionerName(id) {
    const p = CFG.practitioners.find((x) => String(x.id) === String(id));
    return p ? p.name : "";
  }

  function refreshConfirm(scroll = false) {
    const card = $("confirm-card");
    if (!state.chosen) {
      card.hidden = true;
      return;
    }
    const dl = $("confirm-facts");
    dl.replaceChildren();
    const s = state.chosen;
    fact(dl, "When", `${dayLabel(localDay(s.local_start))}, ${localTime(s.local_start)}–${localTime(s.local_end)} (${zone()})`);
    fact(dl, "Clinician", practitionerName(practitionerSelect.value));
    fact(dl, "Type", typeSelect.selectedOptions[0] ? typeSelect.selectedOptions[0].textContent : "");
    fact(
      dl,
      "Patient",
      state.patient ? patientText(state.patient) : el("span", { class: "error", text: "Choose a patient first (step 1)." }),
    );
    $("book-confirm").disabled = !state.patient;
    show($("confirm-error"), "");
    card.hidden = false;
    if (scroll) card.scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  $("book-back").addEventListener("click", () => {
    $("confirm-card").hidden = true;
    $("slots").querySelector(".slot[aria-pressed='true']")?.focus();
  });

  $("book-confirm").addEventListener("click", async () => {
    if (!state.patient || !state.chosen) return;
    const button = $("book-confirm");
    button.disabled = true;
    show($("confirm-error"), "");
    try {
      const appointment = await api(`${CFG.api}appointments/`, {
        method: "POST",
        body: {
          patient: state.patient.id,
          consultation_type: Number(typeSelect.value),
          practitioners: [Number(practitionerSelect.value)],
          start: state.chosen.start,
          time_zone: zone(),
          reason: $("book-reason").value.trim(),
        },
      });
      showResult(appointment);
    } catch (err) {
      if (REFRESH_ON.includes(err.code)) {
        await loadSlots(messageFor(err));
        $("slots-status").scrollIntoView({ behavior: "smooth", block: "nearest" });
      } else {
        show($("confirm-error"), messageFor(err));
        if (err.code === "unknown_time_zone") zoneInput.focus();
      }
    } finally {
      button.disabled = false;
    }
  });

  // ---- Result and patient link ---------------------------------------------
  function showResult(a) {
    state.appointment = a;
    $("confirm-card").hidden = true;
    $("slots-card").hidden = true;
    const dl = $("result-facts");
    dl.replaceChildren();
    const s = state.chosen;
    fact(dl, "When", `${dayLabel(localDay(s.local_start))}, ${localTime(s.local_start)}–${localTime(s.local_end)} (${a.time_zone})`);
    fact(dl, "Patient", (a.patient && a.patient.name) || patientText(state.patient));
    fact(dl, "Clinician", a.participants.map((p) => p.name).join(", "));
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
    loadSlots();
  });

  fillZones($("zones"));
  fillPractitioners();
  resetDates();
  loadKinds();
  loadPatients();
})();
