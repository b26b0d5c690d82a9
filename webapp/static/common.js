// Shared helpers of every page: JSON calls, error display, and the canvas plots.
"use strict";

async function api(path, body) {
  const options = body instanceof FormData ? { method: "POST", body }
    : body !== undefined ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }
    : {};
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function showError(id, error) {
  const box = document.getElementById(id);
  if (!box) return;
  if (error) { box.textContent = String(error.message || error); box.classList.remove("hidden"); }
  else { box.textContent = ""; box.classList.add("hidden"); }
}

// Adds the navigation bar and, if this task's run is missing, replaces the page with the reason.
async function setUpPage(task) {
  const header = document.querySelector("header");
  const status = await api("/api/tasks");
  header.innerHTML = '<a href="/">seqmodels</a>' + status.tasks.map(t =>
    `<a href="/task/${t.name}" class="${t.name === task ? "here" : ""}">${t.title}${t.available ? "" : " (off)"}</a>`).join("");
  if (!task) return status;
  const mine = status.tasks.find(t => t.name === task);
  if (!mine.available) {
    document.getElementById("content").classList.add("hidden");
    const off = document.getElementById("off");
    off.textContent = mine.reason;
    off.classList.remove("hidden");
  }
  return status;
}

function colour(value) {  // 0..1 -> white..dark blue
  const v = Math.max(0, Math.min(1, value));
  return `rgb(${Math.round(255 - 225 * v)},${Math.round(255 - 180 * v)},${Math.round(255 - 90 * v)})`;
}

// A matrix (rows x columns, values 0..1) as coloured cells with character labels.
function drawHeatmap(canvas, weights, rowLabels, columnLabels) {
  const cell = 22, left = 24, top = 24;
  canvas.width = left + cell * columnLabels.length + 4;
  canvas.height = top + cell * rowLabels.length + 4;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, canvas.width, canvas.height);
  g.font = "14px monospace"; g.textAlign = "center"; g.textBaseline = "middle";
  const top1 = Math.max(1e-9, ...weights.flat());  // the strongest weight is the darkest cell
  weights.forEach((row, i) => row.forEach((w, j) => {
    g.fillStyle = colour(w / top1); g.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1);
  }));
  g.fillStyle = "#222";
  columnLabels.forEach((c, j) => g.fillText(c === " " ? "\u2423" : c, left + j * cell + cell / 2, top / 2));
  rowLabels.forEach((c, i) => g.fillText(c, left / 2, top + i * cell + cell / 2));
  canvas.dataset.drawn = "heatmap";
}

// A curve of values 0..1 over time, an optional threshold line and vertical markers (seconds).
function drawCurve(canvas, values, secondsPerValue, threshold, markers, totalSeconds) {
  const w = canvas.width, h = canvas.height, pad = 20;
  const g = canvas.getContext("2d");
  const seconds = totalSeconds || Math.max(values.length * secondsPerValue, 1e-6);
  const x = t => pad + (w - 2 * pad) * t / seconds, y = v => h - pad - (h - 2 * pad) * v;
  g.fillStyle = "#fff"; g.fillRect(0, 0, w, h);
  g.strokeStyle = "#bbb"; g.strokeRect(pad, pad, w - 2 * pad, h - 2 * pad);
  if (threshold !== undefined && threshold !== null) {
    g.strokeStyle = "#e80"; g.setLineDash([4, 4]); g.beginPath();
    g.moveTo(pad, y(threshold)); g.lineTo(w - pad, y(threshold)); g.stroke(); g.setLineDash([]);
  }
  g.strokeStyle = "#1565c0"; g.lineWidth = 2; g.beginPath();
  values.forEach((v, i) => { const px = x((i + 1) * secondsPerValue), py = y(v); i ? g.lineTo(px, py) : g.moveTo(px, py); });
  g.stroke(); g.lineWidth = 1;
  g.strokeStyle = "#c62828";
  (markers || []).forEach(t => { g.beginPath(); g.moveTo(x(t), pad); g.lineTo(x(t), h - pad); g.stroke(); });
  g.fillStyle = "#222"; g.font = "11px sans-serif";
  g.fillText("0 s", pad, h - 5); g.fillText(`${seconds.toFixed(1)} s`, w - pad - 25, h - 5);
  canvas.dataset.drawn = "curve";
}

