"use strict";
// prunelab's results page: sweeps, runs and the paper's plots (drawn by charts.js), from the
// documented API (/api/v1). A report written by `prunelab report` loads data.js first, which sets
// window.PRUNELAB_REPORT: the same API answers, embedded, so the page works from file://.

// ---------------------------------------------------------------------------------------------
// Errors: uncaught ones are listed in <html data-errors="[…]"> (tests read it) and shown.
const pageErrors = [];
document.documentElement.dataset.errors = "[]";
function recordError(message) {
  pageErrors.push(String(message));
  document.documentElement.dataset.errors = JSON.stringify(pageErrors);
  const banner = document.getElementById("errors");
  if (banner) {
    banner.hidden = false;
    banner.textContent = "Page error: " + pageErrors.join("; ");
  }
}
window.addEventListener("error", (event) => recordError(`${event.message} (${event.filename}:${event.lineno})`));
window.addEventListener("unhandledrejection", (event) => {
  const reason = event.reason;
  recordError("unhandled rejection: " + (reason && reason.stack ? reason.stack : reason));
});
const consoleError = console.error.bind(console);
console.error = (...args) => { recordError(args.map(String).join(" ")); consoleError(...args); };

// ---------------------------------------------------------------------------------------------
// Data: the API over HTTP, or the report's embedded copy of the same answers.
const REPORT = window.PRUNELAB_REPORT || null;

class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

// Loads a report's per-run data file (a script: fetch does not work from file://).
function loadReportScript(file) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = file;
    script.onload = resolve;
    script.onerror = () => reject(new ApiError(404, `missing report file ${file}`));
    document.head.appendChild(script);
  });
}

// ---------------------------------------------------------------------------------------------
// The bearer token. A server reachable beyond loopback answers data requests without a token
// with 401: the page then asks for the token once (a form, not a URL parameter), keeps it in
// sessionStorage (this tab only, gone when it closes) and sends it as a header on every fetch.
// It is never put in a URL nor logged.
const TOKEN_KEY = "prunelab.token";
function storedToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch (_) { return null; }
}
function authHeaders() {
  const token = storedToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// The token for this page when sessionStorage is unavailable.
let sessionToken = null;

// One pending question at a time: every fetch that met a 401 waits for the same answer.
let tokenQuestion = null;
function askForToken(refused) {
  if (tokenQuestion) return tokenQuestion;
  tokenQuestion = new Promise((resolve) => {
    const form = document.getElementById("token-form"), input = document.getElementById("token-input");
    document.getElementById("token-message").textContent = refused
      ? "The server refused that token. Enter the read token (or the write token):"
      : "This server needs a token to show its results. Enter the read token (or the write token):";
    form.hidden = false;
    document.body.dataset.auth = "needed";
    input.value = "";
    input.focus();
    form.onsubmit = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch (_) { /* private mode: kept for this page only */ }
      sessionToken = token;
      form.hidden = true;
      document.body.dataset.auth = "given";
      tokenQuestion = null;
      resolve();
    };
  });
  return tokenQuestion;
}
// GET of an API path with the token, asking for one on 401 (again when the stored one is refused).
async function authorizedFetch(path) {
  for (;;) {
    const headers = authHeaders();
    if (!headers.Authorization && sessionToken) headers.Authorization = `Bearer ${sessionToken}`;
    const reply = await fetch("api/v1/" + path, { cache: "no-store", headers });
    if (reply.status !== 401) return reply;
    const refused = Boolean(headers.Authorization);
    if (refused) {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* nothing stored */ }
      sessionToken = null;
    }
    await askForToken(refused);
  }
}

// An API answer as text (the plots' SVG), from the report's data when the page is a report.
async function apiText(path) {
  if (REPORT) {
    if (!(path in REPORT.data)) throw new ApiError(404, `not part of this report: ${path}`);
    return REPORT.data[path];
  }
  const reply = await authorizedFetch(path);
  if (!reply.ok) throw await replyError(reply);
  return reply.text();
}

// The API's error (its JSON body when it has one) of a failed reply.
async function replyError(reply) {
  let body = {};
  try { body = await reply.json(); } catch (_) { /* not JSON */ }
  return new ApiError(reply.status, body.error || reply.statusText, body.field);
}

