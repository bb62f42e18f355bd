"""The screen registry over the API, tenant-scoped (docs/screens.md):

    PUT    /coatro/v1/pop/screens/{screenId}          create (201) or replace (200)
    GET    /coatro/v1/pop/screens/{screenId}          the current version (a retired screen too)
    DELETE /coatro/v1/pop/screens/{screenId}          retire: activeTo is now; the history stays
    GET    /coatro/v1/pop/screens                     current screens, filtered, a page at a time
    GET    /coatro/v1/pop/screens/{screenId}/history  every version, oldest first, a page at a time
    POST   /coatro/v1/pop/screens/import              many screens from CSV or NDJSON (importing.py)

Another tenant's screen is answered exactly as an unknown one (404). Writing needs `screens:write`,
reading `screens:read` (an API key holds both).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Request, Response
from pydantic import BaseModel

from shared.auth import callers
from shared.canonical.event import MAX_ID_LENGTH
from shared.platform import pages
from shared.platform.encoding import utc_now
from shared.platform.http import json_response, read_body_bytes, read_json_document
from shared.platform.problems import (
    FieldError,
    Problem,
    field_error,
    invalid,
    method_not_allowed,
    not_found,
    unsupported_media_type,
    validation_failed,
)
from shared.records.screens import ScreenRecord
from shared.screens import history, importing, reference, sync
from shared.screens.model import parse_screen
from shared.storage import firestore

BASE = "/coatro/v1/pop/screens"
MAX_SCREEN_BYTES = 64 * 1024  # a screen with every field and a full schedule is ~5 KiB
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 500
LIST_PARAMETERS = ("venueType", "market", "country", "active", "pageSize", "pageToken")
HISTORY_PARAMETERS = ("pageSize", "pageToken")
IMPORT = importing.IMPORT
_PATH = re.compile(r"^(?:/(?P<screen>[^/]+)(?P<history>/history)?)?/?$")
_DIGITS = re.compile(r"[0-9]{1,6}")


class ScreenList(BaseModel):
    screens: list[dict[str, Any]]
    nextPageToken: str | None


class ScreenHistory(BaseModel):
    screenId: str
    versions: list[dict[str, Any]]
    nextPageToken: str | None


def handle(request: Request) -> Response:
    """Route a request under BASE to its operation."""
    match = _PATH.match(request.path.removeprefix(BASE)) if request.path.startswith(BASE) else None
    if match is None:
        raise not_found(f"No API path {request.path}.")
    screen_id, history_path = match["screen"], bool(match["history"])
    if screen_id is None:
        operations = {"GET": lambda: list_screens(request)}
    elif history_path:
        operations = {"GET": lambda: screen_history(request, screen_id)}
    else:
        operations = {
            "GET": lambda: get_screen(request, screen_id),
            "PUT": lambda: put_screen(request, screen_id),
            "DELETE": lambda: retire_screen(request, screen_id),
        }
        if screen_id == IMPORT:  # a screen may still be called "import": it has no POST
            operations["POST"] = lambda: import_screens(request)
    if request.method not in operations:
        raise method_not_allowed(list(operations))
    return operations[request.method]()


def document(record: ScreenRecord) -> dict[str, Any]:
    """A version as the API shows it: the server-set fields, then the screen's own."""
    return {
        "screenId": record.screenId,
        "version": record.version,
        "validFrom": record.validFrom,
        "validTo": record.validTo,
        "activeTo": record.activeTo,
        "updatedAt": record.updatedAt,
        **record.fields,
    }


def _location(screen_id: str) -> str:
    return f"{BASE}/{screen_id}"


def _check_id(screen_id: str) -> None:
    if len(screen_id) > MAX_ID_LENGTH:
        raise validation_failed(
            "The screenId is too long.",
            [field_error("screenId", f"a screenId is 1 to {MAX_ID_LENGTH} characters")],
        )
    if screen_id == IMPORT:
        raise validation_failed(
            f"{IMPORT!r} is not a screenId: {BASE}/{IMPORT} is the import.",
            [field_error("screenId", importing.RESERVED_ID)],
        )


def put_screen(request: Request, screen_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.SCREENS_WRITE)
    _check_id(screen_id)
    body = read_json_document(request, MAX_SCREEN_BYTES)
    if isinstance(body, dict) and (found := firestore.screen_unstorable(body)):
        where, why = found  # as sent: validation must not change what is stored (a lone surrogate)
        said = f"{where or 'the screen'} {why}"
        raise validation_failed(
            f"The screen cannot be stored as sent: {said}.", [field_error(where or None, said)]
        )
    parsed = parse_screen(screen_id, body)
    if isinstance(parsed, list):
        raise _invalid(parsed)
    fields = parsed.stored()
    before, written = firestore.change_screen(
        tenant_id, screen_id, lambda current: history.put(current, tenant_id, screen_id, fields, utc_now())
    )
    if written is None:  # the same screen again: nothing changes
        assert before is not None
        return json_response(200, document(before))
    sync.export_versions([written.opened])  # after the commit; on failure the sweeper retries it
    if before is None:
        return json_response(201, document(written.opened), headers={"Location": _location(screen_id)})
    return json_response(200, document(written.opened))


