// Schemas: the versions this tenant can ingest with, and a mapping editor with a live preview.
import { api, SCHEMAS } from "./api.js";
import { empty, failure, field, h, loading, number, replace, select, table } from "./dom.js";

const PREVIEW_DELAY_MS = 400;
const EXAMPLE_MAPPING = {
  fields: {
    play_id: "eventId", screen_id: "screenId", campaign_id: "campaignId", creative_id: "creativeId",
    played_at_ms: "playedAt", duration_ms: "durationMs",
  },
  timestamp_format: "epoch_millis",
  numeric_strings: true,
};
const EXAMPLE_SAMPLE = [
  "play_id,screen_id,campaign_id,creative_id,played_at_ms,duration_ms",
  "p-1,scr-001,summer-sale,cr-10,1737972000000,15000",
  "p-2,scr-002,summer-sale,cr-11,1737972060000,15000",
  "p-3,scr-001,winter-coats,cr-20,yesterday,10000",
].join("\n");

export function render(main, args, context) {
  const list = h("section", { id: "schema-list", "aria-labelledby": "versions-title" });
  const editor = h("section", { id: "schema-editor", "aria-labelledby": "editor-title" });
  replace(main, h("h1", {}, "Schemas"), list, editor);
  const refresh = () => loadList(list, context);
  refresh();
  renderEditor(editor, refresh, args[0], context);
  return () => { editor.dataset.closed = "true"; };
}

async function loadList(section, context) {
  replace(section, h("h2", { id: "versions-title" }, "Versions"), loading("schema versions"));
  try {
    const data = await api(SCHEMAS);
    if (!context.current()) return;
    const rows = data.schemas;
    replace(section, h("h2", { id: "versions-title" }, "Versions"),
      rows.length
        ? table("Schema versions", [
            { label: "Version", cell: (s) => h("a", { href: `#/schemas/${encodeURIComponent(s.version)}` }, s.version) },
            { label: "Kind", cell: (s) => (s.builtIn ? "built in" : "registered") },
          ], rows, { id: "schemas-table" })
        : empty("No schema versions yet: write one below."));
    context.done();
  } catch (error) {
    if (context.current()) { replace(section, h("h2", { id: "versions-title" }, "Versions"), failure(error, () => loadList(section, context))); context.done(); }
  }
}

