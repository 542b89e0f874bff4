"use strict";
// prunelab's charts: inline SVG drawn from the API's data, no library. The accuracy plot mirrors
// AccuracyPlot in Sources/Service/PlotSVG.swift line for line (same aggregation, same geometry),
// so the page and GET /api/v1/sweeps/{id}/plot.svg draw the same figure.

// Every status the API reports, named once for both scripts: runs' (RunStatus in Sources/Store)
// and sweeps' (SweepStatus; the server derives `finished`: no run queued, leased or running).
const STATUS = Object.freeze({
  queued: "queued", leased: "leased", running: "running", succeeded: "succeeded", failed: "failed", cancelled: "cancelled",
  active: "active", finished: "finished",
});
const UNFINISHED = [STATUS.queued, STATUS.leased, STATUS.running];
const FINISHED = [STATUS.succeeded, STATUS.failed, STATUS.cancelled];
// Run statuses in the order counts are listed: in progress first.
const RUN_STATUSES = [STATUS.running, STATUS.leased, STATUS.queued, ...FINISHED];

const SVG = "http://www.w3.org/2000/svg";
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

function formatPercent(value, digits = 2) { return value === null || value === undefined ? "–" : (value * 100).toFixed(digits) + "%"; }
function significant(value) {
  if (value === null || value === undefined || !isFinite(value)) return "–";
  if (value >= 100) return String(Math.round(value));
  return String(Number(value.toFixed(value >= 10 ? 1 : 2)));
}
function formatCount(value) { return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US"); }
function formatNumber(value, digits = 4) { return value === null || value === undefined ? "–" : String(Number(value.toPrecision(digits))); }

// Colours of the run view's curves: Tableau 10.
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹";

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

// The server's sweep plot (plot.svg: PlotSVG.swift aggregates and draws it) placed in the page;
// clicking a legend entry hides or shows its line, remembered across redraws.
function serverPlot(text, axis) {
  const parsed = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  if (parsed.nodeName !== "svg") return el("p", { class: "failure" }, `the ${axis} plot could not be read`);
  const svg = document.importNode(parsed, true);
  svg.classList.add("chart");
  svg.id = `plot-${axis}`;
  for (const entry of svg.querySelectorAll(".legend-entry[data-series]")) {
    const group = svg.querySelector(`.series-group[data-series="${entry.getAttribute("data-series")}"]`);
    const remembered = `plot-${axis}|${entry.textContent}`;
    const show = (hidden) => {
      if (group) group.classList.toggle("muted", hidden);
      entry.classList.toggle("off", hidden);
    };
    show(hiddenSeries.has(remembered));
    entry.setAttribute("cursor", "pointer");
    entry.prepend(svgEl("title", {}, "click to hide or show"));
    entry.addEventListener("click", () => {
      const hidden = !entry.classList.contains("off");
      show(hidden);
      if (hidden) hiddenSeries.add(remembered); else hiddenSeries.delete(remembered);
    });
  }
  return svg;
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

