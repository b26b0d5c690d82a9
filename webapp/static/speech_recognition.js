"use strict";
const $ = id => document.getElementById(id);
const MAX_RECORD_SECONDS = 10;

// Probabilities (frames x classes) as a heat map: one row per class, one column per frame.
function drawPosteriors(canvas, posteriors, classes) {
  const left = 18, rowHeight = 9, frames = posteriors.length;
  const cell = Math.max(1, Math.min(6, Math.floor(900 / Math.max(frames, 1))));
  canvas.width = left + cell * frames + 2; canvas.height = rowHeight * classes.length + 2;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, canvas.width, canvas.height);
  posteriors.forEach((row, t) => row.forEach((p, c) => {
    if (p < 0.01) return;
    // The square root keeps a hesitant model's small probabilities visible.
    g.fillStyle = colour(Math.sqrt(p)); g.fillRect(left + t * cell, c * rowHeight, cell, rowHeight);
  }));
  g.fillStyle = "#222"; g.font = "9px monospace"; g.textBaseline = "top";
  classes.forEach((name, c) => g.fillText(name === "blank" ? "_" : name === " " ? "\u2423" : name, 4, c * rowHeight));
  canvas.dataset.drawn = "posteriors";
}

function show(data) {
  $("transcript").textContent = data.text || "(nothing recognised)";
  $("confidence").textContent = data.confidence.toFixed(3);
  $("decoder-used").textContent = data.decoder === "default" ? `(decoder: ${data.serving_decoder})` : `(decoder: ${data.decoder})`;
  if (data.date) {
    $("iso").textContent = data.date.iso || "not a date";
    $("iso-confidence").textContent = `confidence ${data.date.confidence.toFixed(3)}, order ${data.date.order}`;
  } else {
    $("iso").textContent = "";
    $("iso-confidence").textContent = data.date_note || "";
  }
  drawSpectrogram($("spectrogram"), data.spectrogram.values);
  $("frame-ms").textContent = (data.frame_seconds * 1000).toFixed(0);
  drawPosteriors($("posteriors"), data.posteriors, data.classes);
}

async function transcribe(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  form.append("decoder", $("decoder").value);
  form.append("order", $("order").value);
  show(await api("/api/speech_recognition", form));
}

async function transcribeFile() {
  showError("error", null);
  const file = $("file").files[0];
  if (!file) { showError("error", "Choose an audio file first."); return; }
  try { await transcribe(file, file.name); } catch (e) { showError("error", e); }
}

let recording = null;

// First click starts recording, the second (or MAX_RECORD_SECONDS) stops it and transcribes.
async function toggleRecording() {
  if (recording) { recording.stop(); return; }
  showError("error", null);
  const parts = [];
  let count = 0, timer = null;
  const state = {};
  recording = state;
  const finished = new Promise(resolve => { state.stop = resolve; });
  try {
    const microphone = await openMicrophone(block => {
      parts.push(block); count += block.length;
      if (count >= MAX_RECORD_SECONDS * MICROPHONE_RATE) state.stop();
    });
    $("record").textContent = "Stop and transcribe";
    timer = setInterval(() => { $("record").textContent = `Stop and transcribe (${(count / MICROPHONE_RATE).toFixed(1)} s)`; }, 200);
    await finished;
    microphone.close();
    const samples = new Float32Array(count);
    let offset = 0;
    parts.forEach(p => { samples.set(p, offset); offset += p.length; });
    if (!count) throw new Error("The microphone gave no audio.");
    await transcribe(wavFile(samples), "recording.wav");
  } catch (e) { showError("error", e); } finally {
    clearInterval(timer);
    recording = null;
    $("record").textContent = "Record from the microphone";
  }
}

setUpPage("speech_recognition").catch(e => showError("error", e));
$("upload").addEventListener("click", transcribeFile);
$("record").addEventListener("click", toggleRecording);
