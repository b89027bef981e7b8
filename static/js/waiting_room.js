// The patient's waiting room: device checks, live connection, admission.
"use strict";
(() => {
  const root = document.querySelector(".waiting");
  if (!root) return;
  const statusLine = document.getElementById("wr-status");
  const preview = document.getElementById("wr-preview");
  const level = document.getElementById("wr-level");
  const checks = { camera: false, microphone: false, rtt_ms: null };
  let socket = null;
  let backoff = 500;
  let pingTimer = null;

  function mark(id, ok, detail) {
    const item = document.getElementById(id);
    item.classList.remove("pending", "ok", "bad");
    item.classList.add(ok ? "ok" : "bad");
    const slot = item.querySelector(".check-detail");
    if (slot && detail !== undefined) slot.textContent = detail;
  }

  function say(text) { statusLine.textContent = text; }

  function goToRoom(url) {
    say("You've been admitted. Joining your consultation…");
    if (url) window.location.assign(url);
  }

  async function checkDevices() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      preview.srcObject = stream;
      const video = stream.getVideoTracks()[0];
      checks.camera = Boolean(video && video.readyState === "live");
      mark("chk-camera", checks.camera, video ? video.label || "ready" : "not found");
      const audio = stream.getAudioTracks()[0];
      checks.microphone = Boolean(audio && audio.readyState === "live");
      mark("chk-mic", checks.microphone);
      if (audio) {
        const ctx = new AudioContext();
        const analyser = ctx.createAnalyser();
        analyser.fftSize = 512;
        ctx.createMediaStreamSource(stream).connect(analyser);
        const data = new Uint8Array(analyser.fftSize);
        const tick = () => {
          analyser.getByteTimeDomainData(data);
          let peak = 0;
          for (const v of data) peak = Math.max(peak, Math.abs(v - 128) / 128);
          level.value = peak;
          requestAnimationFrame(tick);
        };
        tick();
      }
    } catch (err) {
      mark("chk-camera", false, "blocked or missing: allow camera access in your browser");
      mark("chk-mic", false);
    }
    sendChecks();
  }

  function sendChecks() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "checks", ...checks }));
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/waiting/`);
    socket.addEventListener("open", () => {
      backoff = 500;
      say("You're in the waiting room. Your clinician knows you're here and will admit you shortly.");
      const ping = () => socket.readyState === WebSocket.OPEN &&
        socket.send(JSON.stringify({ type: "ping", t0: performance.timeOrigin + performance.now() }));
      ping();
      pingTimer = setInterval(ping, 10000);
      sendChecks();
    });
    socket.addEventListener("message", (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "pong") {
        const rtt = performance.timeOrigin + performance.now() - msg.t0;
        checks.rtt_ms = Math.round(rtt);
        mark("chk-net", rtt < 400, `${checks.rtt_ms} ms round trip${rtt < 400 ? "" : " (slow)"}`);
        sendChecks();
      } else if (msg.type === "admitted") {
        goToRoom(msg.room);
      } else if (msg.type === "error" && msg.code === "too_early") {
        say(msg.detail);
      }
    });
    socket.addEventListener("close", (event) => {
      clearInterval(pingTimer);
      mark("chk-net", false, "reconnecting…");
      if (event.code === 4401 || event.code === 4403) {
        say("This waiting room is closed. Please use the link from your invitation again.");
        return;
      }
      say("Connection lost. Reconnecting…");
      const wait = backoff + Math.random() * backoff;
      backoff = Math.min(backoff * 2, 15000);
      setTimeout(connect, wait);
    });
  }

  if (root.dataset.admittedRoom) { goToRoom(root.dataset.admittedRoom); return; }
  checkDevices();
  if (root.dataset.canEnter === "1") {
    connect();
  } else {
    const starts = new Date(root.dataset.starts).getTime();
    const opensIn = starts - 30 * 60 * 1000 - Date.now();
    setTimeout(() => location.reload(), Math.max(opensIn, 5000));
  }
})();
