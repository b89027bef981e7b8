// A dedicated worker: stamps every frame of one camera or screen track with Date.now().
// Receives {readable, writable} (MediaStreamTrackProcessor / MediaStreamTrackGenerator).
import { drawStamp, stampGeometry } from "./stamp.js";

self.onmessage = ({ data }) => {
  const { readable, writable } = data;
  let canvas = null;
  let ctx = null;
  const stamper = new TransformStream({
    transform(frame, controller) {
      const w = frame.displayWidth;
      const h = frame.displayHeight;
      if (!stampGeometry(w, h)) { controller.enqueue(frame); return; }
      if (!canvas || canvas.width !== w || canvas.height !== h) {
        canvas = new OffscreenCanvas(w, h);
        ctx = canvas.getContext("2d", { alpha: false, desynchronized: true });
      }
      const ms = Date.now();
      ctx.drawImage(frame, 0, 0, w, h);
      drawStamp(ctx, w, h, ms);
      const out = new VideoFrame(canvas, { timestamp: frame.timestamp, alpha: "discard" });
      frame.close();
      controller.enqueue(out);
    },
  });
  readable.pipeThrough(stamper).pipeTo(writable).catch(() => { /* track ended */ });
};
