"""A report schedule: what it drops (a report kind and its parameters), when (daily or weekly at a
local time in an IANA zone), which days each run covers (its window) and in which formats.

Timing (docs/report-drops.md, "When a schedule runs"). Each local date the schedule runs on has one
run, at `time` on that date in `timeZone`, read as RFC 5545 (iCalendar, 3.3.5) reads a local time:
a time the clock skips (spring forward) runs at the instant it would have been with the offset
before the gap (02:30 in a skipped 02:00-03:00 hour is 03:30 local); a time the clock shows twice
(fall back) runs at its first occurrence. That is Python's `fold=0` (PEP 495) with zoneinfo, so
`next_run` is arithmetic on local dates, converted once.

Windows (the report's days, from the run's local date D in the schedule's zone):
- `previous_day`: D-1;
- `previous_7_days`: D-7 .. D-1;
- `previous_week`: Monday .. Sunday of the week before D's (ISO weeks);
- `month_to_date`: the 1st of D-1's month .. D-1 (on the 1st: the whole previous month);
- `previous_month`: the whole calendar month before D's.
Days only: they are the report's days in the report's own `timezone` parameter.
A report that takes no days (`performance`: a booking's report as of the run) has no window: a
schedule of it that gives one is refused (400 naming `window`), and its window is null.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from werkzeug.datastructures import MultiDict

from shared.auth.callers import CREDENTIAL_PARAMETERS
from shared.platform.problems import FieldError, Problem, field_error
from shared.platform.timezones import iana_zone, is_iana_zone
from shared.records.report_schedules import Timing
from shared.reports.kinds import FORMATS, KINDS, ReportKind

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WINDOWS = ("previous_day", "previous_7_days", "previous_week", "month_to_date", "previous_month")
DEFAULT_WINDOW = "previous_day"
DEFAULT_FORMATS = ("csv",)
SCHEDULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # in object names and document ids
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
BODY_FIELDS = ("report", "parameters", "schedule", "window", "formats")
TIMING_FIELDS = ("frequency", "time", "timeZone", "weekday")
MAX_PARAMETERS, MAX_PARAMETER_CHARS = 32, 1024


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule as the tenant asked for it, checked."""

    report: str
    parameters: dict[str, str]
    timing: Timing
    window: str | None  # None: the report takes no days
    formats: list[str]


# ---- timing


def _local_time(timing: Timing) -> time:
    hours, minutes = timing.time.split(":")
    return time(int(hours), int(minutes))


def occurrence(timing: Timing, day: date) -> datetime:
    """The UTC instant of the run on local date `day` (RFC 5545 reading: fold=0)."""
    local = datetime.combine(day, _local_time(timing), iana_zone(timing.timeZone))
    return local.astimezone(UTC)


def runs_on(timing: Timing, day: date) -> bool:
    return timing.frequency == "daily" or WEEKDAYS[day.weekday()] == timing.weekday


def next_run(timing: Timing, after: datetime) -> datetime:
    """The first scheduled instant strictly after `after` (aware)."""
    day = after.astimezone(iana_zone(timing.timeZone)).date() - timedelta(days=1)
    for _ in range(10):  # a weekly schedule runs within 7 local dates; one more each side for the offsets
        if runs_on(timing, day):
            instant = occurrence(timing, day)
            if instant > after:
                return instant
        day += timedelta(days=1)
    raise AssertionError(f"no run of {timing} after {after}")  # unreachable: every week has the weekday


def run_date(timing: Timing, instant: datetime) -> date:
    """The local date a run belongs to (the date its occurrence was computed for)."""
    return instant.astimezone(iana_zone(timing.timeZone)).date()


def window_days(window: str | None, day: date) -> tuple[date, date]:
    """(first, last) day a run on local date `day` reports on (no window: the run's date itself, the
    day a report without days is as of)."""
    if window is None:
        return day, day
    yesterday = day - timedelta(days=1)
    if window == "previous_day":
        return yesterday, yesterday
    if window == "previous_7_days":
        return day - timedelta(days=7), yesterday
    if window == "previous_week":
        monday = day - timedelta(days=day.weekday() + 7)
        return monday, monday + timedelta(days=6)
    if window == "month_to_date":
        return yesterday.replace(day=1), yesterday
    if window == "previous_month":
        last = day.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"unknown window {window!r}")


def report_arguments(
    kind: ReportKind, parameters: dict[str, str], first: date, last: date
) -> MultiDict[str, str]:
    """The query string a run sends its report: the schedule's parameters and the window's days."""
    args = MultiDict(list(parameters.items()))
    if kind.days is not None:
        args.add(kind.days[0], first.isoformat())
        args.add(kind.days[1], last.isoformat())
    return args


# ---- the request body


