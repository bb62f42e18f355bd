// Reports: the delivery report's filters, a chart of plays or impressions per day stacked by a group,
// the table under it, and a CSV download (GET /coatro/v1/pop/reports/delivery, every page).
import { api, query } from "./api.js";
import { stackedBars } from "./chart.js";
import { csvDownload, empty, failure, field, h, loading, number, replace, select, table } from "./dom.js";

const REPORT = "/coatro/v1/pop/reports/delivery";
const PER_PAGE = 200;
const MAX_PAGES = 50;
const MAX_SERIES = 8;
const GROUPS = [["campaignId", "Campaign"], ["creativeId", "Creative"], ["screenId", "Screen"], ["siteId", "Site"],
  ["market", "Market"], ["country", "Country"], ["venueType", "Venue type"]];
const METRICS = [["plays", "Plays"], ["qualifiedPlays", "Qualified plays"], ["impressions", "Impressions"]];
const NONE = "(none)";
const OTHER = "(other groups)";

function iso(date) {
  return date.toISOString().slice(0, 10);
}

function days(from, to) {
  const out = [];
  for (let d = new Date(`${from}T00:00:00Z`); iso(d) <= to && out.length < 400; d.setUTCDate(d.getUTCDate() + 1)) out.push(iso(d));
  return out;
}

export function metricOf(row, metric) {
  return metric === "impressions" ? (row.impressions ? row.impressions.total : 0) : row[metric];
}

export function render(main, _args, context) {
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86_400_000);
  const from = h("input", { id: "report-from", type: "date", value: iso(weekAgo), required: true });
  const to = h("input", { id: "report-to", type: "date", value: iso(today), required: true });
  const group = select({ id: "report-group" }, GROUPS, "campaignId");
  const metric = select({ id: "report-metric" }, METRICS, "plays");
  const timezone = h("input", { id: "report-timezone", value: "UTC", spellcheck: "false" });
  const campaign = h("input", { id: "report-campaign", spellcheck: "false" });
  const screen = h("input", { id: "report-screen", spellcheck: "false" });
  const results = h("div", { id: "report-results" });
  let rows = [];
  let shown = null;
  const form = h("form", { class: "filters", role: "search", "aria-label": "Report filters" },
    field("From", from), field("To", to), field("Stack by", group), field("Measure", metric),
    field("Time zone", timezone, "IANA name, or screen"), field("Campaign", campaign), field("Screen", screen),
    h("button", { type: "submit", id: "report-button" }, "Show report"));
  const draw = () => {
    if (!shown) return;
    const { params } = shown;
    const key = params.group;
    const byGroup = new Map();
    for (const row of rows) {
      const name = row[key] === null || row[key] === undefined ? NONE : String(row[key]);
      const one = byGroup.get(name) || { group: name, values: {}, total: 0 };
      const value = metricOf(row, metric.value) || 0;
      one.values[row.date] = (one.values[row.date] || 0) + value;
      one.total += value;
      byGroup.set(name, one);
    }
    let series = [...byGroup.values()].sort((a, b) => b.total - a.total || a.group.localeCompare(b.group));
    if (series.length > MAX_SERIES) {
      const rest = { group: OTHER, values: {}, total: 0 };
      for (const one of series.slice(MAX_SERIES - 1)) {
        for (const [d, v] of Object.entries(one.values)) rest.values[d] = (rest.values[d] || 0) + v;
        rest.total += one.total;
      }
      series = [...series.slice(0, MAX_SERIES - 1), rest];
    }
    const label = METRICS.find(([v]) => v === metric.value)[1];
    const download = h("button", { type: "button", class: "secondary", id: "report-csv" }, "Download CSV");
    download.addEventListener("click", () => csvDownload(`delivery-${params.from}-${params.to}.csv`,
      ["date", key, "plays", "qualifiedPlays", "impressions", "durationMs"],
      rows.map((r) => [r.date, r[key], r.plays, r.qualifiedPlays, r.impressions ? r.impressions.total : "", r.durationMs])));
    replace(results,
      h("div", { class: "section-head" }, h("h2", {}, `${label} per day by ${GROUPS.find(([v]) => v === key)[1].toLowerCase()}`), download),
      shown.truncated ? h("p", { class: "state notice" }, `Showing the first ${number(rows.length)} rows: narrow the filters for all of them.`) : null,
      stackedBars(days(params.from, params.to), series, label),
      table("Delivery by day", [
        { label: "Date", cell: (r) => r.date },
        { label: GROUPS.find(([v]) => v === key)[1], cell: (r) => (r[key] === null || r[key] === undefined ? NONE : String(r[key])) },
        { label: "Plays", num: true, cell: (r) => number(r.plays) },
        { label: "Qualified", num: true, cell: (r) => number(r.qualifiedPlays) },
        { label: "Impressions", num: true, cell: (r) => number(r.impressions ? r.impressions.total : null) },
        { label: "Seconds on screen", num: true, cell: (r) => number(Math.round(r.durationMs / 1000)) },
      ], rows, { id: "report-table" }));
  };
  const load = async () => {
    const params = { from: from.value, to: to.value, group: group.value };
    replace(results, loading("the report"));
    try {
      const collected = [];
      let page = 1;
      let size = 0;
      do {
        const data = await api(`${REPORT}${query({
          "filter[from]": params.from, "filter[to]": params.to, "filter[campaignId]": campaign.value.trim(),
          "filter[screenId]": screen.value.trim(), timezone: timezone.value.trim() || "UTC",
          groupBy: `date,${params.group}`, per_page: PER_PAGE, page,
        })}`);
        collected.push(...data.result);
        size = data.collection.size;
        page += 1;
      } while (collected.length < size && page <= MAX_PAGES);
      if (!context.current()) return;
      rows = collected;
      shown = { params, truncated: collected.length < size };
      if (!rows.length) {
        replace(results, empty("No plays in these days for these filters. Widen the dates or clear a filter."));
      } else {
        draw();
      }
      context.done();
    } catch (error) {
      if (context.current()) { replace(results, failure(error, load)); context.done(); }
    }
  };
  metric.addEventListener("change", draw);
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  replace(main, h("h1", {}, "Delivery report"), form, results);
  load();
}
