"use strict";
setUpPage(null).then(status => {
  document.getElementById("tasks").innerHTML = status.tasks.map(t => t.available
    ? `<li><a href="/task/${t.name}">${t.title}</a></li>`
    : `<li>${t.title}: <span class="muted">off. ${t.reason}</span></li>`).join("");
}).catch(e => showError("error", e));
