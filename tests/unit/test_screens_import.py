"""The screens import's reading, without Firestore: CSV columns and cells, row numbers, limits."""

from __future__ import annotations

import pytest

from shared.platform.problems import Problem
from shared.screens import importing
from shared.screens.model import Audience, Location, Qualification, ScreenFields, parse_screen


def test_the_columns_are_every_field_path_of_a_screen():
    nested = {"location": Location, "audience": Audience, "qualification": Qualification}
    paths = set()
    for name in ScreenFields.model_fields:
        if name in nested:
            paths |= {f"{name}.{child}" for child in nested[name].model_fields}
        else:
            paths.add(name)
    assert set(importing.COLUMNS) == paths


@pytest.mark.parametrize(
    ("column", "cell", "value"),
    [
        ("venueType", "10101", 10101),
        ("location.lat", "-12.5", -12.5),
        ("audience.allowLarge", "TRUE", True),
        ("audience.impressionSchedule", "[[1, 2.5]]", [[1, 2.5]]),
        ("name", " spaced ", " spaced "),
    ],
)
def test_a_cell_is_read_as_its_fields_type(column, cell, value):
    assert importing._cell(column, cell) == (value, None)


@pytest.mark.parametrize(
    ("column", "cell", "said"),
    [
        ("venueType", "1.5", "is not an integer"),
        ("location.lat", "north", "is not a number"),
        ("location.lat", "inf", "is not a finite number"),
        ("audience.allowLarge", "yes", "is not true or false"),
        ("audience.impressionSchedule", "[NaN]", "is not JSON"),
    ],
)
def test_a_bad_cell_says_why(column, cell, said):
    value, error = importing._cell(column, cell)
    assert value is None and error is not None and said in error


def test_csv_rows_are_numbered_by_the_line_they_start_on_and_nest_their_fields():
    data = b'\xef\xbb\xbfscreenId,timeZone,location.lat,location.lon\r\na,UTC,1,2\r\n\r\n"b",UTC,,\r\n'
    rows = list(importing.csv_rows(data))
    assert [(r.row, r.screen_id, r.body) for r in rows] == [
        (2, "a", {"screenId": "a", "timeZone": "UTC", "location": {"lat": 1.0, "lon": 2.0}}),
        (4, "b", {"screenId": "b", "timeZone": "UTC"}),
    ]


def test_a_bad_header_is_a_400_naming_each_column():
    with pytest.raises(Problem) as refused:
        list(importing.csv_rows(b"screenId,colour,colour\nx,1,2\n"))
    fields = [e["field"] for e in refused.value.errors or []]
    assert fields == ["colour", "colour", "colour", "timeZone"]  # unknown (twice), repeated, missing


def test_too_many_rows_is_found_before_anything_is_written(monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 3)
    assert not importing.too_many_rows(b"screenId,timeZone\na,UTC\n\nb,UTC\nc,UTC\n", True)
    assert importing.too_many_rows(b"screenId,timeZone\na,UTC\nb,UTC\nc,UTC\nd,UTC\n", True)
    assert importing.too_many_rows(b"{}\n{}\n\n{}\n{}\n", False)
    with pytest.raises(Problem) as refused:
        importing.check_size(b"{}\n{}\n{}\n{}\n", False)
    assert refused.value.status == 413


def test_a_row_names_every_bad_field_its_unreadable_cells_and_the_models_checks_alike():
    (row,) = importing.csv_rows(b"screenId,timeZone,venueType,country\nx,Mars/Base,ten,XX\n")
    checked = importing._checked(row, {})
    assert isinstance(checked, list)
    assert sorted(e["field"] or "" for e in checked) == ["country", "timeZone", "venueType"]
    seen = {"x": 7}
    (again,) = importing.csv_rows(b"screenId,timeZone\nx,UTC\n")
    repeated = importing._checked(again, seen)
    assert isinstance(repeated, list) and "first on row 7" in repeated[0]["message"]
    (good,) = importing.csv_rows(b"screenId,timeZone\ny,UTC\n")
    assert importing._checked(good, seen) == ("y", parse_screen("y", {"timeZone": "UTC"}).stored())
