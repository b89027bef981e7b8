// The crew page's photos: shrunk on the phone, uploaded as case attachments,
// retried while there is no signal.

import { api, el } from "../ems.js";
import { $, ERRORS, state } from "./state.js";

async function shrink(file) {
  // Downscale big photos before they cross a weak link (JPEG, longest side 1600 px).
  if (!file.type.startsWith("image/") || file.size < 400 * 1024 || !window.createImageBitmap) return file;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.82));
    return blob || file;
  } catch (_) { return file; }
}

export async function uploadPhoto(file) {
  const item = el("li", { class: "photo-pending" }, el("span", { text: `Photo ${new Date().toLocaleTimeString()} — uploading…` }));
  $("photo-list").prepend(item);
  const body = await shrink(file);
  for (let attempt = 0; attempt < 6; attempt++) {
    try {
      const form = new FormData();
      form.append("file", body, "photo.jpg");
      form.append("kind", "photo");
      const res = await api(`/api/emergency/cases/${state.caseId}/attachments/`, { method: "POST", form, timeoutMs: 60000 });
      item.className = "photo-ok";
      item.firstChild.textContent = `Photo ${new Date().toLocaleTimeString()} — sent (${Math.round(res.size / 1024)} KB)`;
      return;
    } catch (err) {
      if (err.code !== "network") { item.className = "photo-bad"; item.firstChild.textContent = ERRORS[err.code] || err.message; return; }
      item.firstChild.textContent = "Photo — no signal, retrying…";
      await new Promise((r) => setTimeout(r, 2000 * 2 ** attempt));
    }
  }
  item.className = "photo-bad";
  item.firstChild.textContent = "Photo not sent — no signal. Take it again later.";
}
