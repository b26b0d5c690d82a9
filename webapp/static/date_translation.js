"use strict";
const $ = id => document.getElementById(id);

async function translateOne() {
  showError("error", null);
  try {
    const data = await api("/api/date_translation", { text: $("text").value, order: $("order").value, attention: true });
    const r = data.results[0];
    $("iso").textContent = r.iso || "not a date";
    $("confidence").textContent = r.confidence.toFixed(3);
    if (data.attention) {
      drawHeatmap($("attention"), data.attention.weights, data.attention.output, data.attention.input);
      $("attention-note").textContent = "";
    } else {
      $("attention-note").textContent = data.attention_note || "";
    }
  } catch (e) { showError("error", e); }
}

async function translateBatch() {
  showError("error", null);
  try {
    const texts = $("batch").value.split("\n").filter(t => t.trim());
    const data = await api("/api/date_translation", { texts, order: $("order").value });
    $("batch-results").innerHTML = "<tr><th>text</th><th>ISO</th><th>confidence</th></tr>" + data.results.map(r =>
      `<tr><td></td><td>${r.iso || "not a date"}</td><td>${r.confidence.toFixed(3)}</td></tr>`).join("");
    data.results.forEach((r, i) => { $("batch-results").rows[i + 1].cells[0].textContent = r.text; });
  } catch (e) { showError("error", e); }
}

setUpPage("date_translation").catch(e => showError("error", e));
$("translate").addEventListener("click", translateOne);
$("text").addEventListener("keydown", e => { if (e.key === "Enter") translateOne(); });
$("run-batch").addEventListener("click", translateBatch);
