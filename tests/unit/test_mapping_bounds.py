"""Issue 16 on single records and small samples: poison records are row errors, tenant patterns run
on RE2, records per row and the preview's response are bounded, a long `in` list is a set."""

from __future__ import annotations

import json

import pytest

from shared.bulk.mapping.records import MAX_RECORDS_PER_ROW
from shared.bulk.preview import MAX_PREVIEW_ERRORS, MAX_PREVIEW_EVENTS, preview
from shared.bulk.schemas import compile_mapping, load_mapping
from tests.poison_rows import TRIGGERS, VALID, poison_file


@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_a_poison_record_is_one_row_error_in_a_preview_and_its_neighbours_are_events(trigger):
    mapping, _record, message = TRIGGERS[trigger]
    content, ids = poison_file(trigger, 5, 3)
    shown = preview(load_mapping({"version": "poison-1", **mapping}), content, "ndjson")
    assert (shown.processedRows, shown.errorRows, shown.totalRows) == (4, 1, 5)
    assert {e["eventId"] for e in shown.events} == ids
    [error] = shown.errors
    assert error.row == 3 and message in error.error


def test_catastrophic_backtracking_patterns_run_in_linear_time_on_re2_with_the_same_answers():
    mapping = load_mapping(
        {"version": "re2-1", "fields": {"u": {"to": "context.code", "extract": "^(a+)+$"}}}
    )
    compiled = compile_mapping(mapping, "ndjson")
    event, error = compiled.one({**VALID, "u": "a" * 10_000})
    assert error is None and event.context == {"code": "a" * 10_000}
    event, error = compiled.one({**VALID, "u": "a" * 10_000 + "!"})  # Python's re: about 2^10000 steps
    assert (
        event is None and error.startswith("u (context.code): 'aaaa") and "does not match '^(a+)+$'" in error
    )
    ids = load_mapping({"version": "re2-2", "fields": {"u": {"to": "screenId", "extract": r"adUnits/(\d+)"}}})
    event, _ = compile_mapping(ids, "ndjson").one({**VALID, "u": "advertisers/1/adUnits/8812/x"})
    assert event.screenId == "8812"
    # RE2's \d is ASCII: Arabic-Indic digits are not an id
    event, error = compile_mapping(ids, "ndjson").one({**VALID, "u": "adUnits/\u0661\u0662"})
    assert event is None and "does not match" in error


def envelope(records: int) -> dict:
    return {"screen": "scr-1", "pop": [{"playedAt": VALID["playedAt"], "durationMs": 1000}] * records}


ENVELOPE = {
    "version": "env-1",
    "records": "pop",
    "envelope_fields": ["screen"],
    "fields": {"screen": "screenId"},
}


def test_a_row_holds_at_most_the_stated_number_of_records_beyond_which_it_is_one_row_error():
    compiled = compile_mapping(load_mapping(ENVELOPE), "ndjson")
    outcomes = list(compiled.outcomes(envelope(MAX_RECORDS_PER_ROW)))
    assert len(outcomes) == MAX_RECORDS_PER_ROW and all(event is not None for _, event, _ in outcomes)
    [(label, event, error)] = list(compiled.outcomes(envelope(MAX_RECORDS_PER_ROW + 1)))
    assert event is None and error == (
        "records 'pop': the row holds more than 10,000 records, the limit per row; split it into rows of at most 10,000"
    )


def test_a_1_mib_line_of_empty_records_is_one_row_error_and_its_neighbours_are_mapped():
    line = json.dumps({"screen": "scr-1", "pop": [{}] * 349_000}, separators=(",", ":")).encode()
    assert 1_000_000 < len(line) <= 1 << 20  # within the row size limit: mapped, not refused by size
    content = (
        json.dumps(envelope(2)).encode() + b"\n" + line + b"\n" + json.dumps(envelope(1)).encode() + b"\n"
    )
    shown = preview(load_mapping(ENVELOPE), content, "ndjson")
    assert (shown.processedRows, shown.errorRows, shown.totalRows) == (3, 1, 4)
    assert shown.errors[0].row == 2 and "more than 10,000 records" in shown.errors[0].error


def test_envelope_fields_copied_into_each_record_may_make_at_most_8_times_the_row():
    compiled = compile_mapping(load_mapping(ENVELOPE), "ndjson")
    small = {"screen": "s" * 1_000, "pop": [{}] * 3_000}  # 3 MB of copies from a 10 KB row
    [(_, event, error)] = list(compiled.outcomes(small))
    assert event is None and error.startswith(
        "envelope_fields: copying them into each of the row's 3,000 records makes "
        "3,006,000 bytes, more than 8 times the row"
    )
    fine = {"screen": "s" * 20, "pop": [{"playedAt": VALID["playedAt"], "durationMs": 1}] * 3_000}
    assert all(event is not None for _, event, _ in compiled.outcomes(fine))


def test_the_preview_lists_at_most_1000_events_and_errors_and_says_so_with_whole_counts():
    rows = [{**VALID, "eventId": f"e-{i}"} for i in range(1_500)] + [{**VALID, "durationMs": "x"}] * 1_200
    content = "".join(json.dumps(r) + "\n" for r in rows).encode()
    shown = preview(load_mapping({"version": "cap-1"}), content, "ndjson")
    assert (shown.processedRows, shown.errorRows, shown.totalRows, shown.truncated) == (
        1_500,
        1_200,
        2_700,
        True,
    )
    assert len(shown.events) == MAX_PREVIEW_EVENTS and shown.events[0]["eventId"] == "e-0"
    assert len(shown.errors) == MAX_PREVIEW_ERRORS and shown.errors[0].row == 1_501
    small = preview(load_mapping({"version": "cap-1"}), content[: content.index(b"\n") + 1], "ndjson")
    assert small.truncated is False and len(small.events) == 1


def test_where_in_a_list_of_30000_values_keeps_its_meaning():
    values = [f"scr-{i}" for i in range(30_000)] + [7, 2.5, True]
    compiled = compile_mapping(
        load_mapping({"version": "in-1", "where": [{"field": "screenId", "in": values}]}), "ndjson"
    )
    kept = lambda screen: compiled.one({**VALID, "screenId": screen})[0] is not None  # noqa: E731
    assert kept("scr-29999") and kept("7") and kept("2.5") and kept("True")
    assert not kept("scr-30000") and not kept("7.0") and not kept("x")
    assert compiled.one({**VALID, "screenId": {"nested": 1}}) == (
        None,
        None,
    )  # an object is in no list of scalars