function renderEditor(section, refresh, version, context) {
  const mapping = h("textarea", { id: "mapping-text", rows: "14", spellcheck: "false", class: "code" });
  const sample = h("textarea", { id: "sample-text", rows: "14", spellcheck: "false", class: "code" });
  const format = select({ id: "sample-format" }, [["csv", "CSV"], ["ndjson", "NDJSON"], ["json", "JSON document"]], "csv");
  const name = h("input", { id: "version-name", pattern: "[A-Za-z0-9._\\-]{1,32}", maxlength: "32", required: true, spellcheck: "false" });
  const register = h("button", { type: "button", id: "register-button" }, "Register");
  const registered = h("div", { id: "register-status", "aria-live": "polite" });
  const preview = h("div", { id: "preview", "aria-live": "polite" });
  mapping.value = JSON.stringify(EXAMPLE_MAPPING, null, 2);
  sample.value = EXAMPLE_SAMPLE;
  let timer = null;
  let sequence = 0;

  const runPreview = async () => {
    const mine = ++sequence;
    let parsed;
    try {
      parsed = JSON.parse(mapping.value);
    } catch (error) {
      replace(preview, failure({ message: `The mapping is not JSON: ${error.message}`, hint: "Fix the JSON and the preview follows." }));
      return;
    }
    preview.setAttribute("aria-busy", "true");
    try {
      const result = await api(`${SCHEMAS}/preview`, { method: "POST", body: { format: format.value, sample: sample.value, mapping: parsed } });
      if (mine !== sequence || !context.current()) return;
      replace(preview, previewView(result));
    } catch (error) {
      if (mine !== sequence || !context.current()) return;
      replace(preview, failure(error, runPreview));
    } finally {
      if (mine === sequence) preview.removeAttribute("aria-busy");
    }
  };
  const schedule = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(runPreview, PREVIEW_DELAY_MS);
  };
  for (const control of [mapping, sample, format]) control.addEventListener("input", schedule);
  format.addEventListener("change", schedule);
  sample.addEventListener("dragover", (event) => { event.preventDefault(); sample.classList.add("drop"); });
  sample.addEventListener("dragleave", () => sample.classList.remove("drop"));
  sample.addEventListener("drop", async (event) => {
    event.preventDefault();
    sample.classList.remove("drop");
    const file = event.dataTransfer.files[0];
    if (!file) return;
    sample.value = await file.slice(0, 1024 * 1024).text();
    if (file.name.toLowerCase().endsWith(".csv")) format.value = "csv";
    else if (file.name.toLowerCase().endsWith(".json")) format.value = "json";
    else format.value = "ndjson";
    schedule();
  });
  register.addEventListener("click", async () => {
    let parsed;
    try {
      parsed = JSON.parse(mapping.value);
    } catch (error) {
      replace(registered, failure({ message: `The mapping is not JSON: ${error.message}` }));
      return;
    }
    if (!name.checkValidity()) {
      replace(registered, failure({ message: "Name the version: 1 to 32 of A-Z a-z 0-9 . _ -" }));
      name.focus();
      return;
    }
    register.disabled = true;
    try {
      const result = await api(`${SCHEMAS}/${encodeURIComponent(name.value)}`, { method: "PUT", body: parsed, raw: true });
      const body = await result.json().catch(() => ({}));
      if (result.status === 201 || result.status === 200) {
        replace(registered, h("p", { class: "state ok", role: "status" },
          result.status === 201 ? `Registered version ${name.value}.` : `Version ${name.value} was already registered with this mapping.`));
        refresh();
      } else {
        replace(registered, failure({ status: result.status, message: body.detail || `The API answered ${result.status}.`, fields: body.errors,
          hint: result.status === 409 ? "Versions are immutable: register the change under a new version." : undefined }));
      }
    } catch (error) {
      replace(registered, failure(error));
    }
    register.disabled = false;
  });

  replace(section,
    h("h2", { id: "editor-title" }, "Write a mapping"),
    h("p", {}, "Edit the mapping and paste (or drop) a sample: the preview follows as you type. Nothing is ingested."),
    h("div", { class: "editor" },
      h("div", {}, field("Mapping (JSON)", mapping)),
      h("div", {}, field("Sample", sample, "Paste rows, or drop a file here (its first MiB)."), field("Sample format", format))),
    h("div", { class: "register" }, field("Version name", name, "1–32 of A–Z a–z 0–9 . _ -"), register),
    registered,
    h("h3", {}, "Preview"), preview);

  if (version) {
    (async () => {
      try {
        const doc = await api(`${SCHEMAS}/${encodeURIComponent(version)}`);
        if (!context.current()) return;
        mapping.value = JSON.stringify(doc.mapping, null, 2);
        name.value = doc.builtIn ? "" : doc.version;
        schedule();
      } catch (error) {
        if (context.current()) replace(preview, failure(error));
      }
    })();
  } else {
    schedule();
  }
}

function previewView(result) {
  const events = result.events || [];
  const errors = result.errors || [];
  return h("div", { class: "preview" },
    h("dl", { class: "facts", id: "preview-counts" },
      h("div", { dataset: { fact: "total" } }, h("dt", {}, "Rows"), h("dd", {}, number(result.totalRows))),
      h("div", { dataset: { fact: "events" } }, h("dt", {}, "Events"), h("dd", {}, number(result.processedRows))),
      h("div", { dataset: { fact: "errors" } }, h("dt", {}, "Row errors"), h("dd", {}, number(result.errorRows))),
      h("div", { dataset: { fact: "skipped" } }, h("dt", {}, "Skipped"), h("dd", {}, number(result.skippedRows)))),
    result.truncated ? h("p", {}, "Showing the first 1,000 events and errors.") : null,
    h("div", { class: "side-by-side" },
      h("div", {}, h("h4", {}, "Events"),
        events.length ? h("pre", { class: "code", id: "preview-events", tabindex: "0" }, events.map((e) => JSON.stringify(e)).join("\n"))
          : empty("No events.")),
      h("div", {}, h("h4", {}, "Row errors"),
        errors.length ? table("Row errors of the sample", [
          { label: "Row", num: true, cell: (e) => number(e.row) },
          { label: "Error", cell: (e) => e.error },
        ], errors, { id: "preview-errors" }) : empty("No row errors."))));
}
