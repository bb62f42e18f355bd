"""Parsing the delivery report's query parameters: every bad one is a 400 that names it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from shared.platform.problems import Problem
from shared.reports.params import DEFAULT_GROUP_BY, DeliveryQuery, parse

UTC = UTC


def fields_of(query: dict | list) -> list[str]:
    with pytest.raises(Problem) as caught:
        parse(MultiDict(query))
    problem = caught.value
    assert problem.status == 400 and problem.slug == "validation-failed"
    for name in (e["field"] for e in problem.errors):
        assert name in problem.detail
    return [e["field"] for e in problem.errors]


def test_defaults():
    q = parse(MultiDict({"filter[date]": "2025-01-27"}))
    assert q == DeliveryQuery(date(2025, 1, 27), date(2025, 1, 27))
    assert (q.timezone, q.group_by, q.filters, q.page, q.per_page, q.offset) == (
        "UTC",
        DEFAULT_GROUP_BY,
        {},
        1,
        50,
        0,
    )


def test_everything_given():
    q = parse(
        MultiDict(
            {
                "filter[from]": "2025-01-01",
                "filter[to]": "2025-04-02",
                "timezone": "Europe/Paris",
                "groupBy": "screenId,date",
                "filter[campaignId]": "c-1",
                "filter[siteId]": "s 1",
                "page": "3",
                "per_page": "200",
                "access_token": "a-token",
            }
        )
    )
    assert (q.first_day, q.last_day) == (date(2025, 1, 1), date(2025, 4, 2))  # 92 days, both inclusive
    assert q.group_by == ("screenId", "date") and q.filters == {"campaignId": "c-1", "siteId": "s 1"}
    assert (q.page, q.per_page, q.offset) == (3, 200, 400)


def test_the_window_is_the_days_in_the_timezone_in_utc():
    q = parse(
        MultiDict({"filter[from]": "2025-03-29", "filter[to]": "2025-03-30", "timezone": "Europe/Paris"})
    )
    # midnight in Paris is 23:00 UTC in winter, 22:00 UTC after the switch to summer time on the 30th
    assert q.window() == (datetime(2025, 3, 28, 23, tzinfo=UTC), datetime(2025, 3, 30, 22, tzinfo=UTC))
    assert parse(MultiDict({"filter[date]": "2025-01-27"})).window() == (
        datetime(2025, 1, 27, tzinfo=UTC),
        datetime(2025, 1, 28, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "query, named",
    [
        ({}, ["filter[date]"]),
        ({"filter[date]": "2025-1-27"}, ["filter[date]"]),
        ({"filter[date]": "2025-02-30"}, ["filter[date]"]),
        ({"filter[date]": "2025-01-27T00:00:00Z"}, ["filter[date]"]),
        ({"filter[date]": "2025-01-27", "filter[from]": "2025-01-27"}, ["filter[date]"]),
        ({"filter[from]": "2025-01-27"}, ["filter[to]"]),
        ({"filter[to]": "2025-01-27"}, ["filter[from]"]),
        ({"filter[from]": "2025-01-28", "filter[to]": "2025-01-27"}, ["filter[to]"]),
        ({"filter[from]": "2025-01-01", "filter[to]": "2025-04-03"}, ["filter[to]"]),  # 93 days
        ({"filter[date]": "2025-01-27", "timezone": "Mars/Olympus"}, ["timezone"]),
        ({"filter[date]": "2025-01-27", "timezone": "../../etc/passwd"}, ["timezone"]),
        ({"filter[date]": "2025-01-27", "timezone": ""}, ["timezone"]),
        ({"filter[date]": "2025-01-27", "groupBy": "date,campaign"}, ["groupBy"]),
        ({"filter[date]": "2025-01-27", "groupBy": ""}, ["groupBy"]),
        ({"filter[date]": "2025-01-27", "groupBy": "date,date"}, ["groupBy"]),
        ({"filter[date]": "2025-01-27", "page": "0"}, ["page"]),
        ({"filter[date]": "2025-01-27", "page": "-1"}, ["page"]),
        ({"filter[date]": "2025-01-27", "page": "1.5"}, ["page"]),
        ({"filter[date]": "2025-01-27", "page": "99999999999999999999"}, ["page"]),
        ({"filter[date]": "2025-01-27", "per_page": "201"}, ["per_page"]),
        ({"filter[date]": "2025-01-27", "per_page": "0"}, ["per_page"]),
        ({"filter[date]": "2025-01-27", "per_page": "ten"}, ["per_page"]),
        ({"filter[date]": "2025-01-27", "filter[campaignId]": ""}, ["filter[campaignId]"]),
        ({"filter[date]": "2025-01-27", "filter[screenId]": "x" * 129}, ["filter[screenId]"]),
        ({"filter[date]": "2025-01-27", "filter[campaign]": "c-1"}, ["filter[campaign]"]),
        ({"filter[date]": "2025-01-27", "tenantId": "someone-else"}, ["tenantId"]),
        (
            {"filter[date]": "2025-01-27", "page": "x", "per_page": "500", "groupBy": "nope"},
            ["groupBy", "page", "per_page"],
        ),
    ],
)
def test_each_bad_parameter_is_named(query, named):
    assert fields_of(query) == named


def test_a_repeated_parameter_is_named():
    assert fields_of(
        [("filter[date]", "2025-01-27"), ("filter[campaignId]", "a"), ("filter[campaignId]", "b")]
    ) == ["filter[campaignId]"]


def test_values_reach_the_query_only_as_parameters():
    from shared.reports import delivery

    hostile = "x' OR TRUE --"
    q = parse(
        MultiDict(
            {
                "filter[date]": "2025-01-27",
                "filter[campaignId]": hostile,
                "timezone": "Europe/Paris",
                "groupBy": "date,siteId",
            }
        )
    )
    sql = delivery.sql(q)
    assert hostile not in sql and "Europe/Paris" not in sql and "2025-01-27" not in sql
    parameters = {p.name: p.value for p in delivery.config("tenant-a", q, paged=True).query_parameters}
    assert parameters["campaignId"] == hostile and parameters["tenantId"] == "tenant-a"
    assert parameters["timezone"] == "Europe/Paris" and (parameters["limit"], parameters["offset"]) == (50, 0)
    # the tenant and the window are inside the deduplication, before QUALIFY, so partitions prune
    dedup = sql[: sql.index("QUALIFY")]
    assert "tenantId = @tenantId AND playedAt >= @rawStart AND playedAt < @rawEnd" in dedup
    assert "tenantId = @tenantId AND playedAt > @lookStart AND playedAt < @lookEnd" in sql
    assert "campaignId = @campaignId" in sql[sql.index("QUALIFY") :]
    # the screens table is read for the caller's tenant only
    screens = sql[sql.index("screen_rows AS") :]
    assert "WHERE tenantId = @tenantId" in screens[: screens.index("QUALIFY")]


# The calendar's edges: a day near year 1 or 9999 made the window overflow (a 500) in a zone east or
# west of UTC; days are refused outside a range whose window exists in every zone.
@pytest.mark.parametrize(
    "query, named",
    [
        ({"filter[date]": "9999-12-31"}, ["filter[date]"]),
        ({"filter[date]": "0001-01-01", "timezone": "Asia/Tokyo"}, ["filter[date]"]),
        ({"filter[date]": "0001-01-01"}, ["filter[date]"]),
        ({"filter[date]": "1899-12-31"}, ["filter[date]"]),
        ({"filter[date]": "3000-01-01"}, ["filter[date]"]),
        ({"filter[from]": "9999-12-01", "filter[to]": "9999-12-31"}, ["filter[from]", "filter[to]"]),
        ({"filter[from]": "2999-12-31", "filter[to]": "3000-01-01"}, ["filter[to]"]),
        (
            {"filter[from]": "0001-01-01", "filter[to]": "0001-01-02", "timezone": "Pacific/Kiritimati"},
            ["filter[from]", "filter[to]"],
        ),
        (
            {"filter[from]": "1899-12-31", "filter[to]": "1900-01-01", "timezone": "Pacific/Kiritimati"},
            ["filter[from]"],
        ),
        # strictly YYYY-MM-DD: not an ISO week date, a basic-format date, nor other scripts' digits
        ({"filter[date]": "2025-W10-1"}, ["filter[date]"]),
        ({"filter[date]": "20250101"}, ["filter[date]"]),
        ({"filter[date]": "٢٠٢٥-٠١-٠١"}, ["filter[date]"]),
        ({"filter[date]": "２０２５-０１-０１"}, ["filter[date]"]),
        ({"filter[date]": "2025-01-01\n"}, ["filter[date]"]),
        ({"filter[from]": "2025-W10-1", "filter[to]": "2025-W10-7"}, ["filter[from]", "filter[to]"]),
    ],
)
def test_days_are_strict_and_bounded(query, named):
    assert fields_of(query) == named


@pytest.mark.parametrize("day", ["9999-12-31", "2025-W10-1"])
def test_the_message_gives_the_form_and_the_range_of_days(day):
    with pytest.raises(Problem) as caught:
        parse(MultiDict({"filter[date]": day}))
    [error] = caught.value.errors
    assert error["message"] == "Input should be a date, YYYY-MM-DD, from 1900-01-01 to 2999-12-31"


def test_the_first_and_last_days_have_a_window_in_every_zone():
    from shared.platform.timezones import names

    for zone in sorted(names()):
        for first, last in (
            ("1900-01-01", "1900-01-01"),
            ("2999-12-31", "2999-12-31"),
            ("1900-01-01", "1900-01-02"),
        ):
            q = parse(MultiDict({"filter[from]": first, "filter[to]": last, "timezone": zone}))
            start, end = q.window()
            assert start < end and start.tzinfo is UTC, zone


# Names the machine's zoneinfo directory answers to but the IANA database does not: each gave an
# empty report (right/ zones count leap seconds) instead of a 400.
@pytest.mark.parametrize(
    "zone",
    [
        "right/UTC",
        "posixrules",
        "posix/Europe/Paris",
        "localtime",
        "Europe/Paris ",
        "europe/paris",
        "Europe/Paris\x00",
    ],
)
def test_only_names_of_the_iana_database_are_zones(zone):
    assert fields_of({"filter[date]": "2025-01-27", "timezone": zone}) == ["timezone"]


def test_one_zone_check_opens_zones():
    """shared.platform.timezones is the one check: no other module opens a ZoneInfo by a name of its own."""
    root = Path(__file__).resolve().parents[2]
    opened = [
        str(path.relative_to(root))
        for folder in ("shared", "functions", "local", "tools")
        for path in (root / folder).rglob("*.py")
        if "ZoneInfo(" in path.read_text(encoding="utf-8")
    ]
    assert opened == ["shared/platform/timezones.py"]


@pytest.mark.parametrize(
    "name, value",
    [
        ("page", "١٢"),
        ("per_page", "٥٠"),
        ("page", "１"),
        ("page", "²"),
        ("page", "+1"),
        ("page", " 1"),
        ("page", "1_0"),
        ("per_page", "0x10"),
    ],
)
def test_page_numbers_are_ascii_digits(name, value):
    assert fields_of({"filter[date]": "2025-01-27", name: value}) == [name]


def test_impressions_are_rounded_once_to_3_decimals_half_to_even():
    from shared.reports.delivery import rounded as _rounded

    assert _rounded(0.0005) == 0.0  # half to even: 0.000
    assert _rounded(0.0015) == 0.002
    assert _rounded(2.0625) == 2.062  # exact in binary: a true half, to even
    assert _rounded(1 / 3 * 3000) == 1000.0
    # Rounded at the end, not per play: 1,000 plays of 0.0004 are 0.4, where per-play rounding says 0.
    assert _rounded(sum([0.0004] * 1000)) == 0.4


def test_screen_time_reads_every_instant_that_is_one_of_the_days_somewhere():
    from datetime import UTC, date, datetime

    from shared.reports.params import DeliveryQuery

    screen = DeliveryQuery(date(2025, 3, 30), date(2025, 3, 31), "screen")
    # 30 March begins at 10:00 UTC on the 29th in Kiritimati (+14) and 31 March ends at 12:00 UTC on
    # 1 April at -12.
    assert screen.window() == (
        datetime(2025, 3, 29, 10, tzinfo=UTC),
        datetime(2025, 4, 1, 12, tzinfo=UTC),
    )
    paris = DeliveryQuery(date(2025, 3, 30), date(2025, 3, 31), "Europe/Paris")
    # A fixed zone reads its own days only (Paris moves to summer time on 30 March).
    assert paris.window() == (datetime(2025, 3, 29, 23, tzinfo=UTC), datetime(2025, 3, 31, 22, tzinfo=UTC))


def test_screen_time_and_the_screen_keys_are_parameters():
    q = parse(
        MultiDict(
            {
                "filter[date]": "2025-03-30",
                "timezone": "screen",
                "groupBy": "date,hour,venueType,market,country",
            }
        )
    )
    assert q.timezone == "screen" and q.group_by == ("date", "hour", "venueType", "market", "country")
    assert fields_of({"filter[date]": "2025-03-30", "timezone": "Screen", "groupBy": "continent"}) == [
        "timezone",
        "groupBy",
    ]
