"use strict";
const $ = id => document.getElementById(id);

async function classify() {
  showError("error", null);
  try {
    const data = await api("/api/sentiment", { text: $("text").value, explain: true });
    $("label").textContent = data.label;
    $("probability").textContent = data.probability.toFixed(3);
    drawBars($("probabilities"), data.probabilities);
    const biggest = Math.max(1e-6, ...data.words.map(w => Math.abs(w.push)));
    const words = $("words");
    words.innerHTML = "";
    data.words.forEach(w => {
      const span = document.createElement("span");
      const strength = Math.abs(w.push) / biggest;
      span.className = "word";
      span.textContent = w.word;
      span.dataset.push = w.push;
      span.title = `push ${w.push >= 0 ? "+" : ""}${w.push.toFixed(4)}`;
      span.style.background = w.push >= 0 ? `rgba(46,125,50,${0.6 * strength})` : `rgba(198,40,40,${0.6 * strength})`;
      words.appendChild(span);
      words.appendChild(document.createTextNode(" "));
    });
  } catch (e) { showError("error", e); }
}

setUpPage("sentiment").catch(e => showError("error", e));
$("classify").addEventListener("click", classify);