// Rows (time) x columns (frequency bins) of log power, low frequencies at the bottom.
function drawSpectrogram(canvas, values) {
  if (!values.length) return;
  const rows = values.length, bins = values[0].length;
  const flat = values.flat();
  const low = Math.min(...flat), high = Math.max(...flat);
  canvas.width = Math.max(rows, 200); canvas.height = bins * 3;
  const g = canvas.getContext("2d");
  const cw = canvas.width / rows;
  values.forEach((row, t) => row.forEach((v, b) => {
    g.fillStyle = colour((v - low) / ((high - low) || 1));
    g.fillRect(t * cw, canvas.height - (b + 1) * 3, Math.ceil(cw), 3);
  }));
  canvas.dataset.drawn = "spectrogram";
}

// Horizontal bars: {name: probability}.
function drawBars(canvas, probabilities) {
  const names = Object.keys(probabilities), h = 26;
  canvas.width = 360; canvas.height = names.length * h + 6;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, canvas.width, canvas.height);
  g.font = "13px sans-serif"; g.textBaseline = "middle";
  names.forEach((n, i) => {
    g.fillStyle = "#1565c0"; g.fillRect(90, 3 + i * h, 220 * probabilities[n], h - 6);
    g.fillStyle = "#222"; g.fillText(n, 4, 3 + i * h + h / 2 - 3);
    g.fillText(probabilities[n].toFixed(3), 315, 3 + i * h + h / 2 - 3);
  });
  canvas.dataset.drawn = "bars";
}

// Points {word, x, y} scattered with their labels.
function drawScatter(canvas, points) {
  const w = canvas.width, h = canvas.height, pad = 40;
  const xs = points.map(p => p.x), ys = points.map(p => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = v => pad + (w - 2 * pad) * (v - x0) / ((x1 - x0) || 1);
  const sy = v => h - pad - (h - 2 * pad) * (v - y0) / ((y1 - y0) || 1);
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, w, h);
  g.font = "13px sans-serif";
  points.forEach(p => {
    g.fillStyle = "#1565c0"; g.beginPath(); g.arc(sx(p.x), sy(p.y), 4, 0, 2 * Math.PI); g.fill();
    g.fillStyle = "#222"; g.fillText(p.word, sx(p.x) + 6, sy(p.y) - 6);
  });
  canvas.dataset.drawn = "scatter";
}

// -- audio: the microphone and WAV files, for the pages that listen ------------------------
const MICROPHONE_RATE = 16000;

// The microphone at 16 kHz through an audio worklet; onSamples gets Float32Arrays.
async function openMicrophone(onSamples) {
  const media = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false,
                                                                     noiseSuppression: false, autoGainControl: false } });
  const context = new AudioContext({ sampleRate: MICROPHONE_RATE });
  await context.audioWorklet.addModule("/static/pcm-worklet.js");
  const source = context.createMediaStreamSource(media);
  const tap = new AudioWorkletNode(context, "pcm-tap");
  tap.port.onmessage = event => onSamples(event.data);
  source.connect(tap);
  return { close: () => { media.getTracks().forEach(t => t.stop()); context.close(); } };
}

function wavFile(samples) {  // 16-bit PCM mono
  const buffer = new ArrayBuffer(44 + samples.length * 2), view = new DataView(buffer);
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, MICROPHONE_RATE, true); view.setUint32(28, MICROPHONE_RATE * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 32767, true));
  return new Blob([buffer], { type: "audio/wav" });
}
