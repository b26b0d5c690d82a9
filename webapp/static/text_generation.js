"use strict";
const $ = id => document.getElementById(id);

async function generate() {
  showError("error", null);
  try {
    const body = { prefix: $("prefix").value, temperature: Number($("temperature").value),
                   top_k: Number($("top-k").value), top_p: Number($("top-p").value),
                   num_samples: Number($("num-samples").value) };
    if ($("seed").value !== "") body.seed = Number($("seed").value);
    const data = await api("/api/text_generation", body);
    const list = $("samples");
    list.innerHTML = "";
    data.samples.forEach(s => { const li = document.createElement("li"); li.textContent = s; list.appendChild(li); });
    $("seed-used").textContent = `seed ${data.seed}`;
  } catch (e) { showError("error", e); }
}

setUpPage("text_generation").catch(e => showError("error", e));
$("generate").addEventListener("click", generate);
