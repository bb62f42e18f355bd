"""Raw plays: `GET /coatro/v1/pop/reports/plays`, a tenant's plays one page at a time, behind an
opaque, tamper-proof cursor; and the one query and row shape that the export job writes too
(shared/reports/exports.py), so an export's rows are the cursor's rows (docs/plays-export.md).

Which plays: exactly those the delivery report counts. Each event once per (tenantId, eventId), the
first delivery published winning, with the delivery report's own CTEs (`delivery.first_deliveries`:
a copy re-sent within the dedup horizon, whatever its playedAt, does not count again); the id
filters apply after.

Order: `playedAt`, then `eventId` (unique after deduplication), so a position is one (playedAt,
eventId) pair and a page is "the next `limit` plays after it" (keyset pagination: no OFFSET, a page
costs the same wherever it is, and plays that arrive meanwhile before the position are not
re-served and never shift later pages).

The cursor is `base64url(payload) "." base64url(HMAC-SHA256(cursor_secret, payload))`, the payload a
small JSON of the tenant, a digest of the filters and the position. A cursor that was altered, was
issued to another tenant, or was issued for other filters is a 400 naming `cursor`: the caller can
neither forge a position nor widen a query through it (RFC 2104 HMAC; compared in constant time).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from google.cloud import bigquery
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from werkzeug.datastructures import MultiDict

from shared.auth.callers import CREDENTIAL_PARAMETERS
from shared.platform import clients
from shared.platform.encoding import iso_utc
from shared.platform.problems import FieldError, Problem, field_error, unavailable, validation_failed
from shared.platform.settings import get_settings
from shared.platform.timezones import iana_zone
from shared.reports.delivery import first_deliveries, raw_parameters
from shared.reports.params import (
    DIMENSIONS,
    FILTERS,
    MAX_DAYS,
    SCREEN_ZONE,
    Day,
    Id,
    _days_given,
    _refused,
    _whole_number,
    _zone,
)

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000
CURSOR_VERSION = 1
# The columns of a play, in the order of a CSV export's header and of every JSON object.
COLUMNS = (
    "eventId",
    "playedAt",
    *DIMENSIONS,
    "durationMs",
    "plannedDurationMs",
    "playCount",
    "impressions",
    "source",
    "jobId",
)


@dataclass(frozen=True)
class PlaysQuery:
    """Which plays: the days (in `timezone`), the id filters. The same for the cursor API and an export."""

    first_day: date
    last_day: date  # inclusive
    timezone: str = "UTC"
    filters: dict[str, str] = field(default_factory=dict)  # dimension -> id

    def window(self) -> tuple[datetime, datetime]:
        """[start, end) of `playedAt` in UTC: midnight of the first day to midnight after the last, in the zone."""
        zone = iana_zone(self.timezone)
        start = datetime.combine(self.first_day, time(), zone)
        end = datetime.combine(self.last_day + timedelta(days=1), time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def described(self) -> dict[str, Any]:
        """The query as plain data (in an export's record, and what a cursor's digest covers)."""
        return {
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "timezone": self.timezone,
            "filters": dict(sorted(self.filters.items())),
        }

    def digest(self) -> str:
        text = json.dumps(self.described(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @classmethod
    def from_described(cls, data: dict[str, Any]) -> PlaysQuery:
        return cls(
            date.fromisoformat(data["from"]),
            date.fromisoformat(data["to"]),
            data["timezone"],
            dict(data["filters"]),
        )


class Position(BaseModel):
    """The last play served: the next page starts after it."""

    model_config = ConfigDict(frozen=True)

    playedAt: int  # microseconds since the epoch, UTC
    eventId: str


# ---- parameters


def _plays_zone(value: object) -> str:
    if value == SCREEN_ZONE:
        raise _refused("Input should be an IANA time zone, e.g. Europe/Paris (screen is for reports only)")
    return _zone(value)


class PlaysParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    day: Day | None = Field(None, alias="filter[date]")
    day_from: Day | None = Field(None, alias="filter[from]")
    day_to: Day | None = Field(None, alias="filter[to]")
    timezone: Annotated[str, BeforeValidator(_plays_zone)] = "UTC"
    filters: dict[str, Id] = Field(default_factory=dict)
    limit: Annotated[int, BeforeValidator(_whole_number(MAX_LIMIT))] = DEFAULT_LIMIT
    cursor: str | None = None

    @field_validator("day_to")
    @classmethod
    def _after_the_first_day(cls, last: date | None, info: ValidationInfo) -> date | None:
        first = info.data.get("day_from")
        if last is None or first is None:
            return last
        if last < first:
            raise _refused("Should not be before filter[from]")
        if (last - first).days + 1 > MAX_DAYS:
            raise _refused(f"At most {MAX_DAYS} days")
        return last

    def query(self) -> PlaysQuery:
        first, last = (self.day, self.day) if self.day else (self.day_from, self.day_to)
        assert first is not None and last is not None
        return PlaysQuery(first, last, self.timezone, dict(self.filters))


PARAMETERS = ["filter[date]", "filter[from]", "filter[to]", "timezone", *FILTERS, "limit", "cursor"]


def _parameter(loc: tuple[int | str, ...]) -> str:
    return f"filter[{loc[1]}]" if loc[0] == "filters" else str(loc[0])


def check_parameters(values: dict[str, Any], errors: list[FieldError]) -> PlaysParameters:
    """The parameters (a dict by the names they are sent under, filters given as `filters`), or a 400
    naming every bad one (and those already in `errors`)."""
    checked = _days_given(values.keys())
    if "filter[date]" in values:
        values.pop("filter[from]", None)
        values.pop("filter[to]", None)
    parameters = None
    try:
        parameters = PlaysParameters.model_validate(values)
    except ValidationError as exc:
        checked += [field_error(_parameter(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
    errors = errors + sorted(checked, key=lambda e: PARAMETERS.index(str(e["field"])))
    if errors or parameters is None:
        names = ", ".join(dict.fromkeys(str(e["field"]) for e in errors))
        raise validation_failed(f"Invalid parameter(s): {names}.", errors)
    return parameters


def parse(args: MultiDict[str, str]) -> PlaysParameters:
    """The query parameters of `GET .../reports/plays`; unknown or repeated ones are errors."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for name in args:
        given = args.getlist(name)
        if name not in PARAMETERS and name not in CREDENTIAL_PARAMETERS:
            errors.append(field_error(name, "Unknown parameter"))
        elif len(given) > 1:
            errors.append(field_error(name, "Give this parameter once"))
        elif name not in CREDENTIAL_PARAMETERS:
            values[name] = given[0]
    values["filters"] = {FILTERS[name]: values.pop(name) for name in FILTERS if name in values}
    return check_parameters(values, errors)