async function api(path) {
  if (REPORT) {
    const runFile = REPORT.runFiles && REPORT.runFiles[path.split("/").slice(0, 2).join("/")];
    if (!(path in REPORT.data) && runFile) await loadReportScript(runFile);
    if (!(path in REPORT.data)) throw new ApiError(404, `not part of this report: ${path}`);
    return REPORT.data[path];
  }
  const reply = await authorizedFetch(path);
  if (!reply.ok) throw await replyError(reply);
  return reply.json();
}

if (REPORT) {
  const footer = document.querySelector("footer");
  if (footer) footer.textContent = `Static report written by prunelab report at ${REPORT.generated}.`;
}

// Where a downloadable file of the API lives (null when a report does not include it).
function fileLink(path) {
  if (REPORT) return (REPORT.files && REPORT.files[path]) || null;
  return "api/v1/" + path;
}

// A link to an API file (CSV, SVG, npz). A plain link would go without the token, so when the
// page holds one the click fetches the file with the header and saves what came back.
function apiFileLink(href, text, filename) {
  const anchor = link(href, text);
  if (REPORT) return anchor;
  anchor.dataset.api = "";
  anchor.addEventListener("click", (event) => {
    if (!storedToken() && !sessionToken) return;
    event.preventDefault();
    authorizedFetch(href.replace(/^api\/v1\//, "")).then(async (reply) => {
      if (!reply.ok) throw new ApiError(reply.status, `download failed: HTTP ${reply.status}`);
      const url = URL.createObjectURL(await reply.blob());
      const save = el("a", { href: url, download: filename });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    }).catch((error) => recordError(error && error.stack ? error.stack : error));
  });
  return anchor;
}

// ---------------------------------------------------------------------------------------------
// DOM helpers.
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attributes);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}
function link(href, text) { return el("a", { href }, text); }

function shortKey(key) { return key.slice(0, 10); }
function statusBadge(status) { return el("span", { class: `status status-${status}` }, status); }

function progressBar(done, total, label) {
  return el("span", { class: "progress" },
    el("progress", { max: Math.max(total, 1), value: Math.min(done, total) }),
    el("span", { class: "progress-label" }, label !== undefined ? label : `${done}/${total}`));
}

function countsText(counts) {
  return RUN_STATUSES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(" · ") || "no runs";
}

// ---------------------------------------------------------------------------------------------
// Views. Each render belongs to one navigation; polling stops when the user navigates away.
let navigation = 0, pollTimer = null;
const POLL_MS = 2000;

function main() { return document.getElementById("main"); }
function setState(view, state) {
  document.body.dataset.view = view;
  document.body.dataset.state = state;
}
function schedulePoll(generation, render) {
  if (REPORT || generation !== navigation) return;
  pollTimer = setTimeout(() => {
    if (generation !== navigation) return;
    // Counted in <body data-refreshes>, so a test can tell a live view from a static one.
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    render().catch((error) => recordError(error && error.stack ? error.stack : error));
  }, POLL_MS);
}
function showFailure(view, error) {
  if (!(error instanceof ApiError)) throw error;
  main().replaceChildren(el("p", { class: "failure" }, `${error.message}${error.field ? ` (field ${error.field})` : ""} — HTTP ${error.status}`),
    el("p", {}, link("#/", "all sweeps")));
  setState(view, "failed");
}

