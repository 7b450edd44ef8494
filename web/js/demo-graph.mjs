// The schema as a graph (SVG, no library): node tables as boxes with their
// properties, rel tables as labelled arrows FROM -> TO (one per connection).
// Layout: node tables on a circle in name order (deterministic: the same
// schema always draws the same picture); several rel arrows between one pair
// bend apart; a self-loop is drawn as a loop above the box.

const SVG = "http://www.w3.org/2000/svg";
const LINE = 15; // px per property line
const CHAR = 6.6; // px per character of the monospace font at 11px

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Where the segment from the box centre towards (tx, ty) leaves the box. */
function edgePoint(box, tx, ty) {
  const dx = tx - box.cx;
  const dy = ty - box.cy;
  if (dx === 0 && dy === 0) return { x: box.cx, y: box.cy };
  const sx = dx === 0 ? Infinity : box.w / 2 / Math.abs(dx);
  const sy = dy === 0 ? Infinity : box.h / 2 / Math.abs(dy);
  const s = Math.min(sx, sy);
  return { x: box.cx + dx * s, y: box.cy + dy * s };
}

/**
 * @param {SVGSVGElement} svg
 * @param {{nodes: {name: string, properties: {name: string, type: string, pk: boolean}[]}[],
 *          rels: {name: string, pairs: [string, string][]}[]}} schema
 */
