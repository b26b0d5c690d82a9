"use strict";
const $ = id => document.getElementById(id);
const RATE = 16000;

function showClip(data) {
  drawSpectrogram($("spectrogram"), data.spectrogram.values);
  drawCurve($("curve"), data.probabilities, data.frame_seconds, data.threshold, data.detections, data.duration);
  $("detections").textContent = data.detections.length
    ? data.detections.map(t => `${t.toFixed(2)} s`).join(", ") : "none";
}

async function detectFile() {
  showError("error", null);
  const file = $("file").files[0];
  if (!file) { showError("error", "Choose an audio file first."); return; }
  const form = new FormData();
  form.append("file", file);
  try { showClip(await api("/api/trigger_word", form)); } catch (e) { showError("error", e); }
}

async function record() {
  showError("error", null);
  const seconds = 3, parts = [];
  let count = 0;
  try {
    $("record").disabled = true;
    const microphone = await openMicrophone(block => { parts.push(block); count += block.length; });
    await new Promise(resolve => { const timer = setInterval(() => {
      if (count >= seconds * RATE) { clearInterval(timer); resolve(); } }, 50); });
    microphone.close();
    const samples = new Float32Array(count);
    let offset = 0;
    parts.forEach(p => { samples.set(p, offset); offset += p.length; });
    const form = new FormData();
    form.append("file", wavFile(samples.subarray(0, seconds * RATE)), "recording.wav");
    showClip(await api("/api/trigger_word", form));
  } catch (e) { showError("error", e); } finally { $("record").disabled = false; }
}

let live = null;

async function startLive() {
  showError("error", null);
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/trigger_word/stream`);
  socket.binaryType = "arraybuffer";
  const state = { socket, probabilities: [], frameSeconds: 0.04, threshold: 0.5, detections: [], pending: [], queued: 0 };
  live = state;
  socket.onmessage = event => {
    const message = JSON.parse(event.data);
    if (message.error) { showError("error", message.error); return; }
    if (message.type === "ready") { state.frameSeconds = message.frame_seconds; state.threshold = message.threshold; return; }
    state.probabilities.push(...message.probabilities);
    const shown = state.probabilities.slice(-250);  // the last 10 s
    const offset = (state.probabilities.length - shown.length) * state.frameSeconds;
    message.detections.forEach(d => {
      state.detections.push(d.time);
      const li = document.createElement("li");
      li.className = "detection";
      li.textContent = `detected at ${d.time.toFixed(2)} s (delay ${(d.delay * 1000).toFixed(0)} ms)`;
      $("live-detections").appendChild(li);
    });
    drawCurve($("live-curve"), shown, state.frameSeconds, state.threshold,
              state.detections.map(t => t - offset).filter(t => t >= 0), 250 * state.frameSeconds);
    $("live-status").textContent = `${(message.samples / RATE).toFixed(1)} s streamed, model ${message.compute_ms} ms a chunk`;
  };
  socket.onclose = () => { if (live === state) stopLive(); };
  await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = () => reject(new Error("The live stream did not connect.")); });
  try {
    state.microphone = await openMicrophone(block => {
      state.pending.push(block); state.queued += block.length;
      if (state.queued >= 0.16 * RATE && socket.readyState === WebSocket.OPEN) {  // send every 160 ms
        const chunk = new Float32Array(state.queued);
        let offset = 0;
        state.pending.forEach(p => { chunk.set(p, offset); offset += p.length; });
        state.pending = []; state.queued = 0;
        socket.send(chunk.buffer);
      }
    });
  } catch (e) { showError("error", e); socket.close(); return; }
  $("live-start").disabled = true; $("live-stop").disabled = false;
}

function stopLive() {
  if (!live) return;
  const state = live;
  live = null;
  if (state.microphone) state.microphone.close();
  if (state.socket.readyState === WebSocket.OPEN) state.socket.close();
  $("live-start").disabled = false; $("live-stop").disabled = true;
}

setUpPage("trigger_word").catch(e => showError("error", e));
$("upload").addEventListener("click", detectFile);
$("record").addEventListener("click", record);
$("live-start").addEventListener("click", () => startLive().catch(e => showError("error", e)));
$("live-stop").addEventListener("click", stopLive);