def import_screens(request: Request, on_committed: importing.OnCommitted | None = None) -> Response:
    """Many screens from a CSV or NDJSON body, each row as a PUT; 200 with the counts and row errors.
    `on_committed` is told each committed batch's outbox document and the versions it opened: by
    default their rows are written to BigQuery during the request, a few batches per insert
    (`sync.BatchExporter`; the sweeper retries a batch whose export failed)."""
    tenant_id = callers.tenant_for(request, callers.SCREENS_WRITE)
    if request.mimetype in importing.CSV_TYPES:
        csv_format = True
    elif request.mimetype in importing.NDJSON_TYPES:
        csv_format = False
    else:
        raise unsupported_media_type("Content-Type must be text/csv or application/x-ndjson.")
    data = read_body_bytes(request, importing.MAX_BYTES)
    importing.check_size(data, csv_format)
    rows = importing.csv_rows(data) if csv_format else importing.ndjson_rows(data)
    exporter = sync.BatchExporter()
    try:
        outcome = importing.import_screens(tenant_id, rows, on_committed or exporter)
    finally:
        exporter.flush()  # what was committed, even if the import then failed
    return json_response(200, outcome.body())


def get_screen(request: Request, screen_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.SCREENS_READ)
    return json_response(200, document(_current(tenant_id, screen_id)))


def retire_screen(request: Request, screen_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.SCREENS_WRITE)
    _current(tenant_id, screen_id)

    def change(current: ScreenRecord | None) -> history.Transition | None:
        if current is None:  # deleted between the read and the transaction: still a 404 below
            return None
        return history.retire(current, utc_now())

    before, written = firestore.change_screen(tenant_id, screen_id, change)
    if before is None:
        raise _unknown(screen_id)
    if written is None:  # retired already
        return json_response(200, document(before))
    sync.export_versions([written.opened])  # after the commit; on failure the sweeper retries it
    return json_response(200, document(written.opened))


def list_screens(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.SCREENS_READ)
    _check_parameters(request, LIST_PARAMETERS)
    filters, errors = _filters(request)
    size, after = _page(request, errors)
    if errors:
        raise validation_failed("The query is invalid: " + "; ".join(e["message"] for e in errors), errors)
    page = firestore.list_screens(tenant_id, filters, after, size + 1)
    more = len(page) > size
    page = page[:size]
    token = pages.token_for(page[-1].screenId) if more else None
    return json_response(200, ScreenList(screens=[document(r) for r in page], nextPageToken=token))


def screen_history(request: Request, screen_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.SCREENS_READ)
    _check_parameters(request, HISTORY_PARAMETERS)
    errors: list[FieldError] = []
    size, after = _page(request, errors)
    if errors:
        raise validation_failed("The query is invalid: " + "; ".join(e["message"] for e in errors), errors)
    if after is not None and not _DIGITS.fullmatch(after):
        raise _bad_token()
    _current(tenant_id, screen_id)
    page = firestore.screen_versions(tenant_id, screen_id, int(after) if after else None, size + 1)
    more = len(page) > size
    page = page[:size]
    token = pages.token_for(str(page[-1].version)) if more else None
    return json_response(
        200, ScreenHistory(screenId=screen_id, versions=[document(r) for r in page], nextPageToken=token)
    )


def _current(tenant_id: str, screen_id: str) -> ScreenRecord:
    record = firestore.get_screen(tenant_id, screen_id) if len(screen_id) <= MAX_ID_LENGTH else None
    if record is None:  # the same answer for another tenant's screen
        raise _unknown(screen_id)
    return record


def _unknown(screen_id: str) -> Problem:
    return not_found(f"No screen {screen_id[:MAX_ID_LENGTH]!r} exists for this API key; see GET {BASE}.")


def _check_parameters(request: Request, known: tuple[str, ...]) -> None:
    unknown = sorted({k for k in request.args if k not in known and k not in callers.CREDENTIAL_PARAMETERS})
    if unknown:
        raise validation_failed(
            f"Unknown query parameter {', '.join(unknown)}; this endpoint takes {', '.join(known)}.",
            [field_error(name, f"unknown parameter; use {', '.join(known)}") for name in unknown],
        )


def _filters(request: Request) -> tuple[dict[str, Any], list[FieldError]]:
    filters: dict[str, Any] = {}
    errors: list[FieldError] = []
    if (venue := request.args.get("venueType")) is not None:
        if _DIGITS.fullmatch(venue) and int(venue) in reference.venue_types():
            filters["venueType"] = int(venue)
        else:
            errors.append(
                field_error("venueType", f"venueType {venue[:20]!r} is not an OpenOOH venue type id")
            )
    if (market := request.args.get("market")) is not None:
        if 1 <= len(market) <= 256:
            filters["market"] = market
        else:
            errors.append(field_error("market", "market is 1 to 256 characters"))
    if (country := request.args.get("country")) is not None:
        if country in reference.countries():
            filters["country"] = country
        else:
            errors.append(
                field_error("country", f"country {country[:20]!r} is not an ISO 3166-1 alpha-2 code")
            )
    if (active := request.args.get("active")) is not None:
        if active in ("true", "false"):
            filters["active"] = active == "true"
        else:
            errors.append(field_error("active", "active is true or false"))
    return filters, errors


def _page(request: Request, errors: list[FieldError]) -> tuple[int, str | None]:
    size = pages.page_size(request.args.get("pageSize"), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if size is None:
        errors.append(field_error("pageSize", f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}"))
    token = request.args.get("pageToken")
    return size or DEFAULT_PAGE_SIZE, _decode(token) if token else None


def _decode(token: str) -> str:
    position = pages.position_of(token)
    if position is None or not 1 <= len(position) <= MAX_ID_LENGTH or "/" in position:
        raise _bad_token()
    return position


def _bad_token() -> Problem:
    return validation_failed(
        "pageToken is not one this API returned.",
        [field_error("pageToken", "pageToken is not one this API returned")],
    )


def _invalid(errors: list[FieldError]) -> Problem:
    return invalid("The screen", errors)
