"use strict";
// prunelab's results page: sweeps, runs and the paper's plots, drawn as inline SVG from the
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

async function api(path) {
  if (REPORT) {
    const runFile = REPORT.runFiles && REPORT.runFiles[path.split("/").slice(0, 2).join("/")];
    if (!(path in REPORT.data) && runFile) await loadReportScript(runFile);
    if (!(path in REPORT.data)) throw new ApiError(404, `not part of this report: ${path}`);
    return REPORT.data[path];
  }
  const reply = await fetch("api/v1/" + path, { cache: "no-store" });
  if (!reply.ok) {
    let body = {};
    try { body = await reply.json(); } catch (_) { /* not JSON */ }
    throw new ApiError(reply.status, body.error || reply.statusText, body.field);
  }
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

// ---------------------------------------------------------------------------------------------
// DOM helpers.
const SVG = "http://www.w3.org/2000/svg";
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attributes);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}
function svgEl(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  setAttributes(node, attributes);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}
function setAttributes(node, attributes) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "onclick") node.addEventListener("click", value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}
function link(href, text) { return el("a", { href }, text); }

const ACTIVE = ["queued", "leased", "running"];
const FINISHED = ["succeeded", "failed", "cancelled"];
const STATUSES = ["running", "leased", "queued", "succeeded", "failed", "cancelled"];

