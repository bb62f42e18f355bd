// Jobs: the tenant's bulk jobs newest first (GET .../bulk/jobs), and one job's live progress and errors.
import { api, CANONICAL, DYNAMIC, query } from "./api.js";
import { csvDownload, empty, failure, field, h, loading, number, replace, select, table, when } from "./dom.js";

const STATUSES = ["queued", "processing", "completed", "partially_completed", "failed"];
const FINAL = new Set(["completed", "partially_completed", "failed"]);
const POLL_MS = 700;
const ERRORS_PAGE = 50;
const MAX_CSV_ROWS = 100_000;

export function familyOf(jobId) {
  return jobId.startsWith("job-bulk-pop-") ? CANONICAL : DYNAMIC;
}

export function badge(status) {
  return h("span", { class: `badge ${status}` }, status.replace("_", " "));
}

export function render(main, args, context) {
  return args.length ? renderJob(main, args[0], context) : renderList(main, context);
}

function renderList(main, context) {
  const family = select({ id: "job-family" }, [[DYNAMIC, "Dynamic (schema versions)"], [CANONICAL, "Canonical events"]], DYNAMIC);
  const status = select({ id: "job-status" }, [["", "Any status"], ...STATUSES.map((s) => [s, s.replace("_", " ")])], "");
  const results = h("div", { id: "jobs-results" });
  const tokens = [null];
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter jobs" },
    field("Endpoints", family), field("Status", status),
    h("button", { type: "submit" }, "Show"));
  const load = async () => {
    replace(results, loading("jobs"));
    try {
      const token = tokens[tokens.length - 1];
      const page = await api(`${family.value}/jobs${query({ status: status.value, pageSize: 20, pageToken: token })}`);
      if (!context.current()) return;
      if (!page.jobs.length && tokens.length === 1) {
        replace(results, empty(status.value ? `No ${status.value.replace("_", " ")} jobs.` : "No jobs yet.",
          h("a", { href: "#/upload", class: "button" }, "Upload a file")));
      } else {
        replace(results,
          table("Jobs, newest first", [
            { label: "Job", cell: (j) => h("a", { href: `#/jobs/${encodeURIComponent(j.jobId)}` }, j.jobId) },
            { label: "Status", cell: (j) => badge(j.status) },
            { label: "Schema", cell: (j) => j.schemaVersion },
            { label: "Created (UTC)", cell: (j) => when(j.createdAt) },
            { label: "Rows", num: true, cell: (j) => number(j.totalRows) },
            { label: "Processed", num: true, cell: (j) => number(j.processedRows) },
            { label: "Errors", num: true, cell: (j) => number(j.errorRows) },
          ], page.jobs, { id: "jobs-table" }),
          pager(tokens.length > 1, Boolean(page.nextPageToken), () => { tokens.pop(); load(); },
            () => { tokens.push(page.nextPageToken); load(); }));
      }
      context.done();
    } catch (error) {
      if (context.current()) { replace(results, failure(error, load)); context.done(); }
    }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); tokens.length = 1; load(); });
  replace(main, h("h1", {}, "Jobs"), form, results);
  load();
}

export function pager(hasPrevious, hasNext, previous, next) {
  return h("div", { class: "pager" },
    h("button", { type: "button", class: "secondary", disabled: !hasPrevious, onclick: previous }, "Previous page"),
    h("button", { type: "button", class: "secondary", disabled: !hasNext, onclick: next }, "Next page"));
}

