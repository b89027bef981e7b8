// The crew page's shared state and error box, for crew.js and its parts in crew/.

import { ApiError } from "../ems.js";

const CFG = JSON.parse(document.getElementById("crew-config").textContent);
export const $ = (id) => document.getElementById(id);
export const ERRORS = {
  network: "No connection. Try again when you have signal.",
  permission_denied: "You are not allowed to do that.",
  unknown_destination: "That hospital is not available. Pick another.",
  invalid_transition: "The case has already moved on.",
  too_large: "The photo is too large (10 MB at most).",
  unsupported_type: "Only photos (JPEG, PNG, WebP) or PDF.",
};

export const state = {
  caseId: CFG.case_id,
  summary: null,
  device: null,
  uplink: null,
  latest: {}, // name -> value (the phone's own latest readings, for NEWS2)
  acvpu: null,
  o2: null,
  sim: null,
  strip: null,
  lastFix: null,
  fixSentAt: 0,
  watchId: null,
  video: null, // LiveVideo while the camera goes to the hospital
};
export const ACTIVE = ["opened", "en_route", "accepted", "arrived"];

export function showError(err) {
  const box = $("crew-error");
  if (!err) { box.hidden = true; return; }
  const code = err instanceof ApiError ? err.code : "";
  box.textContent = ERRORS[code] || (err && err.message) || "Something went wrong.";
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 8000);
}