async function showSweeps(generation) {
  let sweeps;
  try { ({ sweeps } = await api("sweeps")); } catch (error) { return showFailure("sweeps", error); }
  if (generation !== navigation) return;
  document.title = "prunelab: sweeps";
  const table = el("table", { class: "sweeps" },
    el("thead", {}, el("tr", {}, ["sweep", "name", "status", "progress", "runs"].map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const sweep of sweeps) {
    const done = FINISHED.reduce((n, s) => n + (sweep.counts[s] || 0), 0);
    body.append(el("tr", { "data-sweep": sweep.id },
      el("td", {}, link(`#/sweeps/${sweep.id}`, `#${sweep.id}`)), el("td", {}, link(`#/sweeps/${sweep.id}`, sweep.name)),
      el("td", {}, statusBadge(sweep.status)), el("td", {}, progressBar(done, sweep.runs)), el("td", {}, countsText(sweep.counts))));
  }
  table.append(body);
  main().replaceChildren(el("h2", {}, "Sweeps ", REPORT ? null : el("small", {}, link("#/curves", "connectivity curves"))),
    sweeps.length ? table : el("p", { class: "empty" }, "No sweeps yet: submit one with `prunelab submit SPEC.json` or POST /api/v1/sweeps."));
  setState("sweeps", "ready");
  if (sweeps.some((s) => s.status === STATUS.active)) schedulePoll(generation, () => showSweeps(generation));
}

// An uploaded model's architecture is its file's SHA-256 (onnx:<64 hex digits>): shown by its
// first 12 digits, as git shows commits (the full name is in the run's config).
function architectureText(name) {
  return /^onnx:[0-9a-f]{64}$/.test(name) ? `${name.slice(0, 17)}…` : name;
}

const RESULT_COLUMNS = [
  { key: "key", label: "run", render: (r) => link(`#/runs/${r.key}`, shortKey(r.key)) },
  { key: "architecture", label: "architecture", optional: true, render: (r) => architectureText(r.architecture) },
  { key: "dataset", label: "dataset", optional: true },
  { key: "pruner", label: "pruner" },
  { key: "mode", label: "mode" },
  { key: "variant", label: "variant", optional: true },
  { key: "target_compression", label: "target", numeric: true, render: (r) => significant(r.target_compression) },
  { key: "seed", label: "seed", numeric: true },
  { key: "status", label: "status", render: (r) => statusBadge(r.status) },
  { key: "attempts", label: "attempts", numeric: true },
  { key: "test_accuracy", label: "test acc.", numeric: true, render: (r) => formatPercent(r.test_accuracy) },
  { key: "test_loss", label: "test loss", numeric: true, render: (r) => formatNumber(r.test_loss) },
  { key: "direct_compression", label: "direct compr.", numeric: true, render: (r) => significant(r.direct_compression) },
  { key: "effective_compression", label: "effective compr.", numeric: true,
    render: (r) => (r.status === STATUS.succeeded && r.effective_compression === undefined ? "∞" : significant(r.effective_compression)) },
  { key: "wall_seconds", label: "wall s", numeric: true, render: (r) => formatNumber(r.wall_seconds, 3) },
  { key: "error", label: "error", render: (r) => (r.error ? el("span", { class: "error-text", title: r.error }, r.error.slice(0, 60)) : "") },
];

// A static report has no server to sort for it: its rows are sorted here, as the API does
// (missing values last either way, then by key).
function sortRows(rows, column, descending) {
  const spec = RESULT_COLUMNS.find((c) => c.key === column);
  if (!spec) return rows;
  const sign = descending ? -1 : 1;
  return rows.slice().sort((a, b) => {
    const [u, v] = [a[column], b[column]];
    const missingU = u === null || u === undefined, missingV = v === null || v === undefined;
    if (missingU || missingV) return missingU === missingV ? (a.key < b.key ? -1 : 1) : missingU ? 1 : -1;
    const order = spec.numeric ? u - v : String(u) < String(v) ? -1 : String(u) > String(v) ? 1 : 0;
    return order !== 0 ? sign * order : (a.key < b.key ? -1 : 1);
  });
}

// One page of the sweep's results, sorted by the server (GET sweeps/ID/results?sort&dir&limit&offset).
const PAGE_ROWS = 100;
async function resultsPage(id, params) {
  const sort = RESULT_COLUMNS.some((c) => c.key === params.get("sort")) ? params.get("sort") : null;
  const descending = params.get("dir") === "desc";
  const page = Math.max(0, Math.floor(Number(params.get("page")) || 0));
  if (REPORT) {
    const { results } = await api(`sweeps/${id}/results`);
    const rows = sortRows(results, sort, descending);
    return { rows: rows.slice(page * PAGE_ROWS, (page + 1) * PAGE_ROWS), total: rows.length, page };
  }
  const query = new URLSearchParams({ limit: PAGE_ROWS, offset: page * PAGE_ROWS });
  if (sort) { query.set("sort", sort); query.set("dir", descending ? "desc" : "asc"); }
  const { results, total } = await api(`sweeps/${id}/results?${query}`);
  return { rows: results, total, page };
}

function resultsTable(sweepID, table, params, showOptional) {
  const sort = params.get("sort"), descending = params.get("dir") === "desc";
  const columns = RESULT_COLUMNS.filter((c) => !c.optional || showOptional(c.key));
  const head = el("tr", {}, columns.map((c) => {
    const next = new URLSearchParams(params);
    next.set("sort", c.key);
    next.set("dir", sort === c.key && !descending ? "desc" : "asc");
    next.delete("page");
    const arrow = sort === c.key ? (descending ? " ▼" : " ▲") : "";
    return el("th", { "data-column": c.key, class: c.numeric ? "numeric" : null, "aria-sort": sort === c.key ? (descending ? "descending" : "ascending") : null },
      c.key === "variant" ? c.label : link(`#/sweeps/${sweepID}?${next}`, c.label + arrow));
  }));
  const body = el("tbody", {}, table.rows.map((row) => el("tr", { "data-key": row.key, "data-status": row.status },
    columns.map((c) => el("td", { class: c.numeric ? "numeric" : null }, c.render ? c.render(row) : (row[c.key] ?? "–"))))));
  const pages = Math.max(1, Math.ceil(table.total / PAGE_ROWS));
  const pageLink = (page, text) => {
    const next = new URLSearchParams(params);
    next.set("page", page);
    return link(`#/sweeps/${sweepID}?${next}`, text);
  };
  const first = table.total ? table.page * PAGE_ROWS + 1 : 0, last = Math.min(table.total, (table.page + 1) * PAGE_ROWS);
  const pager = el("p", { class: "pager", "data-page": table.page, "data-pages": pages },
    table.page > 0 ? pageLink(table.page - 1, "← previous") : null, ` rows ${formatCount(first)}–${formatCount(last)} of ${formatCount(table.total)} `,
    table.page + 1 < pages ? pageLink(table.page + 1, "next →") : null);
  return el("div", {}, el("table", { class: "results", id: "results" }, el("thead", {}, head), body), pages > 1 ? pager : null);
}

// Mean ± s.d. over seeds per architecture × pruner × mode × variant × target, as the server
// aggregates it (GET sweeps/ID/summary): the numbers behind the plots.
function summaryTable(groups) {
  const body = el("tbody", {}, groups.map((g) => el("tr", {},
    el("td", {}, `${architectureText(g.architecture)}/${g.dataset}`), el("td", {}, g.pruner), el("td", {}, g.mode || "–"), el("td", {}, g.variant || "–"),
    el("td", { class: "numeric" }, g.target === undefined ? "–" : significant(g.target)), el("td", { class: "numeric" }, g.runs),
    el("td", { class: "numeric" }, `${formatPercent(g.test_accuracy)} ± ${(g.test_accuracy_spread * 100).toFixed(2)}`),
    el("td", { class: "numeric" }, g.direct_compression === undefined ? "∞" : significant(g.direct_compression)),
    el("td", { class: "numeric" }, (g.effective_compression === undefined ? "∞" : significant(g.effective_compression))
      + (g.infinite_effective && g.effective_compression !== undefined ? ` (${g.infinite_effective} ∞)` : "")))));
  return el("table", { class: "summary" },
    el("thead", {}, el("tr", {}, ["model", "pruner", "mode", "variant", "target", "seeds", "test acc. (mean ± s.d.)", "direct compr. (geo. mean)",
      "effective compr. (geo. mean)"].map((h) => el("th", {}, h)))),
    body);
}

// The sweep's variants side by side (e.g. shuffle=false and shuffle=true): one row per model,
// pruner, mode and target that more than one variant has, the mean ± s.d. test accuracy and the
// effective compression of each, and with two variants the difference of the means (second minus
// first, ± the root of the summed variances). The paper's shuffle table is this view.
function variantTable(groups) {
  const variants = [...new Set(groups.map((g) => g.variant || ""))].sort();
  if (variants.length < 2) return null;
  const cells = new Map();
  for (const g of groups) {
    if (g.pruner === "dense") continue;
    const key = JSON.stringify([g.architecture, g.dataset, g.pruner, g.mode || "", g.target]);
    if (!cells.has(key)) cells.set(key, { first: g, by: {} });
    cells.get(key).by[g.variant || ""] = g;
  }
  const rows = [...cells.values()].filter((c) => Object.keys(c.by).length > 1);
  if (!rows.length) return null;
  const accuracy = (g) => (g ? `${formatPercent(g.test_accuracy)} ± ${(g.test_accuracy_spread * 100).toFixed(2)}` : "–");
  const effective = (g) => (g ? (g.effective_compression === undefined ? "∞" : significant(g.effective_compression)) : "–");
  const pair = variants.length === 2;
  const difference = (a, b) => {
    if (!a || !b) return "–";
    const delta = (b.test_accuracy - a.test_accuracy) * 100;
    const spread = Math.sqrt(a.test_accuracy_spread ** 2 + b.test_accuracy_spread ** 2) * 100;
    return `${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(2)} ± ${spread.toFixed(2)}`;
  };
  const head = ["model", "pruner", "mode", "target"].concat(...variants.map((v) => [`test acc. [${v || "–"}]`, `effective compr. [${v || "–"}]`]),
    pair ? ["Δ test acc. (points)"] : []);
  return el("section", { class: "variants" }, el("h3", {}, "Variants side by side"),
    el("table", { class: "variants" }, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map(({ first, by }) => el("tr", {},
        el("td", {}, `${architectureText(first.architecture)}/${first.dataset}`), el("td", {}, first.pruner), el("td", {}, first.mode || "–"),
        el("td", { class: "numeric" }, first.target === undefined ? "–" : significant(first.target)),
        variants.flatMap((v) => [el("td", { class: "numeric" }, accuracy(by[v])), el("td", { class: "numeric" }, effective(by[v]))]),
        pair ? el("td", { class: "numeric" }, difference(by[variants[0]], by[variants[1]])) : null)))));
}

// One method's figures (plot.svg?pruner=…): its lines against direct and effective compression,
// with the dense reference; chosen in the select, kept in the URL (?method=…).
function methodSection(id, groups, params, plots) {
  const pruners = [...new Set(groups.map((g) => g.pruner).filter((p) => p !== "dense"))].sort();
  if (pruners.length < 2) return el("div", { class: "per-method-none" });
  const chosen = params.get("method");
  const select = el("select", { id: "method-select", "aria-label": "method" }, el("option", { value: "" }, "choose a method…"),
    pruners.map((p) => el("option", Object.assign({ value: p }, p === chosen ? { selected: "" } : {}), p)));
  select.addEventListener("change", () => {
    const next = new URLSearchParams(params);
    if (select.value) next.set("method", select.value); else next.delete("method");
    location.hash = `#/sweeps/${id}?${next}`;
  });
  const figures = chosen && plots ? ["direct", "effective"].map((axis) => el("figure", { class: "plot", "data-axis": axis, "data-method": chosen },
    serverPlot(plots[axis], `${axis}-method`), el("figcaption", {}, `${chosen}: test accuracy against ${axis} compression.`))) : [];
  return el("section", { class: "per-method" }, el("h3", {}, "One method "), el("p", {}, select), figures.length ? el("div", { class: "plots" }, figures) : null);
}

function methodPlotPath(id, axis, pruner) { return `sweeps/${id}/plot.svg?x=${axis}&pruner=${encodeURIComponent(pruner)}`; }

// The runs in progress (at most 16), with their progress and latest metrics: a few small requests
// whatever the sweep's size.
async function activeRuns(id) {
  if (REPORT) return [];
  const lists = await Promise.all([STATUS.running, STATUS.leased].map((status) => api(`runs?sweep=${id}&status=${status}&limit=16`)));
  const rows = lists.flatMap((list) => list.runs).slice(0, 16);
  // A run that finished or vanished between the requests shows its row without details.
  return Promise.all(rows.map(async (row) => {
    try {
      const [run, latest] = await Promise.all([api(`runs/${row.key}`), api(`runs/${row.key}/metrics?latest=true`)]);
      return { row, run: { status: run.status, worker: run.worker, step: run.step, total_steps: run.total_steps }, metrics: latest.metrics };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return { row, run: { status: row.status }, metrics: [] };
    }
  }));
}

function activeRunsSection(active, queued) {
  if (!active.length && !queued) return null;
  const latest = (metrics, name) => {
    const found = metrics.find((m) => m.name === name);
    return found ? found.value : null;
  };
  const table = el("table", { class: "active" },
    el("thead", {}, el("tr", {}, ["run", "pruner", "mode", "target", "seed", "worker", "progress", "train loss", "test acc."].map((h) => el("th", {}, h)))),
    el("tbody", {}, active.map(({ row, run, metrics }) => el("tr", { "data-key": row.key },
      el("td", {}, link(`#/runs/${row.key}`, shortKey(row.key))), el("td", {}, row.pruner), el("td", {}, row.mode || "–"),
      el("td", {}, significant(row.target_compression)), el("td", {}, row.seed), el("td", {}, run.worker || "–"),
      el("td", {}, run.total_steps ? progressBar(run.step || 0, run.total_steps, `${formatCount(run.step || 0)}/${formatCount(run.total_steps)}`) : statusBadge(run.status)),
      el("td", { class: "numeric" }, formatNumber(latest(metrics, "train_loss"))),
      el("td", { class: "numeric" }, formatPercent(latest(metrics, "test_accuracy")))))));
  return el("section", { class: "active-runs" }, el("h3", {}, "In progress"), active.length ? table : null,
    queued ? el("p", {}, `${queued} queued`) : null);
}

// The sweep view. A poll reads the sweep (its counts and change cursor) and the runs in
// progress; the plots, the summary and the table's page are read again only when the cursor
// moved, and a section's DOM is replaced only when what it shows changed. So a poll's work is
// bounded by a page of rows and the sweep's cells, not by its runs.
async function showSweep(generation, id, params, last = null) {
  let sweep, data, active;
  try {
    sweep = await api(`sweeps/${id}`);
    if (last && last.changes === sweep.changes && !REPORT) {
      data = last.data;
    } else {
      const method = params.get("method");
      const [table, { groups }, direct, effective, methodDirect, methodEffective] = await Promise.all([resultsPage(id, params),
        api(`sweeps/${id}/summary`), apiText(`sweeps/${id}/plot.svg?x=direct`), apiText(`sweeps/${id}/plot.svg?x=effective`),
        method ? apiText(methodPlotPath(id, "direct", method)) : null, method ? apiText(methodPlotPath(id, "effective", method)) : null]);
      data = { table, groups, plots: { direct, effective }, methodPlots: method ? { direct: methodDirect, effective: methodEffective } : null };
    }
    active = await activeRuns(id);
  } catch (error) { return showFailure("sweep", error); }
  if (generation !== navigation) return;
  document.title = `prunelab: sweep ${id} ${sweep.name}`;
  const done = FINISHED.reduce((n, s) => n + (sweep.counts[s] || 0), 0);
  const models = [...new Set(data.groups.map((g) => `${architectureText(g.architecture)} on ${g.dataset}`))];
  const csv = fileLink(`sweeps/${id}/results?format=csv`);
  const varies = (key) => new Set(data.groups.map((g) => g[key] || "")).size > 1;
  const plot = (axis) => {
    const file = fileLink(`sweeps/${id}/plot.svg?x=${axis}`);
    return el("figure", { class: "plot", "data-axis": axis }, serverPlot(data.plots[axis], axis),
      el("figcaption", {}, `Test accuracy against ${axis} compression. `, file ? apiFileLink(file, "SVG file", `sweep-${id}-${axis}.svg`) : null));
  };
  // Each section with what it shows: rebuilt only when that changed.
  const sections = [
    ["crumbs", "", () => el("p", { class: "crumbs" }, REPORT && REPORT.single ? null : link("#/", "all sweeps"))],
    ["title", `${sweep.name}|${sweep.status}`, () => el("h2", {}, `Sweep #${id}: ${sweep.name} `, statusBadge(sweep.status))],
    ["counts", JSON.stringify([sweep.counts, models]), () => el("p", { class: "summary-line" }, progressBar(done, sweep.runs), " ",
      countsText(sweep.counts), models.length ? ` — ${models.join(", ")}` : "")],
    ["plots", data.plots.direct + data.plots.effective, () => el("section", { class: "plots" }, plot("direct"), plot("effective"))],
    ["active", JSON.stringify(active), () => activeRunsSection(active, sweep.counts.queued || 0) || el("div", { class: "active-runs-none" })],
    ["method", JSON.stringify([params.get("method"), data.methodPlots]), () => methodSection(id, data.groups, params, data.methodPlots)],
    ["variants", JSON.stringify(data.groups), () => variantTable(data.groups) || el("div", { class: "variants-none" })],
    ["summary", JSON.stringify(data.groups), () => el("section", {}, el("h3", {}, "Mean over seeds"), summaryTable(data.groups))],
    ["runs", JSON.stringify(data.table), () => el("section", {}, el("h3", {}, "Runs ", csv ? el("small", {}, apiFileLink(csv, "download CSV", `sweep-${id}.csv`)) : null),
      el("p", { class: "hint" }, "Click a column to sort; a run's key opens its curves and layers."), resultsTable(id, data.table, params, varies))],
  ];
  const previous = last ? last.nodes : {};
  const nodes = {};
  for (const [name, shows, build] of sections) {
    const kept = previous[name];
    nodes[name] = kept && kept.shows === shows && kept.node.isConnected ? kept : { shows, node: build() };
  }
  if (!last) {
    main().replaceChildren(...sections.map(([name]) => nodes[name].node));
  } else {
    for (const [name] of sections) if (nodes[name] !== previous[name]) previous[name].node.replaceWith(nodes[name].node);
  }
  document.body.dataset.redrawn = sections.filter(([name]) => !last || nodes[name] !== previous[name]).map(([name]) => name).join(" ");
  setState("sweep", "ready");
  if (sweep.status === STATUS.active) {
    schedulePoll(generation, () => showSweep(generation, id, params, { changes: sweep.changes, data, nodes }));
  }
}

function definitionList(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

// The config, folded; left open across a live view's redraws once opened.
let configOpen = false;
function configDetails(config) {
  const details = el("details", { open: configOpen }, el("summary", {}, "config"), el("pre", {}, JSON.stringify(config, null, 2)));
  details.addEventListener("toggle", () => { configOpen = details.open; });
  return details;
}

async function showRun(generation, key) {
  let run, metrics;
  try {
    [run, { metrics }] = await Promise.all([api(`runs/${key}`), api(`runs/${key}/metrics`)]);
  } catch (error) { return showFailure("run", error); }
  if (generation !== navigation) return;
  const config = run.config || {};
  document.title = `prunelab: run ${shortKey(key)}`;
  const progress = run.total_steps ? progressBar(run.step || 0, run.total_steps, `${formatCount(run.step || 0)}/${formatCount(run.total_steps)} steps`) : null;
  const layers = run.layers || [];
  const masks = (kind) => (run.status === STATUS.succeeded ? fileLink(`runs/${key}/masks.npz?kind=${kind}`) : null);
  const layerTable = el("table", { class: "layers" },
    el("thead", {}, el("tr", {}, ["layer", "shape", "size", "kept", "density", "effective", "eff. density", "quota"].map((h) => el("th", {}, h)))),
    el("tbody", {}, layers.map((l) => el("tr", { "data-layer": l.name },
      el("td", {}, l.name), el("td", {}, (l.shape || []).join("×")), el("td", { class: "numeric" }, formatCount(l.size)),
      el("td", { class: "numeric" }, formatCount(l.kept)), el("td", { class: "numeric" }, formatPercent(l.kept / l.size)),
      el("td", { class: "numeric" }, formatCount(l.effective)), el("td", { class: "numeric" }, formatPercent(l.effective / l.size)),
      el("td", { class: "numeric" }, l.quota === undefined ? "–" : formatPercent(l.quota))))));
  main().replaceChildren(...[
    el("p", { class: "crumbs" }, REPORT && REPORT.single ? link("#/", "sweep") : link("#/", "all sweeps")),
    el("h2", {}, `Run ${shortKey(key)} `, statusBadge(run.status)),
    el("p", { class: "key" }, el("code", {}, key)),
    definitionList([
      ["model", `${config.architecture} on ${config.dataset}`], ["pruner", config.pruner], ["mode", config.mode],
      ["target compression", config.compression === undefined ? null : significant(config.compression)], ["seed", config.seed],
      ["shuffle", config.shuffle ? "yes" : null], ["progress", progress], ["attempts", `${run.attempts} of ${run.max_attempts ?? "?"}`],
      ["worker", run.worker], ["created", run.created_at], ["started", run.started_at], ["finished", run.finished_at],
      ["parents", run.parents && run.parents.length ? run.parents.map((p) => link(`#/runs/${p}`, shortKey(p))) : null],
      ["error", run.error ? el("pre", { class: "error-text" }, run.error) : null],
    ]),
    el("h3", {}, "Final figures"),
    definitionList([
      ["test accuracy", run.test_accuracy === undefined ? null : formatPercent(run.test_accuracy)],
      ["test loss", run.test_loss === undefined ? null : formatNumber(run.test_loss)],
      ["prunable weights", run.total === undefined ? null : formatCount(run.total)],
      ["kept (direct)", run.kept === undefined ? null : formatCount(run.kept)],
      ["effective", run.effective === undefined ? null : formatCount(run.effective)],
      ["direct compression", run.direct_compression === undefined ? (run.status === STATUS.succeeded ? "∞" : null) : significant(run.direct_compression)],
      ["effective compression", run.effective_compression === undefined ? (run.status === STATUS.succeeded ? "∞" : null) : significant(run.effective_compression)],
      ["wall time", run.wall_seconds === undefined ? null : `${formatNumber(run.wall_seconds, 3)} s`],
      ["throughput", run.images_per_second === undefined ? null : `${formatCount(Math.round(run.images_per_second))} images/s`],
      ["masks", masks("direct") ? [apiFileLink(masks("direct"), "direct.npz", `${shortKey(key)}-direct.npz`), " ",
        apiFileLink(masks("effective"), "effective.npz", `${shortKey(key)}-effective.npz`)] : null],
    ]),
    el("section", { class: "plots" },
      el("figure", {}, curvesChart(metrics, ["train_loss", "test_loss"], "loss", "cross-entropy", false)),
      el("figure", {}, curvesChart(metrics, ["train_accuracy", "test_accuracy"], "accuracy", "accuracy (%)", true))),
    el("h3", {}, "Layers"),
    layers.length ? el("div", { class: "scroll" }, layersChart(layers)) : el("p", { class: "empty" }, "The per-layer table arrives when the run succeeds."),
    layers.length ? layerTable : null,
    configDetails(config),
  ].filter(Boolean));
  setState("run", "ready");
  if (UNFINISHED.includes(run.status)) schedulePoll(generation, () => showRun(generation, key));
}

// Connectivity curves (GET curves, stored by `prunelab curves --db`): per architecture the figure
// (curves/plot.svg) and, per pruner, where it first keeps an ineffective weight and where every
// seed is fully disconnected.
async function showCurves(generation) {
  let curves;
  try { ({ curves } = await api("curves")); } catch (error) { return showFailure("curves", error); }
  const architectures = [...new Set(curves.map((c) => c.architecture))];
  let plots;
  try {
    plots = await Promise.all(architectures.map((a) => apiText(`curves/plot.svg?architecture=${encodeURIComponent(a)}`)));
  } catch (error) { return showFailure("curves", error); }
  if (generation !== navigation) return;
  document.title = "prunelab: connectivity curves";
  const at = (value) => (value === undefined ? "–" : `${significant(value)}×`);
  const csv = fileLink("curves?format=csv");
  const sections = architectures.map((architecture, index) => el("section", { class: "curves", "data-architecture": architecture },
    el("h3", {}, architectureText(architecture)),
    el("figure", { class: "plot" }, serverPlot(plots[index], `curves-${architecture}`),
      el("figcaption", {}, "Effective against direct compression, pruned at initialisation, no training.")),
    el("table", { class: "curves" }, el("thead", {}, el("tr", {}, ["pruner", "data", "rounds", "targets", "first ineffective weight at",
      "some seed fully disconnected at", "every seed fully disconnected at"].map((h) => el("th", {}, h)))),
    el("tbody", {}, curves.filter((c) => c.architecture === architecture).map((c) => el("tr", {},
      el("td", {}, c.pruner), el("td", {}, c.dataset || "–"), el("td", { class: "numeric" }, c.rounds),
      el("td", {}, `${significant(c.points[0].target)}× … ${significant(c.points[c.points.length - 1].target)}×`),
      el("td", { class: "numeric" }, at(c.first_loss)), el("td", { class: "numeric" }, at(c.first_disconnection)),
      el("td", { class: "numeric" }, at(c.full_disconnection))))))));
  main().replaceChildren(el("p", { class: "crumbs" }, link("#/", "all sweeps")), el("h2", {}, "Connectivity curves ",
    csv ? el("small", {}, apiFileLink(csv, "download CSV", "curves.csv")) : null),
    ...(sections.length ? sections : [el("p", { class: "empty" }, "No curves stored yet: `prunelab curves --db DATABASE` computes them.")]));
  setState("curves", "ready");
}

// ---------------------------------------------------------------------------------------------
// Routing by URL hash: #/ (sweeps), #/sweeps/ID[?sort=COLUMN&dir=asc|desc&method=PRUNER], #/runs/KEY, #/curves.
async function route() {
  navigation += 1;
  clearTimeout(pollTimer);
  const generation = navigation;
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query || "");
  document.body.dataset.state = "loading";
  delete document.body.dataset.refreshes;
  if (REPORT && REPORT.single && parts.length === 0) return showSweep(generation, REPORT.single, params);
  if (parts.length === 0 || (parts[0] === "sweeps" && parts.length === 1)) return showSweeps(generation);
  if (parts[0] === "sweeps" && /^\d+$/.test(parts[1] || "")) return showSweep(generation, Number(parts[1]), params);
  if (parts[0] === "runs" && parts[1]) return showRun(generation, parts[1]);
  if (parts[0] === "curves" && parts.length === 1) return showCurves(generation);
  main().replaceChildren(el("p", { class: "failure" }, `No such page: ${location.hash}`), el("p", {}, link("#/", "all sweeps")));
  setState("unknown", "failed");
}

// Failures inside a view are recorded (and shown) at once rather than left to unhandledrejection.
function navigate() {
  route().catch((error) => {
    recordError(error && error.stack ? error.stack : error);
    document.body.dataset.state = "failed";
  });
}
window.addEventListener("hashchange", navigate);
navigate();
