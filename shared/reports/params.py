"""The query parameters of `GET /coatro/v1/pop/reports/delivery`, checked into one `DeliveryQuery`.

Every bad parameter is a 400 problem+json whose `errors` name it (`{"index": null, "field":
"filter[from]", "message": ...}`), all of them at once, as the events endpoint reports every invalid
event. An unknown parameter is an error too: a misspelt filter would otherwise widen the report.

`ReportParameters` (pydantic) checks each parameter, named as sent; `parse` adds what no one parameter
says: a name given twice or unknown, and which days are given. Its errors come in the model's order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from werkzeug.datastructures import MultiDict

from shared.auth.callers import CREDENTIAL_PARAMETERS
from shared.canonical.event import ID_FIELDS, MAX_ID_LENGTH
from shared.platform import pages
from shared.platform.problems import FieldError, field_error, validation_failed
from shared.platform.timezones import iana_zone, is_iana_zone

# The ids a report filters and groups by: the canonical event's, but its own (campaignId, creativeId,
# screenId, siteId). The CLI keeps a copy (client/coatro_cli/report.py; tests/client checks it).
DIMENSIONS = tuple(sorted(set(ID_FIELDS) - {"eventId"}))
# What a report may also group by: the local day and hour (in `timezone`), and the attributes of each
# play's screen as it was then (from the screen registry; null for an unregistered screen).
GROUP_KEYS = ("date", "hour", *DIMENSIONS, "venueType", "market", "country")
# `timezone=screen`: days and hours in each play's own screen zone.
SCREEN_ZONE = "screen"
# The zones furthest from UTC (Pacific/Kiritimati +14, Etc/GMT+12 -12): a day in any zone lies
# within [00:00 - 14 h, 24:00 + 12 h) UTC of the same date.
EAST_MOST, WEST_MOST = timedelta(hours=14), timedelta(hours=12)
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
FILTERS = {f"filter[{d}]": d for d in DIMENSIONS}  # parameter -> dimension


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
        """The `playedAt` range [start, end) in UTC a report reads: midnight of the first day to
        midnight after the last, in the timezone; in screen time, every instant that is one of the
        days in some zone (the UTC days widened by the zones furthest east and west)."""
        if self.timezone == SCREEN_ZONE:
            return (
                datetime.combine(self.first_day, time(), UTC) - EAST_MOST,
                datetime.combine(self.last_day + timedelta(days=1), time(), UTC) + WEST_MOST,
            )
        zone = iana_zone(self.timezone)
        start = datetime.combine(self.first_day, time(), zone)
        end = datetime.combine(self.last_day + timedelta(days=1), time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


# ---- each parameter on its own: a type that reads the text as sent, or refuses it in its own words


def _refused(message: str) -> PydanticCustomError:
    # The message goes in as context: the input it may quote is never read as a template.
    return PydanticCustomError("report_parameter", "{message}", {"message": message})


def _day(value: object) -> date:
    """Strictly YYYY-MM-DD in ASCII digits (date.fromisoformat also takes 2025-W10-1 and 20250101),
    from FIRST_DAY to LAST_DAY."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
        if day is not None and FIRST_DAY <= day <= LAST_DAY:
            return day
    raise _refused(f"Input should be a date, YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}")


def _whole_number(maximum: int) -> Callable[[object], int]:
    """1 to `maximum` in ASCII digits: int() would also take " 5", "+5", "1_000" and other scripts' digits."""

    def read(value: object) -> int:
        if isinstance(value, str) and _DIGITS.fullmatch(value) and 1 <= int(value) <= maximum:
            return int(value)
        raise _refused(f"Input should be a whole number from 1 to {maximum}")

    return read


def _zone(value: object) -> str:
    if value == SCREEN_ZONE:
        return SCREEN_ZONE
    if not is_iana_zone(value):  # not posixrules, localtime, posix/..., right/... (leap seconds)
        raise _refused(
            "Input should be an IANA time zone, e.g. Europe/Paris, or screen (each play's screen zone)"
        )
    return value


