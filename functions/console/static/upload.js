// Upload: a file straight to its signed URL (with progress), then ingest, then follow the job.
import { api, DYNAMIC, putFile, SCHEMAS } from "./api.js";
import { failure, field, h, loading, replace, select } from "./dom.js";

const FORMATS = [["ndjson", "NDJSON (one JSON object per line)"], ["csv", "CSV"], ["json", "JSON document"]];

function guessFormat(name) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".csv")) return "csv";
  if (lower.endsWith(".json")) return "json";
  return "ndjson";
}

export function render(main, _args, context) {
  const body = h("div", {}, loading("schema versions"));
  replace(main, h("h1", {}, "Upload a file"), body);
  const load = async () => {
    replace(body, loading("schema versions"));
    try {
      const list = await api(SCHEMAS);
      if (!context.current()) return;
      replace(body, form(list.schemas.map((s) => s.version), context));
      context.done();
    } catch (error) {
      if (context.current()) { replace(body, failure(error, load)); context.done(); }
    }
  };
  load();
}

function form(versions, context) {
  const file = h("input", { id: "upload-file", type: "file", accept: ".ndjson,.jsonl,.json,.csv,.txt", required: true });
  const format = select({ id: "upload-format" }, FORMATS, "ndjson");
  const version = select({ id: "upload-schema" }, versions.map((v) => [v, v]), versions[0]);
  const submit = h("button", { type: "submit", id: "upload-button" }, "Upload and ingest");
  const bar = h("progress", { id: "upload-progress", max: "100", value: "0", "aria-label": "Upload progress" });
  const percent = h("span", { id: "upload-percent" }, "");
  const status = h("div", { id: "upload-status", "aria-live": "polite" });
  const progress = h("div", { class: "progress-line", hidden: true }, bar, percent);
  file.addEventListener("change", () => { if (file.files[0]) format.value = guessFormat(file.files[0].name); });
  const element = h("form", { class: "card", id: "upload-form" },
    field("File", file, "NDJSON, CSV or a JSON document, up to the size the API allows."),
    field("Format", format),
    field("Schema version", version, "How the file's rows map to events (see Schemas)."),
    submit, progress, status);
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) { replace(status, failure({ message: "Choose a file first." })); file.focus(); return; }
    submit.disabled = true;
    progress.hidden = false;
    bar.value = 0;
    percent.textContent = "0%";
    replace(status, h("p", { role: "status" }, "Requesting an upload URL…"));
    try {
      const target = await api(`${DYNAMIC}/upload-url`, { method: "POST", body: { fileName: chosen.name, format: format.value } });
      replace(status, h("p", { role: "status" }, `Uploading ${chosen.name}…`));
      await putFile(target.uploadUrl, chosen, target.contentType, (sent, total) => {
        const value = Math.round((sent / total) * 100);
        bar.value = value;
        percent.textContent = `${value}%`;
      });
      bar.value = 100;
      percent.textContent = "100%";
      replace(status, h("p", { role: "status" }, "Uploaded. Starting the job…"));
      const job = await api(`${DYNAMIC}/ingest`, { method: "POST", body: { fileId: target.fileId, schemaVersion: version.value } });
      if (!context.current()) return;
      location.hash = `#/jobs/${encodeURIComponent(job.jobId)}`;
    } catch (error) {
      if (context.current()) replace(status, failure(error));
      submit.disabled = false;
    }
  });
  return element;
}
