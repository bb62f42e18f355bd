"""Report schedules without emulators: next-run timing across DST, windows, body validation, the CSV
and JSON renderer (shared/reports/schedules.py, shared/reports/kinds.py, shared/reports/drops.py)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.records.report_schedules import Timing
from shared.reports import drops, kinds, schedules

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def daily(at: str, zone: str) -> Timing:
    return Timing(frequency="daily", time=at, timeZone=zone)


def runs(timing: Timing, after: datetime, count: int) -> list[datetime]:
    out = []
    for _ in range(count):
        after = schedules.next_run(timing, after)
        out.append(after)
    return out


def test_a_daily_run_keeps_its_local_time_across_both_dst_changes():
    paris = ZoneInfo("Europe/Paris")
    # 2026: summer time from Sunday 29 March 02:00 to Sunday 25 October 03:00.
    spring = runs(daily("06:00", "Europe/Paris"), utc("2026-03-27T12:00:00"), 4)
    assert [r.astimezone(paris).strftime("%m-%d %H:%M") for r in spring] == [
        "03-28 06:00",
        "03-29 06:00",
        "03-30 06:00",
        "03-31 06:00",
    ]
    assert [r.strftime("%H:%M") for r in spring] == ["05:00", "04:00", "04:00", "04:00"]  # UTC
    autumn = runs(daily("06:00", "Europe/Paris"), utc("2026-10-24T12:00:00"), 2)
    assert [r.strftime("%m-%d %H:%M") for r in autumn] == ["10-25 05:00", "10-26 05:00"]


def test_a_time_the_clock_skips_runs_after_the_gap_and_a_repeated_time_runs_once_at_its_first():
    # New York skips 02:00-03:00 on 8 March 2026 and repeats 01:00-02:00 on 1 November 2026.
    new_york = ZoneInfo("America/New_York")
    [before, gap, after] = runs(daily("02:30", "America/New_York"), utc("2026-03-07T00:00:00"), 3)
    assert (
        gap.astimezone(new_york).strftime("%m-%d %H:%M") == "03-08 03:30"
    )  # RFC 5545: offset before the gap
    assert gap - before == timedelta(hours=24) and after - gap == timedelta(hours=23)
    [first, repeated, following] = runs(daily("01:30", "America/New_York"), utc("2026-10-31T00:00:00"), 3)
    assert repeated == utc("2026-11-01T05:30:00")  # 01:30 EDT, the first of the two 01:30s
    assert following == utc("2026-11-02T06:30:00")  # once on the 1st, not again an hour later
    assert [r.astimezone(new_york).day for r in (first, repeated, following)] == [31, 1, 2]


def test_the_next_run_is_strictly_after_and_weekly_runs_on_its_weekday():
    timing = daily("06:00", "UTC")
    assert schedules.next_run(timing, utc("2026-12-04T06:00:00")) == utc("2026-12-05T06:00:00")
    assert schedules.next_run(timing, utc("2026-12-04T05:59:59")) == utc("2026-12-04T06:00:00")
    weekly = Timing(frequency="weekly", time="23:30", timeZone="Asia/Tokyo", weekday="monday")
    got = runs(weekly, utc("2026-12-04T00:00:00"), 3)  # a Friday
    assert got == [utc("2026-12-07T14:30:00"), utc("2026-12-14T14:30:00"), utc("2026-12-21T14:30:00")]
    assert {r.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%A %H:%M") for r in got} == {"Monday 23:30"}


def test_a_run_belongs_to_its_local_date_even_when_utc_is_on_another():
    timing = daily("00:30", "Pacific/Auckland")
    instant = schedules.next_run(timing, utc("2026-12-04T00:00:00"))
    assert instant == utc("2026-12-04T11:30:00")  # Auckland +13: the 5th, 00:30
    assert schedules.run_date(timing, instant) == date(2026, 12, 5)


@pytest.mark.parametrize(
    ("window", "day", "expected"),
    [
        ("previous_day", date(2026, 3, 1), ("2026-02-28", "2026-02-28")),
        ("previous_7_days", date(2026, 12, 4), ("2026-11-27", "2026-12-03")),
        ("previous_week", date(2026, 12, 4), ("2026-11-23", "2026-11-29")),  # a Friday: Mon-Sun before
        ("previous_week", date(2026, 11, 30), ("2026-11-23", "2026-11-29")),  # a Monday
        ("month_to_date", date(2026, 12, 4), ("2026-12-01", "2026-12-03")),
        ("month_to_date", date(2026, 12, 1), ("2026-11-01", "2026-11-30")),
        ("previous_month", date(2026, 3, 15), ("2026-02-01", "2026-02-28")),
        ("previous_month", date(2026, 1, 1), ("2025-12-01", "2025-12-31")),
    ],
)
def test_windows(window, day, expected):
    first, last = schedules.window_days(window, day)
    assert (first.isoformat(), last.isoformat()) == expected


def valid(**changes):
    body = {
        "report": "delivery",
        "parameters": {"groupBy": "date,campaignId", "timezone": "Europe/Paris"},
        "schedule": {"frequency": "daily", "time": "06:00", "timeZone": "Europe/Paris"},
        "window": "previous_day",
        "formats": ["csv", "json"],
    }
    body.update(changes)
    return body


def test_a_valid_body_and_its_defaults():
    spec = schedules.parse_schedule(valid(), NOW)
    assert isinstance(spec, schedules.ScheduleSpec)
    assert spec.timing.weekday is None and spec.formats == ["csv", "json"]
    minimal = schedules.parse_schedule(
        {
            "report": "delivery",
            "schedule": {"frequency": "weekly", "time": "23:59", "timeZone": "UTC", "weekday": "sunday"},
        },
        NOW,
    )
    assert isinstance(minimal, schedules.ScheduleSpec)
    assert (minimal.window, minimal.formats, minimal.parameters) == ("previous_day", ["csv"], {})


def fields(result) -> dict[str, str]:
    assert isinstance(result, list), result
    return {e["field"]: e["message"] for e in result}


def test_every_bad_field_is_named():
    got = fields(
        schedules.parse_schedule(
            {
                "report": "sales",
                "schedule": {"frequency": "hourly", "time": "24:00", "timeZone": "Mars/Olympus", "at": 1},
                "window": "yesterday",
                "formats": ["csv", "csv"],
                "extra": True,
            },
            NOW,
        )
    )
    assert set(got) == {
        "extra",
        "report",
        "schedule.at",
        "schedule.frequency",
        "schedule.time",
        "schedule.timeZone",
        "window",
        "formats",
    }
    got = fields(
        schedules.parse_schedule(
            valid(schedule={"frequency": "weekly", "time": "6:00", "timeZone": "UTC"}), NOW
        )
    )
    assert set(got) == {"schedule.time", "schedule.weekday"}
    got = fields(schedules.parse_schedule(valid(formats=[]), NOW))
    assert set(got) == {"formats"}
    got = fields(
        schedules.parse_schedule(
            valid(schedule={"frequency": "daily", "time": "06:00", "timeZone": "UTC", "weekday": "monday"}),
            NOW,
        )
    )
    assert set(got) == {"schedule.weekday"}


def test_report_parameters_are_checked_by_the_report_endpoints_own_rules():
    got = fields(
        schedules.parse_schedule(
            valid(
                parameters={
                    "groupBy": "date,nope",
                    "timezone": "localtime",
                    "filter[campaignId]": "",
                    "colour": "red",
                }
            ),
            NOW,
        )
    )
    assert set(got) == {
        "parameters.groupBy",
        "parameters.timezone",
        "parameters.filter[campaignId]",
        "parameters.colour",
    }
    assert "Unknown" in got["parameters.colour"]
    # The days come from the window and a drop holds every row.
    got = fields(
        schedules.parse_schedule(valid(parameters={"filter[from]": "2026-01-01", "per_page": "5"}), NOW)
    )
    assert got == {
        "parameters.filter[from]": "Set by the window at each run",
        "parameters.per_page": "A drop holds every row: no paging",
    }
    got = fields(schedules.parse_schedule(valid(parameters={"groupBy": 3}), NOW))
    assert set(got) == {"parameters.groupBy"}
    got = fields(schedules.parse_schedule(valid(parameters=["groupBy"]), NOW))
    assert set(got) == {"parameters"}


def test_the_run_arguments_are_the_parameters_and_the_window_days():
    args = schedules.report_arguments(
        kinds.KINDS["delivery"], {"groupBy": "date"}, date(2026, 12, 1), date(2026, 12, 3)
    )
    query = kinds.KINDS["delivery"].parse(args)
    assert (query.first_day, query.last_day, query.group_by) == (
        date(2026, 12, 1),
        date(2026, 12, 3),
        ("date",),
    )


def test_event_ids_are_deterministic_and_fit():
    assert drops.event_id("acme", "daily", "20261204T050000Z") == "evt_report_acme_daily_20261204T050000Z"
    long = drops.event_id("t" * 150, "s" * 64, "20261204T050000Z")
    assert len(long) <= 200 and long == drops.event_id("t" * 150, "s" * 64, "20261204T050000Z")
    assert long != drops.event_id("t" * 150, "s" * 64, "20261205T050000Z")
    assert drops.run_id(utc("2026-12-04T05:00:00")) == "20261204T050000Z"


def test_the_renderer_writes_the_clis_csv_and_json_in_one_pass():
    from coatro_cli import report as cli_report

    rows = [
        {
            "date": "2026-12-03",
            "campaignId": "=HYPERLINK(1)",
            "plays": 2,
            "qualifiedPlays": 1,
            "durationMs": 3000,
            "impressions": {"measured": 1.5, "scheduled": 0.0, "total": 1.5, "male": 0.0, "female": 0.25},
            "firstPlayedAt": "2026-12-03T10:00:00.000Z",
            "lastPlayedAt": "2026-12-03T11:00:00.000Z",
        },
        {
            "date": "2026-12-03",
            "campaignId": None,
            "plays": 1,
            "qualifiedPlays": 1,
            "durationMs": 1000,
            "impressions": {"measured": 0.0, "scheduled": 0.0, "total": 0.0, "male": 0.0, "female": 0.0},
            "firstPlayedAt": "2026-12-03T12:00:00.000Z",
            "lastPlayedAt": "2026-12-03T12:00:00.000Z",
        },
    ]
    kind = kinds.KINDS["delivery"]
    fake = kinds.ReportKind(
        parse=kind.parse,
        rows=lambda tenant, query, limit: rows[:limit],
        columns=kind.columns,
        flatten=kind.flatten,
        days=kind.days,
        reserved=kind.reserved,
    )
    query = kind.parse(schedules.report_arguments(kind, {}, date(2026, 12, 3), date(2026, 12, 3)))
    outputs = {"csv": io.BytesIO(), "json": io.BytesIO()}
    assert kinds.render(fake, "t", query, outputs, max_rows=10) == 2
    expected_csv, expected_json = io.StringIO(newline=""), io.StringIO()
    cli_report.write(iter(rows), expected_csv, "csv", ["date", "campaignId"])
    cli_report.write(iter(rows), expected_json, "json", ["date", "campaignId"])
    assert outputs["csv"].getvalue().decode() == expected_csv.getvalue()
    assert outputs["json"].getvalue().decode() == expected_json.getvalue()
    assert b"'=HYPERLINK" in outputs["csv"].getvalue()
    with pytest.raises(kinds.TooManyRows):
        kinds.render(fake, "t", query, {"csv": io.BytesIO()}, max_rows=1)


def performance_body(**changes):
    body = {
        "report": "performance",
        "parameters": {"bookingId": "b1", "darkAfterHours": "4"},
        "schedule": {"frequency": "daily", "time": "06:00", "timeZone": "Europe/Paris"},
        "formats": ["csv", "json"],
    }
    body.update(changes)
    return body


def test_a_performance_schedule_needs_a_booking_and_takes_no_window():
    spec = schedules.parse_schedule(performance_body(), NOW)
    assert isinstance(spec, schedules.ScheduleSpec) and spec.window is None
    # A run's days are its own local date: the report is as of the run.
    assert schedules.window_days(None, date(2026, 12, 4)) == (date(2026, 12, 4), date(2026, 12, 4))
    got = fields(schedules.parse_schedule(performance_body(parameters={"darkAfterHours": "4"}), NOW))
    assert list(got) == ["parameters.bookingId"] and "Required" in got["parameters.bookingId"]
    got = fields(
        schedules.parse_schedule(
            performance_body(
                window="previous_day",
                parameters={"bookingId": "b1", "pageSize": "2"},
            ),
            NOW,
        )
    )
    assert set(got) == {"window", "parameters.pageSize"} and "omit window" in got["window"]
    got = fields(
        schedules.parse_schedule(performance_body(parameters={"darkAfterHours": "0", "x": "1"}), NOW)
    )
    assert set(got) == {"parameters.bookingId", "parameters.darkAfterHours", "parameters.x"}
    # The endpoint's own rule and message, shared (shared.reports.params.parse_performance).
    from werkzeug.datastructures import MultiDict

    from shared.platform.problems import Problem
    from shared.reports.params import parse_performance

    with pytest.raises(Problem) as endpoint:
        parse_performance(MultiDict({"darkAfterHours": "0"}))
    with pytest.raises(Problem) as drop:
        kinds.KINDS["performance"].parse(MultiDict({"bookingId": "b1", "darkAfterHours": "0"}))
    assert endpoint.value.errors == drop.value.errors
