// A clinician's weekly sessions and exceptions (leave, holiday, extra session).
// Plain script, no framework; all data text goes in through textContent.
"use strict";

(() => {
  const CFG = JSON.parse(document.getElementById("schedule-config").textContent);
  const picker = document.getElementById("av-practitioner");
  if (picker) picker.addEventListener("change", () => picker.form.submit());
  const PID = CFG.practitioner_id;
  if (!PID) return;

  const practitioner = CFG.practitioners.find((p) => p.id === PID) || { name: "", time_zone: CFG.time_zone };
  const PTZ = practitioner.time_zone || CFG.time_zone;
  const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  const MESSAGES = {
    unknown_time_zone: "That time zone is not known. Pick one from the list, e.g. Europe/London.",
    invalid_time_range: "The end must be after the start.",
    not_authenticated: "Your session has ended. Sign in again.",
    not_found: "That session no longer exists; the list was refreshed.",
    permission_denied: "Only the clinician or a coordinator can change this diary.",
  };

  // Shared with the other scheduling pages: static/js/schedule_common.js.
  const { $, api, el, show, fillZones, partsIn } = window.Schedule;

  function messageFor(err) {
    if (MESSAGES[err.code]) return MESSAGES[err.code];
    if (err.errors && typeof err.errors === "object") {
      const [field, problems] = Object.entries(err.errors)[0] || [];
      if (field) return `${field.replace(/_/g, " ")}: ${[].concat(problems).join(" ")}`;
    }
    return window.Schedule.messageFor(err);
  }

  /** UTC ISO instant of a wall-clock "YYYY-MM-DDTHH:MM" in zone ``tz`` (DST-correct). */
  function zonedToUtc(local, tz) {
    const [day, clock] = local.split("T");
    const [y, m, d] = day.split("-").map(Number);
    const [h, mi] = clock.split(":").map(Number);
    const wall = Date.UTC(y, m - 1, d, h, mi);
    const offsetAt = (ms) => {
      const p = partsIn(ms, tz);
      return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute) - ms;
    };
    let ms = wall - offsetAt(wall);
    ms = wall - offsetAt(ms);
    return new Date(ms).toISOString();
  }

  const whenFormat = new Intl.DateTimeFormat("en-GB", {
    timeZone: PTZ,
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });

  function localInput(ms) {
    const p = partsIn(ms, PTZ);
    return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
  }

  const hhmm = (t) => t.slice(0, 5);
  const TODAY = localInput(Date.now()).slice(0, 10);
  const base = `${CFG.api}practitioners/${PID}/`;

  // ---- Load ----------------------------------------------------------------
  async function load() {
    try {
      const data = await api(`${base}availability/`);
      renderRules(data.rules);
      renderExceptions(data.exceptions);
    } catch (err) {
      show($("rules-status"), messageFor(err));
      $("rules-status").classList.add("error");
      show($("exc-status"), "");
    }
  }

  function renderRules(rules) {
    const list = $("rules");
    list.replaceChildren();
    show($("rules-status"), rules.length ? "" : "No weekly sessions yet: nobody can book this diary until one is added.");
    $("rules-status").classList.remove("error");
    WEEKDAYS.forEach((name, weekday) => {
      const day = rules.filter((r) => r.weekday === weekday);
      const windows = el("ul", { class: "av-windows" });
      if (!day.length) windows.append(el("li", { class: "muted", text: "Not available" }));
      for (const r of day) {
        const bits = [`${hhmm(r.start_time)}–${hhmm(r.end_time)}`];
        if (r.time_zone !== PTZ) bits.push(r.time_zone);
        const validity = [];
        if (r.valid_from && r.valid_from > TODAY) validity.push(`from ${r.valid_from}`);
        if (r.valid_until) validity.push(`until ${r.valid_until}`);
        const remove = el("button", {
          type: "button",
          class: "icon-button danger",
          "aria-label": `Remove ${name} ${bits[0]}`,
          text: "✕",
        });
        remove.addEventListener("click", () => removeRule(r, remove));
        windows.append(
          el(
            "li",
            { class: "av-window" },
            el("span", {}, el("strong", { text: bits.join(" ") }), validity.length ? el("span", { class: "muted small", text: ` (${validity.join(", ")})` }) : null),
            remove,
          ),
        );
      }
      list.append(el("li", { class: "av-day" }, el("span", { class: "av-dayname", text: name }), windows));
    });
  }

  async function removeRule(rule, button) {
    const label = `${WEEKDAYS[rule.weekday]} ${hhmm(rule.start_time)}–${hhmm(rule.end_time)}`;
    if (!window.confirm(`Remove the weekly session ${label}? Bookings already made stay.`)) return;
    button.disabled = true;
    show($("rule-error"), "");
    try {
      await api(`${CFG.api}availability/${rule.id}/`, { method: "DELETE" });
      show($("rule-ok"), `Removed ${label}.`);
    } catch (err) {
      show($("rule-error"), messageFor(err));
    }
    load();
  }

  const KIND_LABEL = Object.fromEntries(CFG.exception_kinds.map((k) => [k.code, k.label]));

  function renderExceptions(items) {
    const list = $("exceptions");
    list.replaceChildren();
    show($("exc-status"), items.length ? "" : "No leave, holidays or extra sessions coming up.");
    for (const x of items) {
      list.append(
        el(
          "li",
          { class: `av-exception kind-${x.kind}` },
          el("span", { class: `kind-pill kind-${x.kind}`, text: KIND_LABEL[x.kind] || x.kind }),
          el("span", { text: `${whenFormat.format(new Date(x.starts_at))} → ${whenFormat.format(new Date(x.ends_at))}` }),
          x.note ? el("span", { class: "muted small", text: x.note }) : null,
        ),
      );
    }
  }

  // ---- Add a weekly session ------------------------------------------------
  const days = $("rule-days");
  WEEKDAYS.forEach((name, weekday) => {
    const id = `rule-day-${weekday}`;
    days.append(
      el(
        "label",
        { class: "day-toggle", for: id },
        el("input", { type: "checkbox", id, value: weekday, checked: weekday < 5 }),
        el("span", { text: name.slice(0, 3) }),
      ),
    );
  });
  fillZones($("zones"));
  $("rule-zone").value = PTZ;
  $("av-who").textContent = practitioner.name;
  $("exc-zone").textContent = PTZ;

  $("rule-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    show($("rule-error"), "");
    show($("rule-ok"), "");
    const chosen = [...days.querySelectorAll("input:checked")].map((i) => Number(i.value));
    const start = $("rule-start").value;
    const end = $("rule-end").value;
    if (!chosen.length) return show($("rule-error"), "Choose at least one day.");
    if (!start || !end || end <= start) return show($("rule-error"), "The session must end after it starts, on the same day.");
    const body = { start_time: start, end_time: end, time_zone: $("rule-zone").value.trim() };
    if ($("rule-from").value) body.valid_from = $("rule-from").value;
    if ($("rule-until").value) body.valid_until = $("rule-until").value;
    const added = [];
    try {
      for (const weekday of chosen) {
        await api(`${base}availability/`, { method: "POST", body: { ...body, weekday } });
        added.push(WEEKDAYS[weekday].slice(0, 3));
      }
      show($("rule-ok"), `Added ${start}–${end} on ${added.join(", ")}.`);
    } catch (err) {
      const partly = added.length ? ` (added on ${added.join(", ")} before that)` : "";
      show($("rule-error"), `${messageFor(err)}${partly}`);
    }
    load();
  });

  // ---- Add an exception ----------------------------------------------------
  const startInput = $("exc-start");
  const endInput = $("exc-end");
  const nextDay = new Date();
  nextDay.setUTCDate(nextDay.getUTCDate() + 1);
  const tomorrow = localInput(nextDay.getTime()).slice(0, 10);
  startInput.value = `${tomorrow}T09:00`;
  endInput.value = `${tomorrow}T17:00`;
  startInput.addEventListener("change", () => {
    if (endInput.value <= startInput.value) endInput.value = `${startInput.value.slice(0, 10)}T23:45`;
  });

  $("exc-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    show($("exc-error"), "");
    show($("exc-ok"), "");
    if (!startInput.value || !endInput.value) return show($("exc-error"), "Choose when it starts and ends.");
    if (endInput.value <= startInput.value) return show($("exc-error"), "The end must be after the start.");
    const body = {
      kind: $("exc-kind").value,
      starts_at: zonedToUtc(startInput.value, PTZ),
      ends_at: zonedToUtc(endInput.value, PTZ),
      note: $("exc-note").value.trim(),
    };
    try {
      await api(`${base}exceptions/`, { method: "POST", body });
      show($("exc-ok"), `Added ${KIND_LABEL[body.kind] || body.kind}.`);
      $("exc-note").value = "";
      load();
    } catch (err) {
      show($("exc-error"), messageFor(err));
    }
  });

  load();
})();