def _group_by(value: object) -> tuple[str, ...]:
    keys = tuple(str(value).split(","))
    unknown = [k for k in keys if k not in GROUP_KEYS]
    if unknown:
        raise _refused(f"Unknown key(s) {', '.join(repr(k) for k in unknown)}; use {', '.join(GROUP_KEYS)}")
    if len(set(keys)) != len(keys):
        raise _refused("Each key at most once")
    return keys


def _id(value: object) -> str:
    if isinstance(value, str) and 1 <= len(value) <= MAX_ID_LENGTH:
        return value
    raise _refused(f"Input should be an id of 1 to {MAX_ID_LENGTH} characters")


Day = Annotated[date, BeforeValidator(_day)]
Id = Annotated[str, BeforeValidator(_id)]


class ReportParameters(BaseModel):
    """The report's query parameters, by the names they are sent under (aliases); `filters` holds the
    `filter[<dimension>]` ones by dimension."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: Day | None = Field(None, alias="filter[date]")
    day_from: Day | None = Field(None, alias="filter[from]")
    day_to: Day | None = Field(None, alias="filter[to]")
    timezone: Annotated[str, BeforeValidator(_zone)] = "UTC"
    group_by: Annotated[tuple[str, ...], BeforeValidator(_group_by)] = Field(
        DEFAULT_GROUP_BY, alias="groupBy"
    )
    filters: dict[str, Id] = Field(default_factory=dict)
    page: Annotated[int, BeforeValidator(_whole_number(MAX_PAGE))] = 1
    per_page: Annotated[int, BeforeValidator(_whole_number(MAX_PER_PAGE))] = DEFAULT_PER_PAGE

    @field_validator("day_to")
    @classmethod
    def _after_the_first_day(cls, last: date | None, info: ValidationInfo) -> date | None:
        first = info.data.get("day_from")  # absent when filter[from] was refused
        if last is None or first is None:
            return last
        if last < first:
            raise _refused("Should not be before filter[from]")
        if (last - first).days + 1 > MAX_DAYS:
            raise _refused(f"A report covers at most {MAX_DAYS} days")
        return last

    def query(self) -> DeliveryQuery:
        first, last = (self.day, self.day) if self.day else (self.day_from, self.day_to)
        assert first is not None and last is not None  # parse saw a day or both ends given
        return DeliveryQuery(
            first, last, self.timezone, self.group_by, dict(self.filters), self.page, self.per_page
        )


def _parameter_names() -> list[str]:
    """The model's parameters as sent, in its order (the order their errors are listed in)."""
    names: list[str] = []
    for name, info in ReportParameters.model_fields.items():
        names += list(FILTERS) if name == "filters" else [info.alias or name]
    return names


PARAMETERS = _parameter_names()
KNOWN = {*PARAMETERS, *CREDENTIAL_PARAMETERS}


def _days_given(given: Set[str]) -> list[FieldError]:
    """Which of filter[date], filter[from] and filter[to] are given: one day, or both ends of a range."""
    if "filter[date]" in given:
        if given & {"filter[from]", "filter[to]"}:
            return [
                field_error(
                    "filter[date]", "Give either filter[date] or filter[from] and filter[to], not both"
                )
            ]
        return []
    if not given & {"filter[from]", "filter[to]"}:
        return [field_error("filter[date]", "A report needs filter[date], or filter[from] and filter[to]")]
    return [
        field_error(name, f"Required with {other}")
        for name, other in (("filter[from]", "filter[to]"), ("filter[to]", "filter[from]"))
        if name not in given
    ]


def _parameter(loc: tuple[int | str, ...]) -> str:
    """The parameter an error of ReportParameters is about (a filter's location is ("filters", dimension))."""
    return f"filter[{loc[1]}]" if loc[0] == "filters" else str(loc[0])


