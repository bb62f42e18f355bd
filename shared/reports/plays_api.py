"""The raw plays endpoints of the reports function (docs/plays-export.md):

- `GET /coatro/v1/pop/reports/plays`: a page of plays and the cursor of the next, as JSON
  (`{"plays": [...], "nextCursor": ...}`), or by `Accept` as NDJSON or CSV (the next cursor then in
  the `Coatro-Next-Cursor` header, absent on the last page);
- `POST /coatro/v1/pop/exports/plays`: starts an export (202, `Location` of its status);
- `GET /coatro/v1/pop/exports/{exportId}`: its state, progress and, once it succeeded, signed URLs.

All need `reports:read`; the tenant is the credential's.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Request, Response
from pydantic import BaseModel

from shared.auth import callers
from shared.platform.http import json_response, read_json
from shared.platform.problems import method_not_allowed, not_found
from shared.reports import exports, plays

PLAYS_PATH = "/coatro/v1/pop/reports/plays"
EXPORTS_PATH = "/coatro/v1/pop/exports"
_EXPORT = re.compile(r"^/coatro/v1/pop/exports/(?P<id>[0-9a-f]{1,64})/?$")
NEXT_CURSOR_HEADER = "Coatro-Next-Cursor"


class PlaysBody(BaseModel):
    plays: list[dict[str, Any]]
    nextCursor: str | None
    limit: int


def plays_page(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.REPORTS_READ)
    parameters = plays.parse(request.args)
    page = plays.plays_page(tenant_id, parameters)
    kind = request.accept_mimetypes.best_match([plays.JSON, plays.NDJSON, plays.CSV], default=plays.JSON)
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}
    if kind == plays.NDJSON:
        return Response(
            "".join(plays.ndjson_line(p) for p in page.plays), 200, headers, mimetype=plays.NDJSON
        )
    if kind == plays.CSV:
        text = plays.csv_header() + "".join(plays.csv_line(p) for p in page.plays)
        return Response(text, 200, headers, content_type="text/csv; charset=utf-8; header=present")
    return json_response(
        200, PlaysBody(plays=page.plays, nextCursor=page.next_cursor, limit=parameters.limit)
    )


def start_export(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.REPORTS_READ)
    body = read_json(request)
    record, created = exports.start_export(tenant_id, body, request.headers.get("Idempotency-Key"))
    view = exports.export_view(tenant_id, record.exportId)
    location = f"{EXPORTS_PATH}/{record.exportId}"
    return json_response(202 if created else 200, view, {"Location": location})


def export_status(request: Request, export_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.REPORTS_READ)
    view = exports.export_view(tenant_id, export_id)
    headers = {} if view.state in ("succeeded", "failed") else {"Retry-After": "5"}
    return json_response(200, view, headers)


def handle(request: Request) -> Response | None:
    """The response for a plays or exports path; None for any other path (the delivery report's)."""
    path = request.path.rstrip("/")
    if path == PLAYS_PATH:
        if request.method != "GET":
            raise method_not_allowed(["GET"])
        return plays_page(request)
    if path == f"{EXPORTS_PATH}/plays":
        if request.method != "POST":
            raise method_not_allowed(["POST"])
        return start_export(request)
    if path.startswith(EXPORTS_PATH + "/"):
        match = _EXPORT.match(path)
        if match is None:
            raise not_found(f"No export {path.rsplit('/', 1)[-1]!r}.")
        if request.method != "GET":
            raise method_not_allowed(["GET"])
        return export_status(request, match["id"])
    return None
