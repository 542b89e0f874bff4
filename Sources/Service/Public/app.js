"use strict";
// The sweep list with progress, from GET /api/v1/sweeps.
async function showSweeps() {
  const main = document.getElementById("main");
  const reply = await fetch("api/v1/sweeps");
  const { sweeps } = await reply.json();
  const table = document.createElement("table");
  table.innerHTML = "<thead><tr><th>sweep</th><th>name</th><th>progress</th><th>runs</th></tr></thead>";
  const body = table.createTBody();
  for (const sweep of sweeps) {
    const done = ["succeeded", "failed", "cancelled"].reduce((n, s) => n + (sweep.counts[s] || 0), 0);
    const row = body.insertRow();
    row.insertCell().textContent = sweep.id;
    row.insertCell().textContent = sweep.name;
    const bar = document.createElement("progress");
    bar.max = sweep.runs; bar.value = done;
    row.insertCell().appendChild(bar);
    row.insertCell().textContent = `${done}/${sweep.runs}`;
  }
  main.replaceChildren(table);
}
showSweeps();
