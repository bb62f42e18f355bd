"""Bookings over the API, tenant-scoped (docs/bookings.md):

    PUT    /coatro/v1/pop/bookings/{bookingId}          create (201) or replace (200)
    GET    /coatro/v1/pop/bookings/{bookingId}          the current version (a cancelled booking too)
    DELETE /coatro/v1/pop/bookings/{bookingId}          cancel: cancelledAt is now; the history stays
    GET    /coatro/v1/pop/bookings                      current bookings, filtered, a page at a time
    GET    /coatro/v1/pop/bookings/{bookingId}/history  every version, oldest first, a page at a time

Another tenant's booking is answered exactly as an unknown one (404). Writing needs
`bookings:write`, reading `bookings:read` (an API key holds both). Shaped as the screens API
(shared/screens/api.py) is.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Request, Response
from pydantic import BaseModel

from shared.auth import callers
from shared.bookings import history
from shared.bookings.model import parse_booking
from shared.canonical.event import MAX_ID_LENGTH
from shared.platform import pages
from shared.platform.encoding import utc_now
from shared.platform.http import json_response, read_json_document
from shared.platform.problems import (
    FieldError,
    Problem,
    field_error,
    invalid,
    method_not_allowed,
    not_found,
    validation_failed,
)
from shared.records.bookings import BookingRecord
from shared.storage import bookings as storage

BASE = "/coatro/v1/pop/bookings"
MAX_BOOKING_BYTES = 512 * 1024  # 5,000 target screen ids of 100 characters
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 500
LIST_PARAMETERS = ("campaignId", "active", "pageSize", "pageToken")
HISTORY_PARAMETERS = ("pageSize", "pageToken")
_PATH = re.compile(r"^(?:/(?P<booking>[^/]+)(?P<history>/history)?)?/?$")
_DIGITS = re.compile(r"[0-9]{1,6}")


class BookingList(BaseModel):
    bookings: list[dict[str, Any]]
    nextPageToken: str | None


class BookingHistory(BaseModel):
    bookingId: str
    versions: list[dict[str, Any]]
    nextPageToken: str | None


def handle(request: Request) -> Response:
    """Route a request under BASE to its operation."""
    match = _PATH.match(request.path.removeprefix(BASE)) if request.path.startswith(BASE) else None
    if match is None:
        raise not_found(f"No API path {request.path}.")
    booking_id, history_path = match["booking"], bool(match["history"])
    if booking_id is None:
        operations = {"GET": lambda: list_bookings(request)}
    elif history_path:
        operations = {"GET": lambda: booking_history(request, booking_id)}
    else:
        operations = {
            "GET": lambda: get_booking(request, booking_id),
            "PUT": lambda: put_booking(request, booking_id),
            "DELETE": lambda: cancel_booking(request, booking_id),
        }
    if request.method not in operations:
        raise method_not_allowed(list(operations))
    return operations[request.method]()


def document(record: BookingRecord) -> dict[str, Any]:
    """A version as the API shows it: the server-set fields, then the booking's own."""
    return {
        "bookingId": record.bookingId,
        "version": record.version,
        "validFrom": record.validFrom,
        "validTo": record.validTo,
        "cancelledAt": record.cancelledAt,
        "updatedAt": record.updatedAt,
        **record.fields,
    }


def _check_id(booking_id: str) -> None:
    if len(booking_id) > MAX_ID_LENGTH:
        raise validation_failed(
            "The bookingId is too long.",
            [field_error("bookingId", f"a bookingId is 1 to {MAX_ID_LENGTH} characters")],
        )


