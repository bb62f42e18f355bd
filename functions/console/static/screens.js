// Screens: the registry with filters (GET /screens), and one screen's history (GET /screens/{id}/history).
import { api, query } from "./api.js";
import { empty, failure, field, h, loading, number, replace, select, table, when } from "./dom.js";
import { pager } from "./jobs.js";

const SCREENS = "/coatro/v1/pop/screens";

export function render(main, args, context) {
  return args.length ? renderHistory(main, args[0], context) : renderList(main, context);
}

function renderList(main, context) {
  const market = h("input", { id: "screen-market", maxlength: "256" });
  const country = h("input", { id: "screen-country", maxlength: "2", pattern: "[A-Z]{2}", size: "3", autocapitalize: "characters" });
  const venueType = h("input", { id: "screen-venue", inputmode: "numeric", pattern: "[0-9]*", size: "8" });
  const active = select({ id: "screen-active" }, [["", "Any"], ["true", "Active"], ["false", "Retired"]], "");
  const results = h("div", { id: "screens-results" });
  const tokens = [null];
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter screens" },
    field("Market", market), field("Country", country, "ISO code, e.g. GB"), field("Venue type", venueType, "OpenOOH id"),
    field("State", active), h("button", { type: "submit" }, "Show"));
  const load = async () => {
    replace(results, loading("screens"));
    try {
      const page = await api(`${SCREENS}${query({
        market: market.value.trim(), country: country.value.trim().toUpperCase(), venueType: venueType.value.trim(),
        active: active.value, pageSize: 50, pageToken: tokens[tokens.length - 1],
      })}`);
      if (!context.current()) return;
      if (!page.screens.length && tokens.length === 1) {
        replace(results, empty("No screens match. Register screens with PUT /coatro/v1/pop/screens/{screenId} or an import (docs/screens.md)."));
      } else {
        replace(results,
          table("Screens", [
            { label: "Screen", cell: (s) => h("a", { href: `#/screens/${encodeURIComponent(s.screenId)}` }, s.screenId) },
            { label: "Name", cell: (s) => s.name || "—" },
            { label: "Market", cell: (s) => s.market || "—" },
            { label: "Country", cell: (s) => s.country || "—" },
            { label: "Venue type", num: true, cell: (s) => (s.venueType ?? "—") },
            { label: "Time zone", cell: (s) => s.timeZone },
            { label: "Faces", num: true, cell: (s) => number(s.screens) },
            { label: "State", cell: (s) => (s.activeTo ? "retired" : "active") },
            { label: "Version", num: true, cell: (s) => number(s.version) },
          ], page.screens, { id: "screens-table" }),
          pager(tokens.length > 1, Boolean(page.nextPageToken), () => { tokens.pop(); load(); },
            () => { tokens.push(page.nextPageToken); load(); }));
      }
      context.done();
    } catch (error) {
      if (context.current()) { replace(results, failure(error, load)); context.done(); }
    }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); tokens.length = 1; load(); });
  replace(main, h("h1", {}, "Screens"), form, results);
  load();
}

function renderHistory(main, screenId, context) {
  const results = h("div", { id: "history-results" }, loading("the screen's history"));
  replace(main, h("p", {}, h("a", { href: "#/screens" }, "← All screens")), h("h1", {}, "Screen ", h("code", {}, screenId)), results);
  const load = async () => {
    try {
      const versions = [];
      let token = null;
      do {
        const page = await api(`${SCREENS}/${encodeURIComponent(screenId)}/history${query({ pageSize: 500, pageToken: token })}`);
        versions.push(...page.versions);
        token = page.nextPageToken;
      } while (token && versions.length < 5000);
      if (!context.current()) return;
      replace(results, table("Versions, oldest first", [
        { label: "Version", num: true, cell: (v) => number(v.version) },
        { label: "Valid from (UTC)", cell: (v) => when(v.validFrom) },
        { label: "Valid to (UTC)", cell: (v) => (v.validTo ? when(v.validTo) : "current") },
        { label: "Name", cell: (v) => v.name || "—" },
        { label: "Market", cell: (v) => v.market || "—" },
        { label: "Venue type", num: true, cell: (v) => (v.venueType ?? "—") },
        { label: "Time zone", cell: (v) => v.timeZone },
        { label: "Faces", num: true, cell: (v) => number(v.screens) },
        { label: "Retired", cell: (v) => (v.activeTo ? when(v.activeTo) : "—") },
      ], versions, { id: "history-table" }));
      context.done();
    } catch (error) {
      if (context.current()) { replace(results, failure(error, load)); context.done(); }
    }
  };
  load();
}
