"use strict";
const $ = id => document.getElementById(id);
const wordList = text => text.split(/[\s,]+/).filter(w => w);
const cellText = (row, texts) => texts.forEach(t => { const td = row.insertCell(); td.textContent = t; });

async function neighbours() {
  showError("error", null);
  try {
    const data = await api("/api/word_embeddings/neighbours", { words: wordList($("words").value) });
    const table = $("neighbours");
    table.innerHTML = "";
    data.results.forEach(r => cellText(table.insertRow(), [r.word, r.known
      ? r.neighbours.map(n => `${n.word} (${n.similarity.toFixed(2)})`).join(", ") : "not in the vocabulary"]));
  } catch (e) { showError("error", e); }
}

async function analogy() {
  showError("error", null);
  try {
    const data = await api("/api/word_embeddings/analogy", { a: $("a").value, b: $("b").value, c: $("c").value });
    const list = $("analogy");
    list.innerHTML = "";
    data.answers.forEach(a => { const li = document.createElement("li"); li.textContent = `${a.word} (${a.similarity.toFixed(3)})`; list.appendChild(li); });
  } catch (e) { showError("error", e); }
}

async function project() {
  showError("error", null);
  try {
    const data = await api("/api/word_embeddings/project", { words: wordList($("project-words").value) });
    drawScatter($("projection"), data.points);
    $("unknown").textContent = data.unknown.length ? `not in the vocabulary: ${data.unknown.join(", ")}` : "";
  } catch (e) { showError("error", e); }
}

setUpPage("word_embeddings").catch(e => showError("error", e));
$("neighbours-button").addEventListener("click", neighbours);
$("analogy-button").addEventListener("click", analogy);
$("project-button").addEventListener("click", project);
