// Bookings: the tenant's bookings (GET /coatro/v1/pop/bookings) and one booking's pacing
// (GET /coatro/v1/pop/reports/performance?bookingId=...): contracted vs delivered, pacing, the
// projection, a chart of cumulative delivery against the plan over the flight, and the dark screens.
import { api, query } from "./api.js";
import { pacingChart } from "./chart.js";
import { empty, failure, field, h, loading, number, replace, select, table, when } from "./dom.js";
import { pager } from "./jobs.js";

const BOOKINGS = "/coatro/v1/pop/bookings";
const PERFORMANCE = "/coatro/v1/pop/reports/performance";
const METRICS = { plays: "Plays", qualifiedPlays: "Qualified plays", impressions: "Impressions" };

export function render(main, args, context) {
  return args.length ? renderPacing(main, args[0], context) : renderList(main, context);
}

function renderList(main, context) {
  const campaign = h("input", { id: "booking-campaign", maxlength: "256", spellcheck: "false" });
  const active = select({ id: "booking-active" }, [["", "Any"], ["true", "In force"], ["false", "Cancelled"]], "");
  const results = h("div", { id: "bookings-results" });
  const tokens = [null];
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter bookings" },
    field("Campaign", campaign), field("State", active), h("button", { type: "submit" }, "Show"));
  const load = async () => {
    replace(results, loading("bookings"));
    try {
      const page = await api(`${BOOKINGS}${query({
        campaignId: campaign.value.trim(), active: active.value, pageSize: 50, pageToken: tokens[tokens.length - 1],
      })}`);
      if (!context.current()) return;
      if (!page.bookings.length && tokens.length === 1) {
        replace(results, empty("No bookings match. Record one with PUT /coatro/v1/pop/bookings/{bookingId} or `coatro bookings put` (docs/bookings.md)."));
      } else {
        replace(results,
          table("Bookings", [
            { label: "Booking", cell: (b) => h("a", { href: `#/bookings/${encodeURIComponent(b.bookingId)}` }, b.bookingId) },
            { label: "Campaign", cell: (b) => b.campaignId },
            { label: "Advertiser", cell: (b) => b.advertiser },
            { label: "Flight", cell: (b) => `${b.flight.start} → ${b.flight.end}` },
            { label: "Goal", cell: (b) => METRICS[b.goal.metric] || b.goal.metric },
            { label: "Quantity", num: true, cell: (b) => number(b.goal.quantity) },
            { label: "State", cell: (b) => (b.cancelledAt ? "cancelled" : "in force") },
          ], page.bookings, { id: "bookings-table" }),
          pager(tokens.length > 1, Boolean(page.nextPageToken), () => { tokens.pop(); load(); },
            () => { tokens.push(page.nextPageToken); load(); }));
      }
      context.done();
    } catch (error) {
      if (context.current()) { replace(results, failure(error, load)); context.done(); }
    }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); tokens.length = 1; load(); });
  replace(main, h("h1", {}, "Bookings"), form, results);
  load();
}

// The date (YYYY-MM-DD) of an instant in the flight's zone ("screen": UTC, an approximation).
export function localDate(instant, zone) {
  try {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone && zone !== "screen" ? zone : "UTC", year: "numeric", month: "2-digit", day: "2-digit",
    }).formatToParts(new Date(instant));
    const part = (type) => parts.find((p) => p.type === type).value;
    return `${part("year")}-${part("month")}-${part("day")}`;
  } catch {
    return String(instant).slice(0, 10);
  }
}

function fact(label, value, key) {
  return h("div", { dataset: { fact: key } }, h("dt", {}, label), h("dd", {}, value));
}

function percent(value) {
  return value === null || value === undefined ? "—" : `${Number(value).toLocaleString("en-US", { maximumFractionDigits: 2 })}%`;
}

function renderPacing(main, bookingId, context) {
  const results = h("div", { id: "pacing-results" }, loading("the booking's pacing"));
  replace(main, h("p", {}, h("a", { href: "#/bookings" }, "← All bookings")),
    h("h1", {}, "Booking ", h("code", {}, bookingId)), results);
  const load = async () => {
    replace(results, loading("the booking's pacing"));
    try {
      const report = await api(`${PERFORMANCE}${query({ bookingId })}`);
      if (!context.current()) return;
      const label = METRICS[report.metric] || report.metric;
      const today = localDate(report.asOf, report.flight.timeZone);
      const pace = report.pacing === null || report.pacing === undefined ? "—" : report.pacing.toFixed(2);
      const status = report.cancelledAt
        ? h("p", { class: "state notice", role: "status" }, `Cancelled at ${when(report.cancelledAt)}.`)
        : report.underdelivering
          ? h("p", { class: "state error", id: "pacing-status" }, `Underdelivering: pacing ${pace} is below the threshold ${report.underdeliveryThreshold}.`)
          : report.pacing === null
            ? h("p", { class: "state notice", id: "pacing-status" }, "The flight has not started yet.")
            : h("p", { class: "state ok", id: "pacing-status" }, `On track: pacing ${pace}.`);
      replace(results,
        h("p", {}, `${report.advertiser} · campaign `, h("code", {}, report.campaignId), ` · flight ${report.flight.start} → ${report.flight.end} (${report.flight.timeZone}) · as of ${when(report.asOf)}`),
        status,
        h("dl", { class: "facts", id: "pacing-facts" },
          fact(`Contracted (${label.toLowerCase()})`, number(report.contracted), "contracted"),
          fact("Delivered", number(report.delivered), "delivered"),
          fact("% delivered", percent(report.percentDelivered), "percent"),
          fact("Expected by now", number(report.expected), "expected"),
          fact("Pacing", pace, "pacing"),
          fact("Projected at the end", number(report.projected), "projected"),
          fact("Projected %", percent(report.projectedPercent), "projected-percent")),
        h("h2", {}, `${label}, cumulative, against the plan`),
        pacingChart(report.daily, today, label),
        table("Per day of the flight", [
          { label: "Date", cell: (d) => d.date },
          { label: "Delivered", num: true, cell: (d) => (d.date <= today ? number(d.delivered) : "—") },
          { label: "Cumulative", num: true, cell: (d) => (d.date <= today ? number(d.cumulative) : "—") },
          { label: "Planned (cumulative)", num: true, cell: (d) => number(d.planned) },
        ], report.daily, { id: "pacing-table" }),
        h("h2", {}, "Dark screens"),
        report.darkScreens.length
          ? table(`Targeted screens without a play for ${report.darkAfterHours} hours or more`, [
            { label: "Screen", cell: (d) => h("a", { href: `#/screens/${encodeURIComponent(d.screenId)}` }, d.screenId) },
            { label: "Last played (UTC)", cell: (d) => (d.lastPlayedAt ? when(d.lastPlayedAt) : "never") },
            { label: "Dark for (hours)", num: true, cell: (d) => number(d.darkHours) },
          ], report.darkScreens, { id: "dark-table" })
          : empty(`No targeted screen has gone ${report.darkAfterHours} hours without a play.`));
      context.done();
    } catch (error) {
      if (context.current()) { replace(results, failure(error, load)); context.done(); }
    }
  };
  load();
}