# ---- the cursor


def _secret() -> bytes:
    secret = get_settings().cursor_secret
    if not secret:
        raise unavailable("Play cursors are not configured on this server (cursor_secret).", 60)
    return secret.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def sign(purpose: str, payload: bytes) -> bytes:
    """HMAC-SHA256 of `payload` under the server's secret, for one purpose (a cursor, an export id)."""
    return hmac.new(_secret(), purpose.encode() + b"\0" + payload, hashlib.sha256).digest()


def encode_cursor(tenant_id: str, query: PlaysQuery, position: Position) -> str:
    payload = json.dumps(
        {
            "v": CURSOR_VERSION,
            "t": tenant_id,
            "q": query.digest(),
            "p": [position.playedAt, position.eventId],
        },
        separators=(",", ":"),
    ).encode()
    return _b64(payload) + "." + _b64(sign("cursor", payload))


def _bad_cursor(message: str) -> Problem:
    return validation_failed(f"Invalid parameter(s): cursor. {message}", [field_error("cursor", message)])


def decode_cursor(tenant_id: str, query: PlaysQuery, cursor: str) -> Position:
    """The position a cursor holds, if this server issued it to this tenant for this query; else a 400."""
    head, _, mac = cursor.partition(".")
    try:
        payload, signature = _unb64(head), _unb64(mac)
    except (ValueError, binascii.Error):
        raise _bad_cursor("Not a cursor this API returned.") from None
    # Only the one spelling this server writes: base64 would also take other final characters.
    canonical = _b64(payload) == head and _b64(signature) == mac
    if not canonical or not hmac.compare_digest(signature, sign("cursor", payload)):
        raise _bad_cursor("Not a cursor this API returned.")
    data = json.loads(payload)
    if data.get("t") != tenant_id:
        raise _bad_cursor("This cursor was issued to another caller.")
    if data.get("v") != CURSOR_VERSION or data.get("q") != query.digest():
        raise _bad_cursor("This cursor belongs to other filters: repeat the request's filters with it.")
    played, event = data["p"]
    return Position(playedAt=played, eventId=event)


# ---- the query


_PLAYS = """
WITH {first_deliveries}
SELECT eventId, {dimensions}, playedAt, durationMs, plannedDurationMs, playCount, impressions, source, jobId,
  UNIX_MICROS(playedAt) AS playedMicros
FROM events
WHERE {filters} AND {after}
ORDER BY playedAt, eventId
{limit}"""