function formatPercent(value, digits = 2) { return value === null || value === undefined ? "–" : (value * 100).toFixed(digits) + "%"; }
function significant(value) {
  if (value === null || value === undefined || !isFinite(value)) return "–";
  if (value >= 100) return String(Math.round(value));
  return String(Number(value.toFixed(value >= 10 ? 1 : 2)));
}
function formatCount(value) { return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US"); }
function formatNumber(value, digits = 4) { return value === null || value === undefined ? "–" : String(Number(value.toPrecision(digits))); }
function shortKey(key) { return key.slice(0, 10); }
function statusBadge(status) { return el("span", { class: `status status-${status}` }, status); }

function progressBar(done, total, label) {
  return el("span", { class: "progress" },
    el("progress", { max: Math.max(total, 1), value: Math.min(done, total) }),
    el("span", { class: "progress-label" }, label !== undefined ? label : `${done}/${total}`));
}

function countsText(counts) {
  return STATUSES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(" · ") || "no runs";
}

// ---------------------------------------------------------------------------------------------
// Charts. Colours: Tableau 10, assigned to pruners sorted by name (as PlotSVG.swift does).
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹";

function logTicks(low, high) {
  low = Math.max(low, 1e-9); high = Math.max(high, low);
  if (high / low < 2) { low /= 1.5; high *= 1.5; }
  const first = Math.floor(Math.log10(low)), last = Math.ceil(Math.log10(high));
  const steps = last - first >= 3 ? [1] : [1, 2, 5];
  const ticks = [];
  for (let decade = first; decade <= last; decade++) for (const step of steps) ticks.push(step * Math.pow(10, decade));
  const below = [...ticks].reverse().find((t) => t <= low * (1 + 1e-9)) ?? ticks[0];
  const above = ticks.find((t) => t >= high * (1 - 1e-9)) ?? ticks[ticks.length - 1];
  return ticks.filter((t) => t >= below && t <= above);
}

// About five "nice" (1-2-5) intervals covering [low, high].
function niceTicks(low, high, minimumRange = 1e-9) {
  if (!(high - low >= minimumRange)) { const mid = (low + high) / 2; low = mid - minimumRange / 2; high = mid + minimumRange / 2; }
  const raw = (high - low) / 5, magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const first = Math.floor(low / step + 1e-9) * step, last = Math.ceil(high / step - 1e-9) * step;
  const ticks = [];
  for (let t = first; t <= last + step / 2; t += step) ticks.push(Math.round(t / step) * step);
  return ticks;
}

function logTickLabel(value) {
  if (value >= 1e4) {
    const exponent = Math.round(Math.log10(value));
    if (Math.abs(Math.pow(10, exponent) - value) < 1e-6 * value) return "10" + [...String(exponent)].map((d) => SUPERSCRIPTS[d]).join("");
  }
  return significant(value);
}

function marker(shape, x, y, colour, hollow, tip, attributes) {
  const paint = { fill: hollow ? "#fff" : colour, stroke: colour, "stroke-width": 1.5, ...(attributes || {}) };
  const title = tip ? svgEl("title", {}, tip) : null;
  const r = 3.5;
  switch (shape % 4) {
    case 1: return svgEl("rect", { class: "point", x: x - r, y: y - r, width: 2 * r, height: 2 * r, ...paint }, title);
    case 2: return svgEl("polygon", { class: "point", points: `${x},${y - r - 1} ${x + r + 1},${y + r} ${x - r - 1},${y + r}`, ...paint }, title);
    case 3: return svgEl("polygon", { class: "point", points: `${x},${y - r - 1} ${x + r + 1},${y} ${x},${y + r + 1} ${x - r - 1},${y}`, ...paint }, title);
    default: return svgEl("circle", { class: "point", cx: x, cy: y, r, ...paint }, title);
  }
}

// A line chart: spec = {width, height, xLog, xLabel, yLabel, yTicks, xTicks, xFormat, yFormat,
// series: [{label, colour, dashed, hollow, shape, data, points: [{x, y, low, high, tip}]}],
// references: [{y, label}], note, attributes, id}. Legend entries toggle their series; what is
// hidden stays hidden when a live view redraws (remembered by chart id and label).
const hiddenSeries = new Set();
function lineChart(spec) {
  const width = spec.width || 820, height = spec.height || 440;
  const left = 64, right = width - (spec.legendWidth ?? 260), top = 36, bottom = height - 56;
  const xTicks = spec.xTicks, yTicks = spec.yTicks;
  const tx = spec.xLog ? Math.log : (v) => v;
  const x0 = tx(xTicks[0]), x1 = tx(xTicks[xTicks.length - 1]), y0 = yTicks[0], y1 = yTicks[yTicks.length - 1];
  const px = (x) => left + ((tx(x) - x0) / (x1 - x0 || 1)) * (right - left);
  const py = (y) => bottom - ((y - y0) / (y1 - y0 || 1)) * (bottom - top);
  const r1 = (v) => Math.round(v * 10) / 10;

  const svg = svgEl("svg", { xmlns: SVG, width, height, viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "font-family": "DejaVu Sans, Helvetica, Arial, sans-serif", "font-size": 12, ...(spec.attributes || {}) });
  svg.append(svgEl("title", {}, spec.title || ""), svgEl("rect", { width: "100%", height: "100%", fill: "#fff" }));
  if (spec.title) svg.append(svgEl("text", { x: left, y: 20, "font-size": 14, "font-weight": "bold" }, spec.title));
  const grid = svgEl("g", { class: "grid", stroke: "#e5e5e5" });
  for (const t of xTicks) grid.append(svgEl("line", { x1: r1(px(t)), x2: r1(px(t)), y1: top, y2: bottom }));
  for (const t of yTicks) grid.append(svgEl("line", { x1: left, x2: right, y1: r1(py(t)), y2: r1(py(t)) }));
  const axes = svgEl("g", { class: "axes", stroke: "#333" },
    svgEl("line", { x1: left, x2: right, y1: bottom, y2: bottom }), svgEl("line", { x1: left, x2: left, y1: top, y2: bottom }));
  const ticks = svgEl("g", { class: "ticks", fill: "#333" });
  for (const t of xTicks) ticks.append(svgEl("text", { class: "x-tick", x: r1(px(t)), y: bottom + 16, "text-anchor": "middle" }, spec.xFormat(t)));
  for (const t of yTicks) ticks.append(svgEl("text", { class: "y-tick", x: left - 6, y: r1(py(t) + 4), "text-anchor": "end" }, spec.yFormat(t)));
  svg.append(grid, axes, ticks,
    svgEl("text", { class: "axis-label x", x: (left + right) / 2, y: bottom + 38, "text-anchor": "middle" }, spec.xLabel),
    svgEl("text", { class: "axis-label y", transform: `translate(16 ${(top + bottom) / 2}) rotate(-90)`, "text-anchor": "middle" }, spec.yLabel));
  if (!spec.series.length && !(spec.references || []).length) {
    svg.append(svgEl("text", { class: "empty", x: (left + right) / 2, y: (top + bottom) / 2, "text-anchor": "middle", fill: "#777" }, spec.empty || "no data yet"));
  }
  for (const reference of spec.references || []) {
    svg.append(svgEl("line", { class: "reference", "data-pruner": "dense", x1: left, x2: right, y1: r1(py(reference.y)), y2: r1(py(reference.y)),
      stroke: "#555", "stroke-dasharray": "2 3" }, svgEl("title", {}, reference.label)));
  }
  const groups = [];
  for (const series of spec.series) {
    const group = svgEl("g", { class: "series-group" });
    const clampY = (y) => Math.min(y1, Math.max(y0, y));
    if (series.points.length > 1 && series.points.some((p) => p.high !== undefined && p.high > p.low)) {
      const upper = series.points.map((p) => `${r1(px(p.x))},${r1(py(clampY(p.high)))}`);
      const lower = series.points.slice().reverse().map((p) => `${r1(px(p.x))},${r1(py(clampY(p.low)))}`);
      group.append(svgEl("path", { class: "band", ...series.data, d: "M" + upper.concat(lower).join("L") + "Z", fill: series.colour, "fill-opacity": 0.15, stroke: "none" }));
    }
    group.append(svgEl("path", { class: "series", ...series.data, d: "M" + series.points.map((p) => `${r1(px(p.x))},${r1(py(p.y))}`).join("L"),
      fill: "none", stroke: series.colour, "stroke-width": 2, "stroke-dasharray": series.dashed ? "6 4" : null }));
    if (series.markers !== false) {
      for (const p of series.points) group.append(marker(series.shape || 0, r1(px(p.x)), r1(py(p.y)), series.colour, series.hollow, p.tip));
    }
    if (hiddenSeries.has(`${spec.id}|${series.label}`)) group.classList.add("muted");
    groups.push(group);
    svg.append(group);
  }
  const legend = svgEl("g", { class: "legend", "font-size": 11 });
  let y = top + 6;
  spec.series.forEach((series, index) => {
    const entry = svgEl("g", { class: "legend-entry", ...series.data, cursor: "pointer" },
      svgEl("title", {}, "click to hide or show"),
      svgEl("line", { x1: right + 16, x2: right + 44, y1: y, y2: y, stroke: series.colour, "stroke-width": 2, "stroke-dasharray": series.dashed ? "6 4" : null }),
      series.markers !== false ? marker(series.shape || 0, right + 30, y, series.colour, series.hollow) : null,
      svgEl("text", { x: right + 50, y: y + 4 }, series.label));
    const remembered = `${spec.id}|${series.label}`;
    if (hiddenSeries.has(remembered)) entry.classList.add("off");
    entry.addEventListener("click", () => {
      const hidden = groups[index].classList.toggle("muted");
      entry.classList.toggle("off", hidden);
      if (hidden) hiddenSeries.add(remembered); else hiddenSeries.delete(remembered);
    });
    legend.append(entry);
    y += 18;
  });
  for (const reference of spec.references || []) {
    legend.append(svgEl("g", { class: "legend-entry", "data-pruner": "dense" },
      svgEl("line", { x1: right + 16, x2: right + 44, y1: y, y2: y, stroke: "#555", "stroke-dasharray": "2 3" }),
      svgEl("text", { x: right + 50, y: y + 4 }, reference.label)));
    y += 18;
  }
  svg.append(legend);
  if (spec.note) svg.append(svgEl("text", { class: "note", x: left, y: height - 6, "font-size": 10, fill: "#666" }, spec.note));
  return svg;
}

// The sweep's succeeded runs aggregated like AccuracyPlot.series in PlotSVG.swift: one series per
// architecture/dataset × pruner × mode × variant (other config fields the sweep varies, e.g.
// shuffle), one point per target compression, mean ± s.d. over seeds.
function accuracySeries(rows, axis) {
  const field = axis === "direct" ? "direct_compression" : "effective_compression";
  const groups = new Map();
  let omitted = 0;
  for (const row of rows) {
    if (row.status !== "succeeded" || typeof row.test_accuracy !== "number") continue;
    const x = row[field];
    if (typeof x !== "number" || !(x > 0) || !isFinite(x)) { omitted++; continue; }
    const key = JSON.stringify([row.architecture, row.dataset, row.pruner, row.mode || "", row.variant || ""]);
    if (!groups.has(key)) groups.set(key, new Map());
    const target = row.target_compression ?? (row.pruner === "dense" ? 1 : x);
    const points = groups.get(key);
    if (!points.has(target)) points.set(target, []);
    points.get(target).push({ x, accuracy: row.test_accuracy });
  }
  const series = [], dense = [];
  const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  for (const key of [...groups.keys()].sort((a, b) => {
    const [p, q] = [JSON.parse(a), JSON.parse(b)];
    for (let i = 0; i < 5; i++) if (p[i] !== q[i]) return compare(p[i], q[i]);
    return 0;
  })) {
    const [architecture, dataset, pruner, mode, variant] = JSON.parse(key);
    const points = [...groups.get(key)].map(([target, runs]) => {
      const n = runs.length, mean = runs.reduce((s, r) => s + r.accuracy, 0) / n;
      const variance = n > 1 ? runs.reduce((s, r) => s + (r.accuracy - mean) ** 2, 0) / (n - 1) : 0;
      const centre = Math.exp(runs.reduce((s, r) => s + Math.log(r.x), 0) / n);
      return { target: pruner === "dense" ? null : target, compression: centre, accuracy: mean, spread: Math.sqrt(variance), seeds: n };
    }).sort((a, b) => a.compression - b.compression);
    (pruner === "dense" ? dense : series).push({ architecture, dataset, pruner, mode: mode || null, variant, points });
  }
  return { series, dense, omitted };
}

function accuracyPlot(rows, axis, title) {
  const { series, dense, omitted } = accuracySeries(rows, axis);
  const pruners = [...new Set(series.map((s) => s.pruner))].sort();
  const colour = (pruner) => PALETTE[Math.max(0, pruners.indexOf(pruner)) % PALETTE.length];
  const models = [...new Set(series.concat(dense).map((s) => `${s.architecture}/${s.dataset}`))].sort();
  const shapes = [...new Set(series.map((s) => `${s.architecture}/${s.dataset}|${s.variant}`))].sort();
  const model = (s) => Math.max(0, shapes.indexOf(`${s.architecture}/${s.dataset}|${s.variant}`));
  const label = (s) => {
    let name = s.pruner === "dense" ? "dense" : `${s.pruner} · ${s.mode || "direct"}`;
    if (s.variant) name += ` [${s.variant}]`;
    return models.length > 1 ? `${s.architecture}/${s.dataset} ${name}` : name;
  };
  const xs = series.flatMap((s) => s.points.map((p) => p.compression));
  const ys = series.concat(dense).flatMap((s) => s.points.flatMap((p) => [p.accuracy - p.spread, p.accuracy + p.spread]));
  // Margins keep points off the axes (as in PlotSVG.swift): ×1.15 on the log axis, 5 % of the range on the other.
  const yLow = ys.length ? Math.min(...ys) : 0, yHigh = ys.length ? Math.max(...ys) : 1, yPad = (yHigh - yLow) * 0.05;
  const yTicks = ys.length ? niceTicks(Math.max(0, yLow - yPad), Math.min(1, yHigh + yPad), 0.02) : niceTicks(0, 1);
  const yDigits = yTicks.length > 1 && yTicks[1] - yTicks[0] < 0.0099 ? 1 : 0;
  const notes = ["mean over seeds, band ± 1 s.d.; solid: direct mode, dashed: effective mode"];
  if (omitted) notes.push(`${omitted} finished run${omitted === 1 ? "" : "s"} with infinite ${axis} compression not shown`);
  return lineChart({
    title, xLog: true, xLabel: `${axis} compression (log scale)`, yLabel: "test accuracy (%)",
    xTicks: logTicks((xs.length ? Math.min(...xs) : 1.15) / 1.15, (xs.length ? Math.max(...xs) : 87) * 1.15), yTicks,
    xFormat: logTickLabel, yFormat: (t) => (t * 100).toFixed(yDigits), empty: "no finished runs yet",
    attributes: { "data-plot": axis }, id: `plot-${axis}`,
    series: series.map((s) => ({
      label: label(s), colour: colour(s.pruner), dashed: s.mode === "effective", hollow: s.mode === "effective", shape: model(s),
      data: { "data-pruner": s.pruner, "data-mode": s.mode || "", "data-architecture": s.architecture, "data-variant": s.variant },
      points: s.points.map((p) => ({
        x: p.compression, y: p.accuracy, low: p.accuracy - p.spread, high: p.accuracy + p.spread,
        tip: `${label(s)}: target ${p.target === null ? "–" : logTickLabel(p.target)}, ${axis} compression ${significant(p.compression)}, `
          + `accuracy ${formatPercent(p.accuracy)}` + (p.seeds > 1 ? ` ± ${(p.spread * 100).toFixed(2)} (${p.seeds} seeds)` : " (1 seed)"),
      })),
    })),
    references: dense.map((s) => ({ y: s.points.reduce((a, p) => a + p.accuracy, 0) / s.points.length, label: label(s) })),
    note: notes.join("; "),
  });
}

// Training curves of one run: metrics named in `names`, one series per name (and phase when
// lottery-ticket rounds make several).
function curvesChart(metrics, names, title, yLabel, percent) {
  const phases = [...new Set(metrics.map((m) => m.phase))].sort((a, b) => a - b);
  const series = [];
  names.forEach((name, index) => {
    for (const phase of phases) {
      const points = metrics.filter((m) => m.name === name && m.phase === phase).sort((a, b) => a.step - b.step)
        .map((m) => ({ x: m.step, y: m.value, tip: `${name}${phases.length > 1 ? ` (round ${phase})` : ""} at step ${m.step}: ${percent ? formatPercent(m.value) : formatNumber(m.value)}` }));
      if (!points.length) continue;
      series.push({ label: name.replace("_", " ") + (phases.length > 1 ? ` (round ${phase})` : ""), colour: PALETTE[index % PALETTE.length],
        dashed: name.startsWith("train"), markers: points.length <= 60, shape: 0, data: { "data-metric": name, "data-phase": phase }, points });
    }
  });
  const xs = series.flatMap((s) => s.points.map((p) => p.x)), ys = series.flatMap((s) => s.points.map((p) => p.y));
  const yTicks = niceTicks(percent ? Math.max(0, Math.min(...ys)) : Math.min(0, ...ys), percent ? Math.min(1, Math.max(...ys)) : Math.max(...ys), percent ? 0.02 : 0.1);
  const xTicks = niceTicks(0, xs.length ? Math.max(...xs) : 1, 1);
  return lineChart({ title, xLog: false, xLabel: "training step", yLabel, xTicks, yTicks: ys.length ? yTicks : niceTicks(0, 1),
    xFormat: (t) => formatCount(t), yFormat: percent ? (t) => (t * 100).toFixed(0) : (t) => formatNumber(t, 3), series,
    empty: "no metrics yet", width: 620, height: 340, legendWidth: 150, attributes: { "data-curves": names.join(",") }, id: names.join(",") });
}

// Per-layer weights on a log axis: size, kept (direct) and effective, three bars per layer.
function layersChart(layers) {
  const kinds = [["size", "size", "#bab0ac"], ["kept", "kept (direct)", "#4e79a7"], ["effective", "kept (effective)", "#f28e2b"]];
  const left = 70, top = 40, bottom = 290, height = 360;
  const width = Math.max(620, left + layers.length * 50 + 20);
  const band = Math.min(120, (width - left - 20) / Math.max(1, layers.length));
  const maximum = Math.max(10, ...layers.map((l) => l.size));
  const top10 = Math.ceil(Math.log10(maximum));
  const py = (v) => (v < 1 ? bottom : bottom - (Math.log10(v) / top10) * (bottom - top));
  const svg = svgEl("svg", { xmlns: SVG, width, height, viewBox: `0 0 ${width} ${height}`, class: "chart", "data-chart": "layers",
    "font-family": "DejaVu Sans, Helvetica, Arial, sans-serif", "font-size": 12 });
  svg.append(svgEl("rect", { width: "100%", height: "100%", fill: "#fff" }));
  const grid = svgEl("g", { class: "grid", stroke: "#e5e5e5" }), ticks = svgEl("g", { class: "ticks", fill: "#333" });
  for (let e = 0; e <= top10; e++) {
    grid.append(svgEl("line", { x1: left, x2: width - 10, y1: py(10 ** e), y2: py(10 ** e) }));
    ticks.append(svgEl("text", { x: left - 6, y: py(10 ** e) + 4, "text-anchor": "end" }, logTickLabel(10 ** e)));
  }
  svg.append(grid, ticks, svgEl("line", { x1: left, x2: width - 10, y1: bottom, y2: bottom, stroke: "#333" }),
    svgEl("text", { class: "axis-label y", transform: `translate(16 ${(top + bottom) / 2}) rotate(-90)`, "text-anchor": "middle" }, "weights (log scale)"));
  layers.forEach((layer, i) => {
    const x = left + 10 + i * band + (band - 50) / 2;
    kinds.forEach(([field, name, colour], k) => {
      const value = layer[field];
      const share = field === "size" ? "" : ` (${formatPercent(value / layer.size)} of ${formatCount(layer.size)})`;
      svg.append(svgEl("rect", { class: `bar bar-${field}`, "data-layer": layer.name, x: x + k * 12, y: py(value), width: 11,
        height: Math.max(0, bottom - py(value)), fill: colour }, svgEl("title", {}, `${layer.name} ${name}: ${formatCount(value)}${share}`)));
    });
    svg.append(svgEl("text", { x: x + 18, y: bottom + 14, "text-anchor": "end", transform: `rotate(-40 ${x + 18} ${bottom + 14})` }, layer.name));
  });
  kinds.forEach(([, name, colour], k) => {
    svg.append(svgEl("rect", { x: left + k * 130, y: 12, width: 12, height: 12, fill: colour }),
      svgEl("text", { x: left + k * 130 + 16, y: 22 }, name));
  });
  return svg;
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
  main().replaceChildren(el("h2", {}, "Sweeps"),
    sweeps.length ? table : el("p", { class: "empty" }, "No sweeps yet: submit one with `prunelab submit SPEC.json` or POST /api/v1/sweeps."));
  setState("sweeps", "ready");
  if (sweeps.some((s) => s.status === "active" && ACTIVE.some((a) => s.counts[a]))) schedulePoll(generation, () => showSweeps(generation));
}

const RESULT_COLUMNS = [
  { key: "key", label: "run", render: (r) => link(`#/runs/${r.key}`, shortKey(r.key)) },
  { key: "architecture", label: "architecture", optional: true },
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
    render: (r) => (r.status === "succeeded" && r.effective_compression === undefined ? "∞" : significant(r.effective_compression)) },
  { key: "wall_seconds", label: "wall s", numeric: true, render: (r) => formatNumber(r.wall_seconds, 3) },
  { key: "error", label: "error", render: (r) => (r.error ? el("span", { class: "error-text", title: r.error }, r.error.slice(0, 60)) : "") },
];

