// A grouped bar chart in SVG (no library): one group per day, one bar per series, with a text
// alternative (the table beside it carries the numbers too).
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text = null) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (text !== null) el.textContent = text;
  return el;
}

export function renderStatsChart(rows, series, title) {
  const width = 720;
  const height = 220;
  const pad = { top: 16, right: 12, bottom: 34, left: 40 };
  const max = Math.max(1, ...rows.flatMap((row) => series.map(([name]) => row.counters[name] || 0)));
  const plotWidth = width - pad.left - pad.right;
  const plotHeight = height - pad.top - pad.bottom;
  const group = plotWidth / Math.max(1, rows.length);
  const bar = Math.max(1, (group * 0.8) / series.length);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", "aria-label": title });
  root.append(svg("title", {}, title));
  for (const tick of new Set([0, Math.round(max / 2), max])) {
    const y = pad.top + plotHeight * (1 - tick / max);
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
    root.append(svg("text", { x: pad.left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, String(tick)));
  }
  rows.forEach((row, index) => {
    const x0 = pad.left + index * group + group * 0.1;
    series.forEach(([name, label], s) => {
      const value = row.counters[name] || 0;
      const barHeight = (value / max) * plotHeight;
      const rect = svg("rect", { x: x0 + s * bar, y: pad.top + plotHeight - barHeight, width: Math.max(1, bar - 1),
        height: barHeight, class: `bar bar-${s}` });
      rect.append(svg("title", {}, `${row.date} ${label}: ${value}`));
      root.append(rect);
    });
    if (rows.length <= 10 || index % Math.ceil(rows.length / 10) === 0) {
      root.append(svg("text", { x: x0 + (bar * series.length) / 2, y: height - pad.bottom + 16, class: "axis", "text-anchor": "middle" },
        row.date.slice(5)));
    }
  });
  const legend = document.createElement("ul");
  legend.className = "legend";
  series.forEach(([, label], s) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch bar-${s}`;
    swatch.setAttribute("aria-hidden", "true");
    item.append(swatch, label);
    legend.append(item);
  });
  const figure = document.createElement("figure");
  figure.className = "chart-figure";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption, root, legend);
  return figure;
}