def put_booking(request: Request, booking_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.BOOKINGS_WRITE)
    _check_id(booking_id)
    body = read_json_document(request, MAX_BOOKING_BYTES)
    if isinstance(body, dict) and (found := storage.booking_unstorable(body)):
        where, why = found
        said = f"{where or 'the booking'} {why}"
        raise validation_failed(
            f"The booking cannot be stored as sent: {said}.", [field_error(where or None, said)]
        )
    parsed = parse_booking(booking_id, body)
    if isinstance(parsed, list):
        raise invalid("The booking", parsed)
    fields = parsed.stored()
    before, written = storage.change_booking(
        tenant_id, booking_id, lambda current: history.put(current, tenant_id, booking_id, fields, utc_now())
    )
    if written is None:  # the same booking again: nothing changes
        assert before is not None
        return json_response(200, document(before))
    if before is None:
        return json_response(201, document(written.opened), headers={"Location": f"{BASE}/{booking_id}"})
    return json_response(200, document(written.opened))


def get_booking(request: Request, booking_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.BOOKINGS_READ)
    return json_response(200, document(_current(tenant_id, booking_id)))


def cancel_booking(request: Request, booking_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.BOOKINGS_WRITE)
    _current(tenant_id, booking_id)

    def change(current: BookingRecord | None) -> history.Transition | None:
        return None if current is None else history.cancel(current, utc_now())

    before, written = storage.change_booking(tenant_id, booking_id, change)
    if before is None:
        raise _unknown(booking_id)
    if written is None:  # cancelled already
        return json_response(200, document(before))
    return json_response(200, document(written.opened))


def list_bookings(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.BOOKINGS_READ)
    _check_parameters(request, LIST_PARAMETERS)
    errors: list[FieldError] = []
    filters: dict[str, Any] = {}
    if (campaign := request.args.get("campaignId")) is not None:
        if 1 <= len(campaign) <= MAX_ID_LENGTH:
            filters["campaignId"] = campaign
        else:
            errors.append(field_error("campaignId", f"campaignId is 1 to {MAX_ID_LENGTH} characters"))
    if (active := request.args.get("active")) is not None:
        if active in ("true", "false"):
            filters["active"] = active == "true"
        else:
            errors.append(field_error("active", "active is true or false"))
    size, after = _page(request, errors)
    if errors:
        raise validation_failed("The query is invalid: " + "; ".join(e["message"] for e in errors), errors)
    page = storage.list_bookings(tenant_id, filters, after, size + 1)
    more = len(page) > size
    page = page[:size]
    token = pages.token_for(page[-1].bookingId) if more else None
    return json_response(200, BookingList(bookings=[document(r) for r in page], nextPageToken=token))


def booking_history(request: Request, booking_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.BOOKINGS_READ)
    _check_parameters(request, HISTORY_PARAMETERS)
    errors: list[FieldError] = []
    size, after = _page(request, errors)
    if errors:
        raise validation_failed("The query is invalid: " + "; ".join(e["message"] for e in errors), errors)
    if after is not None and not _DIGITS.fullmatch(after):
        raise _bad_token()
    _current(tenant_id, booking_id)
    page = storage.booking_versions(tenant_id, booking_id, int(after) if after else None, size + 1)
    more = len(page) > size
    page = page[:size]
    token = pages.token_for(str(page[-1].version)) if more else None
    return json_response(
        200,
        BookingHistory(bookingId=booking_id, versions=[document(r) for r in page], nextPageToken=token),
    )


def _current(tenant_id: str, booking_id: str) -> BookingRecord:
    record = storage.get_booking(tenant_id, booking_id) if len(booking_id) <= MAX_ID_LENGTH else None
    if record is None:  # the same answer for another tenant's booking
        raise _unknown(booking_id)
    return record


def _unknown(booking_id: str) -> Problem:
    return not_found(f"No booking {booking_id[:MAX_ID_LENGTH]!r} exists for this API key; see GET {BASE}.")


def _check_parameters(request: Request, known: tuple[str, ...]) -> None:
    unknown = sorted({k for k in request.args if k not in known and k not in callers.CREDENTIAL_PARAMETERS})
    if unknown:
        raise validation_failed(
            f"Unknown query parameter {', '.join(unknown)}; this endpoint takes {', '.join(known)}.",
            [field_error(name, f"unknown parameter; use {', '.join(known)}") for name in unknown],
        )


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