def parse_schedule(body: Any, now: datetime) -> ScheduleSpec | list[FieldError]:
    """The schedule of a PUT body, or every error naming its field (`schedule.time`,
    `parameters.groupBy`, ...). The report's parameters are checked by the report's own parser, with
    the days of the window as of `now`."""
    if not isinstance(body, dict):
        return [field_error(None, "The body must be a JSON object")]
    errors = [
        field_error(name, f"Unknown field; a schedule has {', '.join(BODY_FIELDS)}")
        for name in body
        if name not in BODY_FIELDS
    ]
    report = body.get("report")
    kind = KINDS.get(report) if isinstance(report, str) else None
    if kind is None:
        errors.append(field_error("report", f"Required, one of {', '.join(KINDS)}"))
    timing, timing_errors = _timing(body.get("schedule"))
    errors += timing_errors
    window: str | None = body.get("window", DEFAULT_WINDOW)
    if kind is not None and kind.days is None:
        if "window" in body:
            errors.append(
                field_error("window", f"The {report} report takes no days: it is as of each run; omit window")
            )
        window = None
    elif window not in WINDOWS:
        errors.append(field_error("window", f"One of {', '.join(WINDOWS)}"))
        window = DEFAULT_WINDOW
    formats = body.get("formats", list(DEFAULT_FORMATS))
    if (
        not isinstance(formats, list)
        or not formats
        or any(not isinstance(f, str) or f not in FORMATS for f in formats)
        or len(set(formats)) != len(formats)
    ):
        errors.append(field_error("formats", f"A non-empty list of {', '.join(FORMATS)}, each once"))
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        errors.append(field_error("parameters", "An object of the report's query parameters (text values)"))
        parameters = {}
    elif kind is not None:
        errors += _parameter_errors(kind, parameters, timing, window, now)
    if errors:
        return errors
    assert isinstance(report, str) and timing is not None
    return ScheduleSpec(report, dict(parameters), timing, window, list(formats))


def _timing(value: Any) -> tuple[Timing | None, list[FieldError]]:
    if not isinstance(value, dict):
        return None, [field_error("schedule", "Required: {frequency, time, timeZone[, weekday]}")]
    errors = [
        field_error(f"schedule.{name}", f"Unknown field; use {', '.join(TIMING_FIELDS)}")
        for name in value
        if name not in TIMING_FIELDS
    ]
    frequency, at, zone, weekday = (value.get(k) for k in TIMING_FIELDS)
    if frequency not in ("daily", "weekly"):
        errors.append(field_error("schedule.frequency", "Required: daily or weekly"))
    if not isinstance(at, str) or not _TIME.fullmatch(at):
        errors.append(field_error("schedule.time", "Required: a local time HH:MM, 00:00 to 23:59"))
    if not is_iana_zone(zone):
        errors.append(
            field_error("schedule.timeZone", "Required: an IANA time zone, e.g. Europe/Paris (or UTC)")
        )
    if frequency == "weekly" and weekday not in WEEKDAYS:
        errors.append(field_error("schedule.weekday", f"Required weekly: one of {', '.join(WEEKDAYS)}"))
    elif frequency != "weekly" and weekday is not None:
        errors.append(field_error("schedule.weekday", "Only a weekly schedule has a weekday"))
    if errors:
        return None, errors
    return Timing(frequency=frequency, time=at, timeZone=zone, weekday=weekday), []


def _parameter_errors(
    kind: ReportKind, parameters: dict[str, Any], timing: Timing | None, window: str | None, now: datetime
) -> list[FieldError]:
    errors = []
    if len(parameters) > MAX_PARAMETERS:
        return [field_error("parameters", f"At most {MAX_PARAMETERS} parameters")]
    for name, value in parameters.items():
        where = f"parameters.{name}"
        if name in kind.reserved:
            why = (
                "Set by the window at each run"
                if kind.days and name in (*kind.days, "filter[date]")
                else ("A drop holds every row: no paging")
            )
            errors.append(field_error(where, why))
        elif name in CREDENTIAL_PARAMETERS:
            errors.append(field_error(where, "A credential is not a report parameter"))
        elif not isinstance(value, str) or len(value) > MAX_PARAMETER_CHARS:
            errors.append(field_error(where, f"A text value of at most {MAX_PARAMETER_CHARS} characters"))
    if errors:
        return errors
    zone = timing.timeZone if timing is not None else "UTC"
    first, last = window_days(window, now.astimezone(iana_zone(zone)).date())
    try:
        kind.parse(report_arguments(kind, parameters, first, last))
    except Problem as problem:
        return [
            field_error(f"parameters.{e['field']}" if e["field"] else "parameters", e["message"])
            for e in problem.errors or [field_error(None, problem.detail)]
        ]
    return []