function sortRows(rows, column, descending) {
  const spec = RESULT_COLUMNS.find((c) => c.key === column);
  if (!spec) return rows;
  const sign = descending ? -1 : 1;
  return rows.slice().sort((a, b) => {
    const [u, v] = [a[column], b[column]];
    const missingU = u === null || u === undefined, missingV = v === null || v === undefined;
    if (missingU || missingV) return missingU === missingV ? 0 : missingU ? 1 : -1; // missing values last either way
    if (spec.numeric) return sign * (u - v);
    return sign * String(u).localeCompare(String(v));
  });
}

function resultsTable(sweepID, rows, params) {
  const sort = params.get("sort"), descending = params.get("dir") === "desc";
  const columns = RESULT_COLUMNS.filter((c) => !c.optional || new Set(rows.map((r) => r[c.key])).size > 1);
  const head = el("tr", {}, columns.map((c) => {
    const next = new URLSearchParams(params);
    next.set("sort", c.key);
    next.set("dir", sort === c.key && !descending ? "desc" : "asc");
    const arrow = sort === c.key ? (descending ? " ▼" : " ▲") : "";
    return el("th", { "data-column": c.key, class: c.numeric ? "numeric" : null, "aria-sort": sort === c.key ? (descending ? "descending" : "ascending") : null },
      link(`#/sweeps/${sweepID}?${next}`, c.label + arrow));
  }));
  const body = el("tbody");
  for (const row of sortRows(rows, sort, descending)) {
    body.append(el("tr", { "data-key": row.key, "data-status": row.status },
      columns.map((c) => el("td", { class: c.numeric ? "numeric" : null }, c.render ? c.render(row) : (row[c.key] ?? "–")))));
  }
  return el("table", { class: "results", id: "results" }, el("thead", {}, head), body);
}

