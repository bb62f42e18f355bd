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

// Pacing: one bar per flight day, the cumulative delivered up to today (data-value; data-delivered is
// the day's own figure), and the plan's cumulative line (a circle per day, data-value). Days after
// today have no bar.
export function pacingChart(daily, today, metric) {
  const shown = daily.filter((d) => d.date <= today);
  const top = niceMax(Math.max(0, ...daily.map((d) => d.planned), ...shown.map((d) => d.cumulative)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const band = plotW / Math.max(1, daily.length);
  const barW = Math.max(2, Math.min(48, band * 0.7));
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const cx = (i) => PAD.left + i * band + band / 2;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => top * f);
  const labelEvery = Math.max(1, Math.ceil(daily.length / 12));
  const titleId = `chart-title-${Math.random().toString(36).slice(2, 8)}`;
  const svg = s("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", id: "pacing-chart", role: "img", "aria-labelledby": titleId,
    "data-metric": metric, "data-today": today, preserveAspectRatio: "xMidYMid meet",
  },
  s("title", { id: titleId }, `${metric} delivered, cumulative per day, against the plan (the table below has the numbers)`),
  ticks.map((t) => s("g", { class: "tick" },
    s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(t), y2: y(t) }),
    s("text", { x: PAD.left - 6, y: y(t) + 4, "text-anchor": "end" }, format(t)))),
  daily.map((day, i) => {
    const x = cx(i) - barW / 2;
    return s("g", { class: "day" },
      day.date <= today
        ? s("rect", {
          class: "delivered", x: x.toFixed(2), y: y(day.cumulative).toFixed(2), width: barW.toFixed(2),
          height: Math.max(0.5, y(0) - y(day.cumulative)).toFixed(2), fill: PALETTE[0],
          "data-date": day.date, "data-series": "delivered", "data-value": String(day.cumulative),
          "data-delivered": String(day.delivered),
        }, s("title", {}, `${day.date} · delivered ${format(day.cumulative)} so far (${format(day.delivered)} that day)`))
        : null,
      i % labelEvery === 0
        ? s("text", { class: "day", x: cx(i).toFixed(2), y: HEIGHT - PAD.bottom + 16, "text-anchor": "middle" }, day.date.slice(5))
        : null);
  }),
  s("polyline", {
    class: "planned", fill: "none", stroke: PALETTE[1], "stroke-width": 2,
    points: daily.map((d, i) => `${cx(i).toFixed(2)},${y(d.planned).toFixed(2)}`).join(" "),
  }),
  daily.map((d, i) => s("circle", {
    class: "planned", cx: cx(i).toFixed(2), cy: y(d.planned).toFixed(2), r: 3.5, fill: PALETTE[1],
    "data-date": d.date, "data-series": "planned", "data-value": String(d.planned),
  }, s("title", {}, `${d.date} · planned ${format(d.planned)} by the end of the day`))),
  s("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0) }));
  const legend = h("ul", { class: "legend", "aria-label": "Series" },
    h("li", {}, h("span", { class: "swatch", dataset: { color: "0" } }), "Delivered, cumulative (bars)"),
    h("li", {}, h("span", { class: "swatch", dataset: { color: "1" } }), "Planned, cumulative (line)"));
  return h("figure", { class: "chart-figure" }, svg, legend);
}
