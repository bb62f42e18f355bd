"""Reading events from NDJSON / JSON without loading the file, with positions, and cutting batches."""

from __future__ import annotations

import io
import json

import pytest

from coatro_cli import events as ev
from coatro_cli.events import API_MAX_BODY_BYTES, Batch, SourceEvent, Unreadable, batches, read_events


class Trickle(io.StringIO):
    """A stream that hands out a few characters at a time, to cross every block boundary."""

    def read(self, n=-1):
        return super().read(min(n if n >= 0 else 7, 7))


def read(text: str, trickle: bool = True):
    return list(read_events(Trickle(text) if trickle else io.StringIO(text)))


def positions(items):
    return [(i.line, i.ordinal) if isinstance(i, SourceEvent) else ("bad", i.line) for i in items]


def test_ndjson_lines_are_events_with_their_line_numbers():
    items = read('{"eventId":"a"}\n\n{"eventId":"b","durationMs":12345}\n  {"eventId":"c"}')
    assert positions(items) == [(1, None), (3, None), (4, None)]
    assert [json.loads(i.encoded)["eventId"] for i in items] == ["a", "b", "c"]
    assert json.loads(items[1].encoded)["durationMs"] == 12345


def test_fields_the_client_does_not_know_pass_through_as_sent():
    """The client checks only that an event is a JSON object: the API validates fields, so a field
    added to the contract (plannedDurationMs, issue 18) needs no new client."""
    line = '{"eventId":"a","durationMs":11250,"plannedDurationMs":15000,"notYetAField":1}'
    [item] = read(line)
    assert json.loads(item.encoded) == json.loads(line)


def test_ndjson_bad_lines_are_reported_and_reading_goes_on():
    items = read('{"eventId":"a"}\n{"eventId": oops}\n[1]\n{"eventId":"d"}\n{"x": NaN}\n')
    assert positions(items) == [(1, None), ("bad", 2), ("bad", 3), (4, None), ("bad", 5)]
    assert "not valid JSON" in items[1].message and not items[1].fatal
    assert "must be a JSON object" in items[2].message


@pytest.mark.parametrize("trickle", [True, False])
def test_json_array_positions_are_line_and_ordinal(trickle):
    text = '[\n  {"eventId": "a",\n   "durationMs": 1},\n  {"eventId": "b"}, {"eventId": "c"}\n]\n'
    assert positions(read(text, trickle)) == [(2, 1), (4, 2), (4, 3)]


def test_events_envelope_like_the_api_body():
    text = '{\n "events": [\n  {"eventId": "a"},\n  {"eventId": "b"}\n ]\n}'
    items = read(text)
    assert positions(items) == [(3, 1), (4, 2)]
    assert read('{"events": []}') == []


def test_a_single_object_that_is_not_an_envelope_is_read_as_ndjson():
    assert positions(read('{"eventId": "a", "events2": 1}\n')) == [(1, None)]


def test_broken_json_array_stops_with_its_line():
    items = read('[\n{"eventId": "a"},\n{"eventId": "b" "x"}\n]')
    assert positions(items) == [(2, 1), ("bad", 3)]
    assert items[-1].fatal and "not valid JSON" in items[-1].message
    items = read('[{"eventId": "a"}] trailing')
    assert items[-1].fatal and "after the end" in items[-1].message
    items = read('{"events": [], "other": 1}')
    assert items[-1].fatal and 'unexpected key "other"' in items[-1].message


def test_numbers_split_across_blocks_are_not_cut():
    text = "[" + ",".join(str(10**12 + i) for i in range(50)) + "]"
    items = read(text)
    assert all(isinstance(i, Unreadable) and "JSON object" in i.message for i in items) and len(items) == 50


def test_empty_input_has_no_events():
    assert read("") == [] and read("  \n\n") == [] and read("[]") == []


def test_large_input_is_read_in_blocks_not_whole(monkeypatch):
    reads = []

    class Counting(io.StringIO):
        def read(self, n=-1):
            assert n > 0, "the reader must never ask for the whole stream"
            reads.append(n)
            return super().read(n)

    text = "".join(
        json.dumps({"eventId": f"e{i}", "context": {"pad": "x" * 200}}) + "\n" for i in range(2000)
    )
    items = list(read_events(Counting(text)))
    assert len(items) == 2000 and len(reads) > 5


def make(n: int, size: int = 10) -> list[SourceEvent]:
    return [SourceEvent(i + 1, None, b"x" * size) for i in range(n)]


def test_batches_respect_the_event_count():
    out = list(batches(make(25), max_events=10, max_bytes=10_000))
    assert [len(b.events) for b in out] == [10, 10, 5]
    assert [b.number for b in out] == [1, 2, 3]


def test_batches_respect_the_byte_limit_and_bodies_are_exact():
    out = list(batches(make(100, size=100), max_events=10_000, max_bytes=1_000))
    assert all(len(b.body()) <= 1_000 for b in out)
    assert all(b.size == len(b.body()) for b in out)
    assert sum(len(b.events) for b in out) == 100
    # Full batches: adding the next event would have crossed the limit.
    assert all(len(b.body()) + 101 > 1_000 for b in out[:-1])


def test_batch_body_is_the_api_request_body():
    items = read('{"eventId":"a"}\n{"eventId":"b"}\n')
    [batch] = list(batches(items, 10, 10_000))
    assert json.loads(batch.body()) == {"events": [{"eventId": "a"}, {"eventId": "b"}]}
    import gzip

    assert gzip.decompress(batch.gzipped()) == batch.body()


def test_an_event_bigger_than_the_soft_limit_goes_alone_and_one_over_the_api_limit_is_refused():
    items = make(2, 10) + [SourceEvent(3, None, b"y" * 5_000)] + make(1, 10)
    out = list(batches(items, 10, 1_000))
    assert [len(b.events) for b in out] == [2, 1, 1]
    huge = [SourceEvent(1, None, b"z" * API_MAX_BODY_BYTES)] + make(1)
    out = list(batches(huge, 10, 1_000))
    assert isinstance(out[0], Unreadable) and "at most" in out[0].message
    assert isinstance(out[1], Batch)


def test_batch_limits_cannot_exceed_the_api():
    with pytest.raises(ValueError):
        list(batches([], max_events=10_001))
    with pytest.raises(ValueError):
        list(batches([], max_bytes=API_MAX_BODY_BYTES + 1))
    assert ev.DEFAULT_BATCH_EVENTS <= ev.API_MAX_EVENTS and ev.DEFAULT_BATCH_BYTES < API_MAX_BODY_BYTES


def test_unreadable_input_passes_through_in_order():
    items = [*make(2), Unreadable(3, "bad"), *make(1)]
    out = list(batches(items, 10, 10_000))
    assert isinstance(out[0], Unreadable) and isinstance(out[1], Batch) and len(out[1].events) == 3