export function drawSchema(svg, schema) {
  svg.replaceChildren();
  const nodes = [...schema.nodes].sort((a, b) => a.name.localeCompare(b.name));
  if (!nodes.length) {
    svg.setAttribute("viewBox", "0 0 600 80");
    svg.setAttribute("width", "600");
    svg.setAttribute("height", "80");
    svg.append(el("text", { x: 300, y: 45, "text-anchor": "middle", class: "empty" }, "no tables yet"));
    return;
  }
  const boxes = new Map();
  for (const node of nodes) {
    const lines = node.properties.map((p) => `${p.name}: ${p.type}${p.pk ? "  PK" : ""}`);
    const width = Math.max(node.name.length * 7.5, ...lines.map((l) => l.length * CHAR)) + 20;
    boxes.set(node.name, { node, lines, w: Math.min(width, 260), h: 26 + LINE * lines.length + 6 });
  }
  const maxW = Math.max(...[...boxes.values()].map((b) => b.w));
  const maxH = Math.max(...[...boxes.values()].map((b) => b.h));
  const n = nodes.length;
  // a radius that keeps neighbours apart on the circle
  const radius = n === 1 ? 0 : n === 2 ? maxW / 2 + 80 : Math.max(150, (n * (Math.max(maxW, maxH) + 60)) / (2 * Math.PI));
  // two tables side by side; more around the circle from the top
  const start = n === 2 ? Math.PI : -Math.PI / 2;
  nodes.forEach((node, i) => {
    const angle = start + (2 * Math.PI * i) / n;
    const box = boxes.get(node.name);
    box.cx = radius * Math.cos(angle);
    box.cy = radius * Math.sin(angle);
  });
  // the drawing's bounds (room above for self-loops and labels)
  const all = [...boxes.values()];
  const margin = 30;
  const minX = Math.min(...all.map((b) => b.cx - b.w / 2)) - margin;
  const maxX = Math.max(...all.map((b) => b.cx + b.w / 2)) + margin;
  const minY = Math.min(...all.map((b) => b.cy - b.h / 2)) - margin - 50;
  const maxY = Math.max(...all.map((b) => b.cy + b.h / 2)) + margin;
  const width = Math.max(maxX - minX, 400);
  const left = (minX + maxX) / 2 - width / 2;
  svg.setAttribute("viewBox", `${left.toFixed(0)} ${minY.toFixed(0)} ${width.toFixed(0)} ${(maxY - minY).toFixed(0)}`);
  // natural size (1 unit = 1 px), shrunk to the column when wider: text stays readable
  svg.setAttribute("width", width.toFixed(0));
  svg.setAttribute("height", (maxY - minY).toFixed(0));

  const defs = el("defs");
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" });
  marker.append(el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }));
  defs.append(marker);
  svg.append(defs);

  // arrows first (under the boxes); one per FROM/TO pair
  const perPair = new Map();
  const arrows = el("g", { class: "rels" });
  for (const rel of [...schema.rels].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const [from, to] of rel.pairs) {
      const a = boxes.get(from);
      const b = boxes.get(to);
      if (!a || !b) continue;
      const key = [from, to].sort().join("\u0000");
      const k = perPair.get(key) ?? 0;
      perPair.set(key, k + 1);
      const g = el("g", { class: "rel", "data-name": rel.name, "data-from": from, "data-to": to });
      let path;
      let label;
      if (a === b) {
        const top = a.cy - a.h / 2;
        const spread = 18 + 10 * k;
        const x1 = a.cx - spread;
        const x2 = a.cx + spread;
        const lift = 40 + 16 * k;
        path = `M ${x1} ${top} C ${x1 - 10} ${top - lift}, ${x2 + 10} ${top - lift}, ${x2} ${top}`;
        label = { x: a.cx, y: top - lift * 0.75 - 4 };
      } else {
        const p = edgePoint(a, b.cx, b.cy);
        const q = edgePoint(b, a.cx, a.cy);
        // bend: 0, +1, -1, +2 ... times 28 px, perpendicular to the segment
        const bend = (k % 2 ? 1 : -1) * Math.ceil(k / 2) * 28 * (from < to ? 1 : -1);
        const mx = (p.x + q.x) / 2;
        const my = (p.y + q.y) / 2;
        const len = Math.hypot(q.x - p.x, q.y - p.y) || 1;
        const nx = -(q.y - p.y) / len;
        const ny = (q.x - p.x) / len;
        const c = { x: mx + nx * bend * 2, y: my + ny * bend * 2 };
        path = `M ${p.x.toFixed(1)} ${p.y.toFixed(1)} Q ${c.x.toFixed(1)} ${c.y.toFixed(1)} ${q.x.toFixed(1)} ${q.y.toFixed(1)}`;
        label = { x: mx + nx * bend, y: my + ny * bend - 4 };
      }
      g.append(el("path", { d: path, class: "edge", "marker-end": "url(#arrow)" }));
      const relName = rel.name.length > 32 ? rel.name.slice(0, 31) + "…" : rel.name;
      const text = el("text", { x: label.x.toFixed(1), y: label.y.toFixed(1), "text-anchor": "middle", class: "rel-label" }, relName);
      text.append(el("title", {}, rel.name));
      g.append(text);
      g.append(el("title", {}, `${rel.name}: ${from} → ${to}`));
      arrows.append(g);
    }
  }
  svg.append(arrows);

  const layer = el("g", { class: "nodes" });
  for (const node of nodes) {
    const box = boxes.get(node.name);
    const x = box.cx - box.w / 2;
    const y = box.cy - box.h / 2;
    const g = el("g", { class: "node", "data-name": node.name, transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` });
    g.append(el("rect", { width: box.w, height: box.h, rx: 6, class: "box" }));
    g.append(el("rect", { width: box.w, height: 22, rx: 6, class: "box-head" }));
    g.append(el("rect", { y: 16, width: box.w, height: 6, class: "box-head" }));
    // A name longer than the box is cut with an ellipsis; the whole name is its tooltip.
    const fits = Math.max(4, Math.floor((box.w - 12) / 7.5));
    const shown = node.name.length > fits ? node.name.slice(0, fits - 1) + "…" : node.name;
    g.append(el("text", { x: box.w / 2, y: 15, "text-anchor": "middle", class: "node-name" }, shown));
    g.append(el("title", {}, node.name));
    box.lines.forEach((line, i) => {
      const pk = node.properties[i].pk;
      g.append(el("text", { x: 8, y: 26 + LINE * (i + 1) - 3, class: pk ? "prop pk" : "prop" }, line));
    });
    layer.append(g);
  }
  svg.append(layer);
}