def parse(args: MultiDict[str, str]) -> DeliveryQuery:
    """A DeliveryQuery from the request's query parameters, or a 400 naming every bad one."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for name in args:
        given = args.getlist(name)
        if name not in KNOWN:
            errors.append(field_error(name, "Unknown parameter"))
        elif len(given) > 1:
            errors.append(field_error(name, "Give this parameter once"))
        elif name not in CREDENTIAL_PARAMETERS:
            values[name] = given[0]
    checked = _days_given(values.keys())
    if "filter[date]" in values:  # a range given as well is refused by _days_given, unread
        values.pop("filter[from]", None)
        values.pop("filter[to]", None)
    values["filters"] = {FILTERS[name]: values.pop(name) for name in FILTERS if name in values}
    parameters = None
    try:
        parameters = ReportParameters.model_validate(values)
    except ValidationError as exc:
        checked += [field_error(_parameter(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
    # Stable: a parameter's errors from _days_given come before its own.
    errors += sorted(checked, key=lambda e: PARAMETERS.index(str(e["field"])))
    if errors or parameters is None:
        names = ", ".join(dict.fromkeys(str(e["field"]) for e in errors))
        raise validation_failed(f"Invalid query parameter(s): {names}.", errors)
    return parameters.query()


# ---- GET /coatro/v1/pop/reports/performance: its parameters (shared/reports/performance.py)

PERFORMANCE_PARAMETERS = ("bookingId", "darkAfterHours", "format", "pageSize", "pageToken")
PERFORMANCE_FORMATS = ("json", "csv", "html")
DEFAULT_DARK_AFTER_HOURS = 4
MAX_DARK_AFTER_HOURS = 720
DEFAULT_BOOKINGS_PAGE, MAX_BOOKINGS_PAGE = 5, 10  # one query per booking, within the 60 s timeout
_HOURS = re.compile(r"[0-9]{1,4}")


@dataclass(frozen=True)
class PerformanceQuery:
    """The performance endpoint's query, checked: one booking (`booking_id`) or a page of them
    (`page_size` after `after`); `output` the `format` parameter if given (else the Accept header
    decides)."""

    booking_id: str | None
    dark_after_hours: int
    output: str | None
    page_size: int
    after: str | None


def parse_performance(args: MultiDict[str, str]) -> PerformanceQuery:
    """The performance endpoint's parameters, or its 400 naming every bad one (the endpoint and the
    `performance` drop share it)."""
    errors: list[FieldError] = []
    for name in args:
        if name not in PERFORMANCE_PARAMETERS and name not in CREDENTIAL_PARAMETERS:
            errors.append(field_error(name, "Unknown parameter"))
        elif len(args.getlist(name)) > 1:
            errors.append(field_error(name, "Give this parameter once"))
    booking_id = args.get("bookingId")
    if booking_id is not None and not 1 <= len(booking_id) <= MAX_ID_LENGTH:
        errors.append(field_error("bookingId", f"bookingId is 1 to {MAX_ID_LENGTH} characters"))
    hours_text = args.get("darkAfterHours")
    hours = DEFAULT_DARK_AFTER_HOURS
    if hours_text is not None:
        if _HOURS.fullmatch(hours_text) and 1 <= int(hours_text) <= MAX_DARK_AFTER_HOURS:
            hours = int(hours_text)
        else:
            errors.append(
                field_error(
                    "darkAfterHours", f"darkAfterHours is a whole number from 1 to {MAX_DARK_AFTER_HOURS}"
                )
            )
    output = args.get("format")
    if output is not None and output not in PERFORMANCE_FORMATS:
        errors.append(field_error("format", f"format is one of {', '.join(PERFORMANCE_FORMATS)}"))
        output = "json"
    size = pages.page_size(args.get("pageSize"), DEFAULT_BOOKINGS_PAGE, MAX_BOOKINGS_PAGE)
    if size is None:
        errors.append(field_error("pageSize", f"pageSize must be an integer from 1 to {MAX_BOOKINGS_PAGE}"))
    token = args.get("pageToken")
    after = pages.position_of(token) if token else None
    if token and (after is None or not 1 <= len(after) <= MAX_ID_LENGTH):
        errors.append(field_error("pageToken", "pageToken is not one this API returned"))
    if booking_id is not None and (token or "pageSize" in args):
        errors.append(field_error("bookingId", "Give bookingId, or page through bookings, not both"))
    if errors:
        names = ", ".join(dict.fromkeys(str(e["field"]) for e in errors))
        raise validation_failed(f"Invalid query parameter(s): {names}.", errors)
    return PerformanceQuery(booking_id, hours, output, size or 1, after)