function renderJob(main, jobId, context) {
  const base = `${familyOf(jobId)}/jobs/${encodeURIComponent(jobId)}`;
  const summary = h("div", { id: "job-summary" }, loading("the job"));
  const errors = h("section", { id: "job-errors", "aria-labelledby": "errors-title" });
  let timer = null;
  let shownErrors = false;
  const poll = async () => {
    try {
      const job = await api(base);
      if (!context.current()) return;
      replace(summary, jobSummary(job));
      if (FINAL.has(job.status)) {
        if (!shownErrors) { shownErrors = true; loadErrors(errors, base, jobId, job, context); }
        context.done();
      } else {
        timer = window.setTimeout(poll, POLL_MS);
      }
    } catch (error) {
      if (context.current()) { replace(summary, failure(error, poll)); context.done(); }
    }
  };
  replace(main, h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")), h("h1", {}, "Job ", h("code", {}, jobId)), summary, errors);
  poll();
  return () => window.clearTimeout(timer);
}

function jobSummary(job) {
  const total = job.totalRows || 0;
  const done = job.processedRows + job.errorRows + job.skippedRows;
  const percent = total ? Math.min(100, Math.round((done / total) * 100)) : (FINAL.has(job.status) ? 100 : 0);
  return h("div", { class: "card" },
    h("p", { class: "job-state" }, "State: ", badge(job.status)),
    h("div", { class: "progress-line" },
      h("progress", { id: "job-progress", max: "100", value: String(percent), "aria-label": "Rows handled" }),
      h("span", {}, `${percent}%`)),
    h("dl", { class: "facts", id: "job-facts" },
      fact("Rows", number(job.totalRows), "total"),
      fact("Processed", number(job.processedRows), "processed"),
      fact("Errors", number(job.errorRows), "errors"),
      fact("Skipped", number(job.skippedRows), "skipped"),
      fact("Schema", job.schemaVersion),
      fact("File", job.fileId),
      fact("Created", when(job.createdAt)),
      fact("Completed", when(job.completedAt))),
    job.failureReason ? h("p", { class: "state error", role: "alert" }, job.failureReason) : null);
}

function fact(label, value, key) {
  return h("div", { dataset: key ? { fact: key } : undefined }, h("dt", {}, label), h("dd", {}, value));
}

function loadErrors(section, base, jobId, job, context) {
  const tokens = [null];
  const title = h("h2", { id: "errors-title" }, "Row errors");
  const body = h("div", {});
  const download = h("button", { type: "button", class: "secondary", id: "errors-csv" }, "Download CSV");
  download.addEventListener("click", async () => {
    download.disabled = true;
    const rows = [];
    let token = null;
    try {
      do {
        const page = await api(`${base}/errors${query({ pageSize: 1000, pageToken: token })}`);
        for (const e of page.errors) rows.push([e.row, e.error]);
        token = page.nextPageToken;
      } while (token && rows.length < MAX_CSV_ROWS);
      csvDownload(`${jobId}-errors.csv`, ["row", "error"], rows);
    } catch (error) {
      body.prepend(failure(error));
    }
    download.disabled = false;
  });
  const load = async () => {
    replace(body, loading("row errors"));
    try {
      const page = await api(`${base}/errors${query({ pageSize: ERRORS_PAGE, pageToken: tokens[tokens.length - 1] })}`);
      if (!context.current()) return;
      if (!page.errors.length && tokens.length === 1) {
        replace(body, empty("No row errors: every row became an event (or was skipped by the mapping's filter)."));
        download.hidden = true;
        return;
      }
      replace(body, h("p", {}, `${number(page.totalErrors)} rows could not become events.`),
        table("Row errors", [
          { label: "Row", num: true, cell: (e) => number(e.row) },
          { label: "Error", cell: (e) => e.error },
        ], page.errors, { id: "errors-table" }),
        pager(tokens.length > 1, Boolean(page.nextPageToken), () => { tokens.pop(); load(); },
          () => { tokens.push(page.nextPageToken); load(); }));
    } catch (error) {
      if (context.current()) replace(body, failure(error, load));
    }
  };
  replace(section, h("div", { class: "section-head" }, title, download), body);
  if (job.errorRows === 0) {
    replace(body, empty("No row errors: every row became an event (or was skipped by the mapping's filter)."));
    download.hidden = true;
  } else {
    load();
  }
}
