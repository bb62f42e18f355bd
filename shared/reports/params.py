"""The query parameters of `GET /coatro/v1/pop/reports/delivery`, checked into one `DeliveryQuery`.

Every bad parameter is a 400 problem+json whose `errors` name it (`{"index": null, "field":
"filter[from]", "message": ...}`), all of them at once, as the events endpoint reports every invalid
event. An unknown parameter is an error too: a misspelt filter would otherwise widen the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from werkzeug.datastructures import MultiDict

from shared.canonical.event import ID_FIELDS, MAX_ID_LENGTH
from shared.platform.problems import FieldError, field_error, validation_failed
from shared.platform.timezones import iana_zone, is_iana_zone

# The ids a report filters and groups by: the canonical event's, but its own (campaignId, creativeId,
# screenId, siteId). The CLI keeps a copy (client/coatro_cli/report.py; tests/client checks it).
DIMENSIONS = tuple(sorted(set(ID_FIELDS) - {"eventId"}))
GROUP_KEYS = ("date", *DIMENSIONS)
DEFAULT_GROUP_BY = ("date", "campaignId")
MAX_DAYS = 92
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000_000  # keeps the offset a BigQuery INT64
# The days a report may cover. The window of any of them, in any zone (at most 26 hours from UTC), is
# a datetime and a BigQuery TIMESTAMP; a day near year 1 or 9999 overflowed in a zone east or west of UTC.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # [0-9]: ASCII digits only, unlike \d
_DIGITS = re.compile(r"[0-9]{1,12}")
# Not part of the report: the OAuth2 access token, which the gateway also accepts as a query parameter.
CREDENTIAL_PARAMETERS = ("access_token",)
KNOWN = {
    "filter[date]",
    "filter[from]",
    "filter[to]",
    "timezone",
    "groupBy",
    "page",
    "per_page",
    *(f"filter[{d}]" for d in DIMENSIONS),
    *CREDENTIAL_PARAMETERS,
}


@dataclass(frozen=True)
class DeliveryQuery:
    first_day: date
    last_day: date  # inclusive
    timezone: str = "UTC"
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    filters: dict[str, str] = field(default_factory=dict)  # dimension -> id
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def window(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: midnight of the first day to midnight after the last, in the timezone."""
        zone = iana_zone(self.timezone)
        start = datetime.combine(self.first_day, time(), zone)
        end = datetime.combine(self.last_day + timedelta(days=1), time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def _error(parameter: str, message: str) -> FieldError:
    return field_error(parameter, message)


def _parse_day(name: str, value: str, errors: list[FieldError]) -> date | None:
    """Strictly YYYY-MM-DD in ASCII digits (date.fromisoformat also takes 2025-W10-1 and 20250101),
    from FIRST_DAY to LAST_DAY; else None and an error naming the parameter."""
    try:
        if not _DAY.fullmatch(value):
            raise ValueError
        day = date.fromisoformat(value)
        if FIRST_DAY <= day <= LAST_DAY:
            return day
    except ValueError:
        pass
    errors.append(_error(name, f"Input should be a date, YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}"))
    return None


def _positive(value: str) -> int:
    """A whole number in ASCII digits: int() would also take " 5", "+5", "1_000" and other scripts' digits."""
    if not _DIGITS.fullmatch(value):
        raise ValueError
    return int(value)


def parse(args: MultiDict) -> DeliveryQuery:
    """A DeliveryQuery from the request's query parameters, or a 400 naming every bad one."""
    errors = []
    values: dict[str, str] = {}
    for name in args:
        given = args.getlist(name)
        if name not in KNOWN:
            errors.append(_error(name, "Unknown parameter"))
        elif len(given) > 1:
            errors.append(_error(name, "Give this parameter once"))
        else:
            values[name] = given[0]

    first = last = None
    if "filter[date]" in values:
        if "filter[from]" in values or "filter[to]" in values:
            errors.append(
                _error("filter[date]", "Give either filter[date] or filter[from] and filter[to], not both")
            )
        first = last = _parse_day("filter[date]", values["filter[date]"], errors)
    elif "filter[from]" not in values and "filter[to]" not in values:
        errors.append(_error("filter[date]", "A report needs filter[date], or filter[from] and filter[to]"))
    else:
        for name in ("filter[from]", "filter[to]"):
            if name not in values:
                errors.append(
                    _error(
                        name, "Required with " + ("filter[to]" if name == "filter[from]" else "filter[from]")
                    )
                )
                continue
            day = _parse_day(name, values[name], errors)
            if day is None:
                continue
            first, last = (day, last) if name == "filter[from]" else (first, day)
        if first and last:
            if last < first:
                errors.append(_error("filter[to]", "Should not be before filter[from]"))
            elif (last - first).days + 1 > MAX_DAYS:
                errors.append(_error("filter[to]", f"A report covers at most {MAX_DAYS} days"))

    zone = values.get("timezone", "UTC")
    if not is_iana_zone(zone):  # not posixrules, localtime, posix/..., right/... (leap seconds)
        errors.append(_error("timezone", "Input should be an IANA time zone, e.g. Europe/Paris"))

    group_by = DEFAULT_GROUP_BY
    if "groupBy" in values:
        keys = tuple(values["groupBy"].split(","))
        unknown = [k for k in keys if k not in GROUP_KEYS]
        if unknown:
            errors.append(
                _error(
                    "groupBy",
                    f"Unknown key(s) {', '.join(repr(k) for k in unknown)}; use {', '.join(GROUP_KEYS)}",
                )
            )
        elif len(set(keys)) != len(keys):
            errors.append(_error("groupBy", "Each key at most once"))
        group_by = keys

    filters = {}
    for dimension in DIMENSIONS:
        name = f"filter[{dimension}]"
        if name in values:
            if not 1 <= len(values[name]) <= MAX_ID_LENGTH:
                errors.append(_error(name, f"Input should be an id of 1 to {MAX_ID_LENGTH} characters"))
            filters[dimension] = values[name]

    page, per_page = 1, DEFAULT_PER_PAGE
    try:
        page = _positive(values.get("page", "1"))
        if not 1 <= page <= MAX_PAGE:
            raise ValueError
    except ValueError:
        errors.append(_error("page", f"Input should be a whole number from 1 to {MAX_PAGE}"))
    try:
        per_page = _positive(values.get("per_page", str(DEFAULT_PER_PAGE)))
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError
    except ValueError:
        errors.append(_error("per_page", f"Input should be a whole number from 1 to {MAX_PER_PAGE}"))

    if errors:
        names = ", ".join(dict.fromkeys(e["field"] for e in errors))
        raise validation_failed(f"Invalid query parameter(s): {names}.", errors)
    return DeliveryQuery(first, last, zone, group_by, filters, page, per_page)