// Mean ± s.d. over seeds per architecture × pruner × mode × target: the numbers behind the plots.
function summaryTable(rows) {
  const groups = new Map();
  for (const row of rows) {
    if (row.status !== "succeeded") continue;
    const key = JSON.stringify([row.architecture, row.dataset, row.pruner, row.mode || "", row.variant || "", row.target_compression ?? 0]);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  const stats = (values) => {
    const v = values.filter((x) => typeof x === "number");
    if (!v.length) return null;
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
    return { mean, sd, n: v.length };
  };
  const body = el("tbody");
  for (const key of [...groups.keys()].sort()) {
    const [architecture, dataset, pruner, mode, variant, target] = JSON.parse(key);
    const group = groups.get(key);
    const accuracy = stats(group.map((r) => r.test_accuracy)), direct = stats(group.map((r) => r.direct_compression));
    const effective = stats(group.map((r) => r.effective_compression));
    body.append(el("tr", {},
      el("td", {}, `${architecture}/${dataset}`), el("td", {}, pruner), el("td", {}, mode || "–"), el("td", {}, variant || "–"),
      el("td", { class: "numeric" }, target ? significant(target) : "–"), el("td", { class: "numeric" }, group.length),
      el("td", { class: "numeric" }, accuracy ? `${formatPercent(accuracy.mean)} ± ${(accuracy.sd * 100).toFixed(2)}` : "–"),
      el("td", { class: "numeric" }, direct ? significant(direct.mean) : "–"),
      el("td", { class: "numeric" }, effective ? significant(effective.mean) + (effective.n < group.length ? ` (${group.length - effective.n} ∞)` : "") : "∞")));
  }
  return el("table", { class: "summary" },
    el("thead", {}, el("tr", {}, ["model", "pruner", "mode", "variant", "target", "seeds", "test acc. (mean ± s.d.)", "direct compr.", "effective compr."].map((h) => el("th", {}, h)))),
    body);
}

async function activeRunsSection(rows, generation) {
  const active = rows.filter((r) => r.status === "running" || r.status === "leased").slice(0, 16);
  const queued = rows.filter((r) => r.status === "queued").length;
  if (!active.length && !queued) return null;
  // A run that finished or vanished between the two requests shows its row without details.
  const details = await Promise.all(active.map(async (row) => {
    try {
      const [run, metrics] = await Promise.all([api(`runs/${row.key}`), api(`runs/${row.key}/metrics`)]);
      return { row, run, metrics: metrics.metrics };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return { row, run: { status: row.status }, metrics: [] };
    }
  }));
  if (generation !== navigation) return null;
  const latest = (metrics, name) => {
    const values = metrics.filter((m) => m.name === name);
    return values.length ? values[values.length - 1].value : null;
  };
  const table = el("table", { class: "active" },
    el("thead", {}, el("tr", {}, ["run", "pruner", "mode", "target", "seed", "worker", "progress", "train loss", "test acc."].map((h) => el("th", {}, h)))),
    el("tbody", {}, details.map(({ row, run, metrics }) => el("tr", { "data-key": row.key },
      el("td", {}, link(`#/runs/${row.key}`, shortKey(row.key))), el("td", {}, row.pruner), el("td", {}, row.mode || "–"),
      el("td", {}, significant(row.target_compression)), el("td", {}, row.seed), el("td", {}, run.worker || "–"),
      el("td", {}, run.total_steps ? progressBar(run.step || 0, run.total_steps, `${formatCount(run.step || 0)}/${formatCount(run.total_steps)}`) : statusBadge(run.status)),
      el("td", { class: "numeric" }, formatNumber(latest(metrics, "train_loss"))),
      el("td", { class: "numeric" }, formatPercent(latest(metrics, "test_accuracy")))))));
  return el("section", { class: "active-runs" }, el("h3", {}, "In progress"), active.length ? table : null,
    queued ? el("p", {}, `${queued} queued`) : null);
}

async function showSweep(generation, id, params) {
  let sweep, results;
  try {
    [sweep, { results }] = await Promise.all([api(`sweeps/${id}`), api(`sweeps/${id}/results`)]);
  } catch (error) { return showFailure("sweep", error); }
  if (generation !== navigation) return;
  const active = await activeRunsSection(results, generation);
  if (generation !== navigation) return;
  document.title = `prunelab: sweep ${id} ${sweep.name}`;
  const done = FINISHED.reduce((n, s) => n + (sweep.counts[s] || 0), 0);
  const models = [...new Set(results.map((r) => `${r.architecture} on ${r.dataset}`))];
  const csv = fileLink(`sweeps/${id}/results?format=csv`);
  const plot = (axis) => {
    const file = fileLink(`sweeps/${id}/plot.svg?x=${axis}`);
    return el("figure", { class: "plot", "data-axis": axis },
      accuracyPlot(results, axis, `test accuracy vs ${axis} compression`),
      el("figcaption", {}, `Test accuracy against ${axis} compression. `, file ? link(file, "SVG file") : null));
  };
  main().replaceChildren(...[
    el("p", { class: "crumbs" }, REPORT && REPORT.single ? null : link("#/", "all sweeps")),
    el("h2", {}, `Sweep #${id}: ${sweep.name} `, statusBadge(sweep.status)),
    el("p", { class: "summary-line" }, progressBar(done, sweep.runs), " ", countsText(sweep.counts), models.length ? ` — ${models.join(", ")}` : ""),
    el("section", { class: "plots" }, plot("direct"), plot("effective")),
    active,
    el("section", {}, el("h3", {}, "Mean over seeds"), summaryTable(results)),
    el("section", {}, el("h3", {}, "Runs ", csv ? el("small", {}, link(csv, "download CSV")) : null),
      el("p", { class: "hint" }, "Click a column to sort; a run's key opens its curves and layers."), resultsTable(id, results, params)),
  ].filter(Boolean));
  setState("sweep", "ready");
  if (sweep.status === "active" && ACTIVE.some((s) => sweep.counts[s])) schedulePoll(generation, () => showSweep(generation, id, params));
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
  const masks = (kind) => (run.status === "succeeded" ? fileLink(`runs/${key}/masks.npz?kind=${kind}`) : null);
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
      ["direct compression", run.direct_compression === undefined ? (run.status === "succeeded" ? "∞" : null) : significant(run.direct_compression)],
      ["effective compression", run.effective_compression === undefined ? (run.status === "succeeded" ? "∞" : null) : significant(run.effective_compression)],
      ["wall time", run.wall_seconds === undefined ? null : `${formatNumber(run.wall_seconds, 3)} s`],
      ["throughput", run.images_per_second === undefined ? null : `${formatCount(Math.round(run.images_per_second))} images/s`],
      ["masks", masks("direct") ? [link(masks("direct"), "direct.npz"), " ", link(masks("effective"), "effective.npz")] : null],
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
  if (ACTIVE.includes(run.status)) schedulePoll(generation, () => showRun(generation, key));
}

// ---------------------------------------------------------------------------------------------
// Routing by URL hash: #/ (sweeps), #/sweeps/ID[?sort=COLUMN&dir=asc|desc], #/runs/KEY.
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
