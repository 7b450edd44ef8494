// Small inline SVG charts (no plotting library): a line chart of one series
// of metrics' plot-ready points, and a horizontal bar chart of labelled values.

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

/**
 * A line chart. points: [{x: number, y: number}], x ascending.
 * @returns {SVGSVGElement} with one circle.point per point
 */
export function lineChart(points, { title = "", xLabel = "", width = 340, height = 180 } = {}) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart line-chart", role: "img" });
  svg.append(el("title", {}, title));
  const left = 42;
  const right = 10;
  const top = 24;
  const bottom = 30;
  const w = width - left - right;
  const h = height - top - bottom;
  svg.append(el("text", { x: left, y: 14, class: "chart-title" }, title));
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, x0 + 1);
  const y1 = niceMax(Math.max(...ys, 0));
  const X = (x) => left + ((x - x0) / (x1 - x0 || 1)) * w;
  const Y = (y) => top + h - (y / y1) * h;
  for (let i = 0; i <= 4; i++) {
    const v = (y1 * i) / 4;
    svg.append(el("line", { x1: left, x2: left + w, y1: Y(v), y2: Y(v), class: "grid" }));
    svg.append(el("text", { x: left - 4, y: Y(v) + 3, "text-anchor": "end", class: "tick" }, +v.toFixed(2)));
  }
  svg.append(el("line", { x1: left, x2: left + w, y1: top + h, y2: top + h, class: "axis" }));
  svg.append(el("text", { x: left, y: height - 8, class: "tick" }, String(x0)));
  svg.append(el("text", { x: left + w, y: height - 8, "text-anchor": "end", class: "tick" }, String(x1)));
  svg.append(el("text", { x: left + w / 2, y: height - 8, "text-anchor": "middle", class: "tick" }, xLabel));
  if (points.length) {
    const d = points.map((p, i) => `${i ? "L" : "M"} ${X(p.x).toFixed(1)} ${Y(p.y).toFixed(1)}`).join(" ");
    svg.append(el("path", { d, class: "series" }));
    for (const p of points) {
      const dot = el("circle", { cx: X(p.x).toFixed(1), cy: Y(p.y).toFixed(1), r: 3, class: "point" });
      dot.append(el("title", {}, `${p.x}: ${p.y}`));
      svg.append(dot);
    }
  }
  return svg;
}

/**
 * A horizontal bar chart. bars: [{label: string, value: number, text?: string}].
 * @returns {SVGSVGElement} with one rect.bar per bar
 */
export function barChart(bars, { title = "", width = 340 } = {}) {
  const row = 20;
  const top = 24;
  const height = top + row * bars.length + 8;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart bar-chart", role: "img" });
  svg.append(el("title", {}, title));
  svg.append(el("text", { x: 4, y: 14, class: "chart-title" }, title));
  const labelW = 120;
  const max = Math.max(...bars.map((b) => b.value), 1);
  const w = width - labelW - 70;
  bars.forEach((b, i) => {
    const y = top + i * row;
    svg.append(el("text", { x: labelW - 6, y: y + 13, "text-anchor": "end", class: "tick" }, b.label));
    svg.append(el("rect", { x: labelW, y: y + 2, width: Math.max(1, (b.value / max) * w), height: row - 6, class: "bar" }));
    svg.append(el("text", { x: labelW + Math.max(1, (b.value / max) * w) + 4, y: y + 13, class: "tick" }, b.text ?? String(b.value)));
  });
  return svg;
}
