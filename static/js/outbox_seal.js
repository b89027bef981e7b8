// Sealing the crew phone's outbox at rest (research/reliability-security.md, ASVS 14.3.3).
//
// A lost phone's IndexedDB must give away no vitals. Batch records and clinical meta
// values are sealed with AES-256-GCM under a key the server derives for this
// paramedic and device (consult/emergency/outbox_keys.py) and hands to the page. It is
// imported as a non-extractable CryptoKey and kept in memory only, never stored: the
// database alone holds ciphertext. The key path [stream, seq] and the case index stay
// in clear (ids, no vitals) and are the AES-GCM additional data, so a sealed record
// cannot be moved to another place. The same user and device get the same key after
// a reload or a new sign-in, so an outage never makes the outbox unreadable.

import { api } from "./ems.js";

const SEALED = 1;
const BASE_MS = 500;
const CAP_MS = 30000;
let keyring = null; // Promise of {kid, key, byKid: Map} (null: no WebCrypto)

/** Fetch and import this device's keys; call once before the outbox is used. */
export function unlockOutbox(device) {
  keyring = (async () => {
    if (!(globalThis.crypto && crypto.subtle)) {
      // Only outside a secure context (plain http off localhost): production is
      // HTTPS only. Records are then stored as they are (docs/security.md).
      console.warn("No WebCrypto here: the outbox is not sealed at rest.");
      return null;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const { keys } = await api(`/api/emergency/outbox-key/?device=${encodeURIComponent(device)}`);
        const byKid = new Map();
        for (const { kid, key } of keys) {
          const raw = Uint8Array.from(atob(key), (c) => c.charCodeAt(0));
          byKid.set(kid, await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]));
          raw.fill(0);
        }
        return { kid: keys[0].kid, key: byKid.get(keys[0].kid), byKid };
      } catch (err) {
        // No network yet: writes wait in memory for the key rather than fail.
        if (err.code !== "network") throw err;
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(CAP_MS, BASE_MS * 2 ** attempt)));
      }
    }
  })();
  keyring.catch(() => {});
  return keyring;
}

function ring() {
  if (!keyring) return Promise.reject(new Error("The outbox is locked (no key yet)."));
  return keyring;
}

const placeOf = (text) => new TextEncoder().encode(`telemed-ems-outbox:v1|${text}`);

/** ``value`` sealed for ``place`` (the additional data); null without WebCrypto. */
export async function seal(value, place) {
  const r = await ring();
  if (!r) return null;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify(value));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: placeOf(place) }, r.key, plain);
  return { v: SEALED, kid: r.kid, iv, ct };
}

/** The value ``seal`` sealed for ``place``; throws if the key or the place is wrong. */
export async function unseal(sealed, place) {
  const r = await ring();
  const key = r && r.byKid.get(sealed.kid);
  if (!key) throw new Error("An outbox record is sealed with a key this page does not have.");
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: sealed.iv, additionalData: placeOf(place) }, key, sealed.ct);
  return JSON.parse(new TextDecoder().decode(plain));
}

const batchPlace = (caseId, stream, seq) => `batch|${caseId}|${stream}|${seq}`;

/** The stored form of a batch: ids in clear, everything else sealed. */
export async function sealBatch(batch) {
  const { case: caseId, stream, seq, ...secret } = batch;
  const sealed = await seal(secret, batchPlace(caseId, stream, seq));
  return sealed ? { case: caseId, stream, seq, sealed } : batch;
}

/** A stored batch as it was written. */
export async function openBatch(row) {
  if (!row.sealed) return row; // stored before sealing existed, or without WebCrypto
  const secret = await unseal(row.sealed, batchPlace(row.case, row.stream, row.seq));
  return { ...secret, case: row.case, stream: row.stream, seq: row.seq };
}
