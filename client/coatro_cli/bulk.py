"""Bulk ingestion: upload a file to its signed URL, start the job, follow it, export its errors."""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from coatro_cli.api import ApiClient, iter_pages

FORMATS = ("ndjson", "json", "csv")
EXTENSIONS = {".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json", ".csv": "csv"}
FINAL_STATUSES = ("completed", "partially_completed", "failed")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PARTIAL = 3
EXIT_FAILED = 4
EXIT_FOR_STATUS = {"completed": EXIT_OK, "partially_completed": EXIT_PARTIAL, "failed": EXIT_FAILED}

_UPLOAD_BLOCK = 1024 * 1024
PREVIEW_MAX_BYTES = 1024 * 1024  # the API's limit on a preview's sample


class FormatError(ValueError):
    pass


def infer_format(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    known = ", ".join(EXTENSIONS)
    raise FormatError(
        f"cannot tell the format of {Path(path).name} from its extension (known: {known}); "
        "pass --format ndjson, json or csv"
    )


def parse_metadata(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"metadata must be key=value, got {pair!r}")
        out[key.strip()] = value
    return out


class FileBody:
    """A file streamed as a request body in blocks, reporting each block sent (never read whole).
    urllib3 rewinds it (tell, seek) to send it again after a transient failure; `on_rewind` hears of it."""

    def __init__(
        self, path: Path, on_bytes: Callable[[int], None], on_rewind: Callable[[], None] = lambda: None
    ):
        self.path = path
        self.size = path.stat().st_size
        self.on_bytes = on_bytes
        self.on_rewind = on_rewind
        self.file = path.open("rb")

    def __len__(self) -> int:  # lets requests send a Content-Length instead of chunked encoding
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        while block := self.file.read(_UPLOAD_BLOCK):
            self.on_bytes(len(block))
            yield block

    def tell(self) -> int:
        return self.file.tell()

    def seek(self, position: int) -> None:
        self.file.seek(position)
        self.on_rewind()

    def __enter__(self) -> FileBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def put_file(client: ApiClient, upload_url: str, content_type: str, path: Path, bar) -> None:
    """PUT the file to its signed URL, restarting the bar if a transient failure makes us resend."""
    size = path.stat().st_size
    bar.reset(total=size)
    with FileBody(path, bar.update, on_rewind=lambda: bar.reset(total=size)) as body:
        client.request("PUT", upload_url, body=body, headers={"Content-Type": content_type}, send_key=False)
    bar.refresh()


def follow_job(
    client: ApiClient,
    job_id: str,
    bar,
    poll_interval: float,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the job until it is final, moving the bar with its row counts. Raises TimeoutError."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = client.job(job_id)
        total = job.get("totalRows")
        done = (job.get("processedRows") or 0) + (job.get("errorRows") or 0) + (job.get("skippedRows") or 0)
        if isinstance(total, int) and bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix_str(f"{job.get('status')}, {job.get('errorRows') or 0} errors", refresh=False)
        bar.refresh()
        if job.get("status") in FINAL_STATUSES:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"job {job_id} is still {job.get('status')} after {timeout:g}s")
        sleep(poll_interval)


def job_lines(job: dict[str, Any], max_errors: int = 10) -> list[str]:
    """A job for people: status, counts, times, the first errors."""
    width = 10
    out = [f"{'job':<{width}} {job.get('jobId')}", f"{'status':<{width}} {job.get('status')}"]
    if job.get("fileId"):
        schema = f" (schema {job['schemaVersion']})" if job.get("schemaVersion") else ""
        out.append(f"{'file':<{width}} {job['fileId']}{schema}")
    total = job.get("totalRows")
    skipped = f", {job['skippedRows']} skipped" if job.get("skippedRows") is not None else ""
    out.append(
        f"{'rows':<{width}} {'unknown yet' if total is None else total} total, "
        f"{job.get('processedRows') or 0} processed, {job.get('errorRows') or 0} with errors{skipped}"
    )
    for key in ("createdAt", "startedAt", "completedAt"):
        if job.get(key):
            out.append(f"{key.removesuffix('At'):<{width}} {job[key]}")
    if job.get("failureReason"):
        out.append(f"{'failure':<{width}} {job['failureReason']}")
    errors = job.get("errors") or []
    if errors:
        count = job.get("errorRows") or len(errors)
        shown = errors[:max_errors]
        out.append(f"errors (first {len(shown)} of {count}):")
        out += [f"  row {e.get('row')}: {e.get('error')}" if isinstance(e, dict) else f"  {e}" for e in shown]
        if count > len(shown):
            out.append(f"  all of them: coatro errors {job.get('jobId')} --format csv")
    return out


def read_sample(path: Path, fmt: str, limit: int = PREVIEW_MAX_BYTES) -> tuple[str, bool]:
    """The start of a file as text for a preview: (sample, cut). A file over `limit` bytes is cut after
    its last whole line within the limit (NDJSON, CSV); a JSON document cannot be cut."""
    with path.open("rb") as f:
        data = f.read(limit + 1)
    cut = len(data) > limit
    if cut:
        end = data.rfind(b"\n", 0, limit)
        if fmt == "json" or end < 0:
            raise FormatError(
                f"{path.name} is over {limit // 1024} KiB and cannot be cut into whole rows; "
                "preview a smaller sample of it"
            )
        data = data[: end + 1]
    try:
        return data.decode("utf-8"), cut
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def preview_lines(result: dict[str, Any], max_errors: int = 50) -> list[str]:
    """A preview's row errors and counts, for people."""
    out = [f"row {e.get('row')}: {e.get('error')}" for e in (result.get("errors") or [])[:max_errors]]
    hidden = len(result.get("errors") or []) - max_errors
    if hidden > 0:
        out.append(f"... and {hidden} more errors (--json shows them all)")
    out.append(
        f"preview: {result.get('totalRows', 0)} rows, {result.get('processedRows', 0)} events, "
        f"{result.get('errorRows', 0)} with errors, {result.get('skippedRows') or 0} skipped; nothing was ingested"
    )
    return out


def iter_errors(client: ApiClient, job_id: str, page_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Every per-row error of a job, following nextPageToken (the first page read on first use)."""
    yield from iter_pages(
        client.job_errors_page(job_id, page_size, None),
        "errors",
        lambda token: client.job_errors_page(job_id, page_size, token),
        f"the errors of {job_id}",
    )


# Spreadsheets run a cell starting with one of these as a formula (CSV injection). OWASP ASVS 1.2.10:
# quote fields as RFC 4180 says (the csv module does) and put a single quote before such a first
# character, which Excel, LibreOffice and Sheets take as "this is text".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def spreadsheet_safe(cell: Any) -> Any:
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def write_csv(records: Iterable[dict[str, Any]], out: TextIO, columns: list[str]) -> int:
    """Records as CSV, streaming: RFC 4180 (CRLF, which also makes the writer quote a bare CR), every
    cell spreadsheet-safe; keys not in columns are left out. Returns how many."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    count = 0
    for record in records:
        writer.writerow([spreadsheet_safe(record.get(c)) for c in columns])
        count += 1
    return count


def write_json_array(records: Iterable[Any], out: TextIO) -> int:
    """Records as one JSON array, one per line, written as they arrive. Returns how many."""
    count = 0
    out.write("[")
    for record in records:
        out.write(("," if count else "") + "\n  " + json.dumps(record, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_errors(errors: Iterator[dict[str, Any]], out: TextIO, fmt: str) -> int:
    """Write errors as CSV (row,error) or a JSON array, streaming; returns how many."""
    return write_csv(errors, out, ["row", "error"]) if fmt == "csv" else write_json_array(errors, out)
