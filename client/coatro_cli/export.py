"""`coatro export plays`: a tenant's raw plays, either page by page through the cursor API
(GET /coatro/v1/pop/reports/plays) into one file, or as an export job (POST /coatro/v1/pop/exports/plays)
followed to its end and its files downloaded by their signed URLs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from coatro_cli.api import ApiClient, ApiError, _json

PLAYS_PATH = "/coatro/v1/pop/reports/plays"
EXPORTS_PATH = "/coatro/v1/pop/exports"
NEXT_CURSOR = "Coatro-Next-Cursor"
ACCEPT = {"ndjson": "application/x-ndjson", "csv": "text/csv"}
MAX_PAGES = 10_000_000


class ExportFailed(Exception):
    """The export job ended failed; the message is the server's reason."""


def filters(
    date: str | None,
    date_from: str | None,
    date_to: str | None,
    timezone: str | None,
    ids: dict[str, str | None],
) -> dict[str, str]:
    """The filters, named as the API names them (query parameters, and the export body's fields)."""
    out: dict[str, str] = {}
    for name, value in (("filter[date]", date), ("filter[from]", date_from), ("filter[to]", date_to)):
        if value:
            out[name] = value
    for name, value in ids.items():
        if value:
            out[f"filter[{name}]"] = value
    if timezone:
        out["timezone"] = timezone
    return out


def by_cursor(
    client: ApiClient,
    params: dict[str, str],
    fmt: str,
    out: IO[bytes],
    limit: int,
    advance: Callable[[int], None],
) -> int:
    """Every page of plays, in order, written to `out` as NDJSON or CSV (one header); the plays written."""
    cursor: str | None = None
    seen: set[str] = set()
    written = 0
    for page in range(MAX_PAGES):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        resp = client.request("GET", PLAYS_PATH, params=query, headers={"Accept": ACCEPT[fmt]})
        lines = resp.content.splitlines(keepends=True)
        if fmt == "csv" and lines:
            header, lines = lines[0], lines[1:]
            if page == 0:
                out.write(header)
        out.write(b"".join(lines))
        written += len(lines)
        advance(len(lines))
        cursor = resp.headers.get(NEXT_CURSOR)
        if not cursor:
            return written
        if cursor in seen:
            raise ApiError(200, "Unexpected response", "the server returned a cursor it returned before")
        seen.add(cursor)
    raise ApiError(200, "Unexpected response", f"more than {MAX_PAGES} pages")


def start_job(client: ApiClient, params: dict[str, str], fmt: str, zipped: bool) -> dict[str, Any]:
    # One key per run: a POST retried after a lost answer returns the same export, not a second one.
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    body = {**params, "format": fmt, "gzip": zipped}
    return _json(client.request("POST", f"{EXPORTS_PATH}/plays", json_body=body, headers=headers))


def wait_job(
    client: ApiClient,
    export: dict[str, Any],
    report: Callable[[dict[str, Any]], None],
    interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the export until it succeeded (returned) or failed (ExportFailed), reporting each state."""
    path = f"{EXPORTS_PATH}/{export['exportId']}"
    while True:
        report(export)
        if export["state"] == "succeeded":
            return export
        if export["state"] == "failed":
            raise ExportFailed(export.get("error") or "the export failed")
        sleep(interval)
        export = _json(client.request("GET", path))


def download(client: ApiClient, export: dict[str, Any], directory: Path) -> list[Path]:
    """Each file of a succeeded export into `directory` under its own name (written as .partial first)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in export["files"]:
        name = Path(f["name"]).name  # the server's name, never a path
        target = directory / name
        partial = target.with_name(name + ".partial")
        # The signed URL is not the API: it carries its own authority, and never our credential.
        resp = client.request("GET", f["url"], send_key=False)
        partial.write_bytes(resp.content)
        if f.get("bytes") is not None and len(resp.content) != f["bytes"]:
            raise ApiError(
                200, "Unexpected response", f"{name}: {len(resp.content)} bytes, expected {f['bytes']}"
            )
        partial.replace(target)
        paths.append(target)
    return paths
