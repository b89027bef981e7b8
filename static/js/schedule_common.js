// Helpers shared by the scheduling pages (calendar, book, MDT, availability):
// API calls, DOM building and date keys. Loaded (deferred) before each page
// script, which reads them from window.Schedule.
// Plain script, no framework; all data text goes in through textContent.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // ---- API and CSRF --------------------------------------------------------
  // The CSRF cookie is HttpOnly: base.html carries the token in a meta tag.
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  /** JSON request; a failure throws an Error with ``code``, ``status`` and ``errors``. */
  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = csrfToken();
    }
    const res = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    if (res.status !== 204) {
      try {
        data = await res.json();
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      const err = new Error((data && data.detail) || `Request failed (${res.status}).`);
      err.code = (data && data.code) || `http_${res.status}`;
      err.status = res.status;
      err.errors = data && data.errors;
      throw err;
    }
    return data;
  }

  /** The page's text for the error's code, else the server's detail. */
  function messageFor(err, messages = {}) {
    return messages[err.code] || err.message || "Something went wrong.";
  }

  // ---- DOM -----------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function show(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  function fact(dl, label, value) {
    dl.append(el("dt", { text: label }));
    dl.append(value instanceof Node ? el("dd", {}, value) : el("dd", { text: value }));
  }

  function fillZones(datalist) {
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    for (const zone of ["UTC", ...zones]) datalist.append(el("option", { value: zone }));
  }

  // ---- Dates: "YYYY-MM-DD" day keys and wall-clock parts -------------------
  function todayIn(zone) {
    try {
      return new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date());
    } catch {
      return new Date().toISOString().slice(0, 10);
    }
  }

  function keyToUtc(key) {
    const [y, m, d] = key.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d));
  }

  function addDays(key, n) {
    const [y, m, d] = key.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
  }

  const dayFormat = new Intl.DateTimeFormat("en-GB", {
    timeZone: "UTC",
    weekday: "long",
    day: "numeric",
    month: "long",
  });
  /** "Monday 1 June" for a day key. */
  const dayLabel = (key) => dayFormat.format(keyToUtc(key));

  // "local_start" is ISO in the chosen zone: its date and clock are the local ones.
  const localDay = (iso) => iso.slice(0, 10);
  const localTime = (iso) => iso.slice(11, 16);

  const partsFormats = new Map();
  /** Wall-clock parts (year, month, day, hour, minute) of an instant in ``tz``. */
  function partsIn(when, tz) {
    if (!partsFormats.has(tz)) {
      partsFormats.set(
        tz,
        new Intl.DateTimeFormat("en-GB", {
          timeZone: tz,
          year: "numeric",
          month: "2-digit",
          day: "2-digit",
          hour: "2-digit",
          minute: "2-digit",
          hourCycle: "h23",
        }),
      );
    }
    const out = {};
    for (const p of partsFormats.get(tz).formatToParts(new Date(when))) out[p.type] = p.value;
    return out;
  }

  // The "Send patient link" box of the booking and MDT pages (ids link-*, send-link).
  // appointment() gives the booked appointment; the expiry shows in its zone.
  function bindPatientLink({ apiBase, appointment, messageFor }) {
    $("send-link").addEventListener("click", async () => {
      const button = $("send-link");
      const booked = appointment();
      button.disabled = true;
      show($("link-error"), "");
      try {
        const link = await api(
          `${apiBase}appointments/${encodeURIComponent(booked.id)}/patient-link/`,
          { method: "POST", body: {} },
        );
        $("link-url").value = new URL(link.url, window.location.origin).href;
        $("link-expiry").textContent = link.expires_at
          ? `(expires ${new Date(link.expires_at).toLocaleString("en-GB", {
              timeZone: booked.time_zone,
              dateStyle: "medium",
              timeStyle: "short",
            })})`
          : "";
        $("link-box").hidden = false;
        button.textContent = "Send a new link";
      } catch (err) {
        show($("link-error"), messageFor(err));
      } finally {
        button.disabled = false;
      }
    });
    $("link-copy").addEventListener("click", async () => {
      const input = $("link-url");
      const button = $("link-copy");
      try {
        await navigator.clipboard.writeText(input.value);
      } catch {
        input.select();
        document.execCommand("copy");
      }
      button.textContent = "Copied";
      setTimeout(() => {
        button.textContent = "Copy";
      }, 2000);
    });
  }

  window.Schedule = Object.freeze({
    bindPatientLink,
    $,
    csrfToken,
    api,
    messageFor,
    el,
    show,
    fact,
    fillZones,
    todayIn,
    keyToUtc,
    addDays,
    dayLabel,
    localDay,
    localTime,
    partsIn,
  });
})();