def sql(query: PlaysQuery, after: bool, limit: bool) -> str:
    filters = [f"{d} = @{d}" for d in DIMENSIONS if d in query.filters]
    return _PLAYS.format(
        dimensions=", ".join(DIMENSIONS),
        # The delivery report's deduplicated events (delivery.first_deliveries), with the columns a play
        # has besides; the CTE list ends here, so without its trailing comma.
        first_deliveries=first_deliveries(clients.events_table(), extra=("eventId", "source", "jobId"))
        .rstrip()
        .removesuffix(","),
        filters=" AND ".join(filters) or "TRUE",
        # A position is (playedAt, eventId); UNIX_MICROS keeps it an exact integer through JSON.
        after="(UNIX_MICROS(playedAt) > @afterMicros OR (UNIX_MICROS(playedAt) = @afterMicros AND eventId > @afterId))"
        if after
        else "TRUE",
        limit="LIMIT @limit" if limit else "",
    )


def config(
    tenant_id: str, query: PlaysQuery, after: Position | None, limit: int | None
) -> bigquery.QueryJobConfig:
    start, end = query.window()
    parameters = [
        bigquery.ScalarQueryParameter("tenantId", "STRING", tenant_id),
        *raw_parameters(start, end),
        *(bigquery.ScalarQueryParameter(d, "STRING", v) for d, v in query.filters.items()),
    ]
    if after is not None:
        parameters += [
            bigquery.ScalarQueryParameter("afterMicros", "INT64", after.playedAt),
            bigquery.ScalarQueryParameter("afterId", "STRING", after.eventId),
        ]
    if limit is not None:
        parameters.append(bigquery.ScalarQueryParameter("limit", "INT64", limit))
    return bigquery.QueryJobConfig(
        query_parameters=parameters, maximum_bytes_billed=get_settings().report_max_bytes_billed
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def play(result: Any) -> tuple[dict[str, Any], Position]:
    """One result row as the API and the export serve it, and its position."""
    r = {name.lower(): value for name, value in result.items()}
    impressions = r["impressions"]
    buckets = (impressions or {}).get("ageBuckets") if isinstance(impressions, dict) else None
    out: dict[str, Any] = {
        "eventId": r["eventid"],
        "playedAt": iso_utc(r["playedat"], "microseconds"),
        **{d: r[d.lower()] for d in DIMENSIONS},
        "durationMs": r["durationms"],
        "plannedDurationMs": r["planneddurationms"],
        "playCount": r["playcount"],
        "impressions": None
        if buckets is None
        else {"ageBuckets": {k: _number(buckets.get(k)) for k in ("total", "male", "female")}},
        "source": r["source"],
        "jobId": r["jobid"],
    }
    return out, Position(playedAt=int(r["playedmicros"]), eventId=r["eventid"])


@dataclass
class PlaysPage:
    plays: list[dict[str, Any]]
    next_cursor: str | None


def plays_page(tenant_id: str, parameters: PlaysParameters) -> PlaysPage:
    query = parameters.query()
    after = decode_cursor(tenant_id, query, parameters.cursor) if parameters.cursor else None
    # One more than asked: whether there is a next page, without an empty last one.
    results = clients.bigquery().query_and_wait(
        sql(query, after is not None, True), job_config=config(tenant_id, query, after, parameters.limit + 1)
    )
    rows = [play(r) for r in results]
    more = len(rows) > parameters.limit
    rows = rows[: parameters.limit]
    cursor = encode_cursor(tenant_id, query, rows[-1][1]) if more else None
    return PlaysPage([p for p, _ in rows], cursor)


def all_plays(
    tenant_id: str, query: PlaysQuery, after: Position | None, page_size: int = 10_000
) -> Iterator[tuple[dict[str, Any], Position]]:
    """Every play after `after`, in order, from one query read a page of results at a time (memory
    holds one page)."""
    job = clients.bigquery().query(
        sql(query, after is not None, False), job_config=config(tenant_id, query, after, None)
    )
    for result in job.result(page_size=page_size):
        yield play(result)


# ---- formats


NDJSON, CSV, JSON = "application/x-ndjson", "text/csv", "application/json"


def ndjson_line(p: dict[str, Any]) -> str:
    return json.dumps(p, separators=(",", ":")) + "\n"


def csv_header() -> str:
    return _csv_line(list(COLUMNS))


def csv_line(p: dict[str, Any]) -> str:
    """A play as a CSV record (RFC 4180): a null is an empty field, impressions its JSON."""
    return _csv_line(
        [
            "" if p[c] is None else json.dumps(p[c], separators=(",", ":")) if c == "impressions" else p[c]
            for c in COLUMNS
        ]
    )


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def read_csv_play(record: dict[str, str]) -> dict[str, Any]:
    """A CSV record back as a play (for clients and tests): the inverse of csv_line."""
    ints = ("durationMs", "plannedDurationMs", "playCount")
    out: dict[str, Any] = {}
    for c in COLUMNS:
        text = record[c]
        if text == "":
            out[c] = None
        elif c in ints:
            out[c] = int(text)
        elif c == "impressions":
            out[c] = json.loads(text)
        else:
            out[c] = text
    return out
