// A stacked bar chart drawn as SVG by hand (no library): one bar per day, one segment per group.
// Every segment carries its numbers in data attributes (data-date, data-group, data-value), so what is
// plotted can be read back and checked; labels are text nodes, never markup.
import { h, s } from "./dom.js";

// Okabe-Ito-like hues darkened to at least 3:1 against white (WCAG 2.1 1.4.11, graphical objects).
export const PALETTE = ["#0b5cad", "#b35900", "#1b7a4c", "#a3277a", "#5a4fcf", "#8a6d00", "#0f7b8a", "#b0263a", "#555555"];
const WIDTH = 760;
const HEIGHT = 320;
const PAD = { top: 16, right: 12, bottom: 56, left: 64 };

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function format(value) {
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: 3 });
}

// days: ["2025-01-27", ...]; series: [{group, values: {date: number}}]; metric: a label.
export function stackedBars(days, series, metric) {
  const totals = days.map((d) => series.reduce((sum, one) => sum + (one.values[d] || 0), 0));
  const top = niceMax(Math.max(0, ...totals));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const band = plotW / Math.max(1, days.length);
  const barW = Math.max(2, Math.min(48, band * 0.7));
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => top * f);
  const labelEvery = Math.max(1, Math.ceil(days.length / 12));
  const titleId = `chart-title-${Math.random().toString(36).slice(2, 8)}`;
  const svg = s("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", id: "report-chart", role: "img", "aria-labelledby": titleId,
    "data-metric": metric, preserveAspectRatio: "xMidYMid meet",
  },
  s("title", { id: titleId }, `${metric} per day, stacked by group (the table below has the numbers)`),
  ticks.map((t) => s("g", { class: "tick" },
    s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(t), y2: y(t) }),
    s("text", { x: PAD.left - 6, y: y(t) + 4, "text-anchor": "end" }, format(t)))),
  days.map((day, i) => {
    const x = PAD.left + i * band + (band - barW) / 2;
    let base = 0;
    return s("g", { class: "bar", "data-date": day, "data-total": String(totals[i]) },
      series.map((one, k) => {
        const value = one.values[day] || 0;
        if (!value) return null;
        const rect = s("rect", {
          x: x.toFixed(2), y: y(base + value).toFixed(2), width: barW.toFixed(2),
          height: Math.max(0.5, y(base) - y(base + value)).toFixed(2),
          fill: PALETTE[k % PALETTE.length], "data-date": day, "data-group": one.group, "data-value": String(value),
        }, s("title", {}, `${day} · ${one.group}: ${format(value)}`));
        base += value;
        return rect;
      }),
      i % labelEvery === 0
        ? s("text", { class: "day", x: (x + barW / 2).toFixed(2), y: HEIGHT - PAD.bottom + 16, "text-anchor": "middle" }, day.slice(5))
        : null);
  }),
  s("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0) }));
  const legend = h("ul", { class: "legend", "aria-label": "Groups" },
    series.map((one, k) => h("li", {},
      h("span", { class: "swatch", dataset: { color: String(k % PALETTE.length) } }), one.group)));
  return h("figure", { class: "chart-figure" }, svg, legend);
}
