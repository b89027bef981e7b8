// The crew page's location: the phone's GPS, sent over the uplink for the ETA.

import { setText } from "../ems.js";
import { state } from "./state.js";

export function sendFix(force = false) {
  const fix = state.lastFix;
  if (!fix || !state.uplink || !state.uplink.open) return;
  if (!force && Date.now() - state.fixSentAt < 5000) return;
  state.fixSentAt = Date.now();
  state.uplink._send({ type: "location", ...fix });
}

export function startGps() {
  if (!("geolocation" in navigator) || state.watchId !== null) return;
  state.watchId = navigator.geolocation.watchPosition((pos) => {
    const c = pos.coords;
    const num = (x, lo, hi) => (typeof x === "number" && Number.isFinite(x) && x >= lo && x <= hi ? x : null);
    state.lastFix = {
      lat: c.latitude, lon: c.longitude,
      accuracy_m: num(c.accuracy, 0, 100000), speed_mps: num(c.speed, 0, 150), heading: num(c.heading, 0, 360),
      at: pos.timestamp || Date.now(),
    };
    setText("gps", `GPS ±${Math.round(c.accuracy || 0)} m`);
    sendFix();
  }, (err) => {
    setText("gps", err.code === 1 ? "GPS not allowed" : "GPS unavailable");
  }, { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
}
