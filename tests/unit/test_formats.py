"""Framing and parsing of bulk files: shared/bulk/formats/."""

from __future__ import annotations

import io
import json
import random
import tracemalloc

import pytest

from shared.bulk import rows as bulk_rows
from shared.bulk.formats import FORMATS, FileInvalid, iter_rows, plan_file, reading
from shared.bulk.pipeline import splitter
from shared.bulk.schemas import BUILTIN, compile_mapping, load_mapping
from shared.platform import settings as settings_module
from shared.platform.settings import Settings, get_settings
from shared.records.jobs import ChunkSpec, FilePlan, RowError
from tests.bulk_files import BatchCreateDocument

MB = 1 << 20


class Tracked(io.BytesIO):
    """A seekable stream that remembers the furthest byte read (to check chunk bounds)."""

    def __init__(self, data: bytes, max_read: int | None = None):
        super().__init__(data)
        self.furthest = 0
        self.max_read = max_read  # short reads, like a network stream

    def read(self, n=-1):
        if self.max_read is not None and (n is None or n < 0 or n > self.max_read):
            n = self.max_read
        out = super().read(n)
        self.furthest = max(self.furthest, self.tell())
        return out


class Synthetic:
    """A seekable stream made of segments: bytes, or (one_byte, count) runs that are never held whole."""

    def __init__(self, *segments):
        self.segments = [(s, 1) if isinstance(s, bytes) else s for s in segments]
        self.size = sum(len(unit) * count for unit, count in self.segments)
        self.pos = 0

    def seek(self, pos):
        self.pos = pos

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.size - self.pos
        out = []
        start = 0
        for unit, count in self.segments:
            length = len(unit) * count
            if start <= self.pos < start + length and n > 0:
                offset = self.pos - start
                take = min(n, length - offset)
                out.append(unit[offset : offset + take] if count == 1 else unit * take)
                self.pos += take
                n -= take
            start += length
        return b"".join(out)


def plan(data: bytes, fmt: str, chunk_rows: int = 1000, max_row_bytes: int = MB, **kw) -> FilePlan:
    return plan_file(io.BytesIO(data), fmt, chunk_rows, max_row_bytes, **kw)


def read_all(data: bytes, fmt: str, chunk_rows: int = 1000, max_row_bytes: int = MB, max_read=None, **kw):
    """Plan, then read every chunk through iter_rows; also check the chunk contracts."""
    p = plan(data, fmt, chunk_rows, max_row_bytes, **kw)
    rows = []
    for chunk in p.chunks:
        stream = Tracked(data, max_read)
        stream.seek(chunk.start)
        got = list(iter_rows(stream, fmt, chunk, max_row_bytes, p.header))
        assert len(got) == chunk.row_count
        assert got[0][0] == chunk.first_row
        assert stream.furthest <= chunk.end, "iter_rows read past the chunk's end"
        assert chunk.row_count <= chunk_rows
        if "chunk_bytes" in kw and chunk.row_count > 1:  # cut once its records reach chunk_bytes
            assert chunk.end - chunk.start < kw["chunk_bytes"] + max_row_bytes + 2
        rows.extend(got)
    assert sum(c.row_count for c in p.chunks) + len(p.errors) == p.total_rows
    return p, rows


def records(rows):
    return [(row, rec) for row, rec, err in rows if err is None]


def errors(rows):
    return [(row, err) for row, rec, err in rows if err is not None]


# ------------------------------------------------------------------------------------------
# Generic


def test_content_types():
    assert FORMATS == {"ndjson": "application/x-ndjson", "json": "application/json", "csv": "text/csv"}


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
@pytest.mark.parametrize("data", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf"])
def test_empty_file_has_no_rows(fmt, data):
    p = plan(data, fmt)
    assert (p.total_rows, p.chunks, p.errors) == (0, [], [])


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
def test_binary_file_is_invalid(fmt):
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10
    with pytest.raises(FileInvalid, match="binary"):
        plan(data, fmt)


def test_utf16_file_is_invalid():
    data = '{"screenId": "a"}\n'.encode("utf-16")
    with pytest.raises(FileInvalid, match="UTF-16"):
        plan(data, "ndjson")


def test_unknown_format_is_a_programming_error():
    with pytest.raises(ValueError):
        plan(b"x", "xml")


def test_plan_round_trips_through_plain_data():
    data = b'[{"a": 1}, {"b": 2}, {"c": 3}, {"d": "tr'
    p = plan(data, "json", chunk_rows=2)
    assert p.errors == [RowError(row=4, error="Row is truncated: the file ends inside this element")]
    again = FilePlan.model_validate(json.loads(json.dumps(p.model_dump())))
    assert again == p
    assert ChunkSpec.model_validate(p.chunks[0].model_dump()) == p.chunks[0]
    csv_plan = plan(b"a,b\n1,2\n", "csv")
    assert FilePlan.model_validate(json.loads(json.dumps(csv_plan.model_dump()))) == csv_plan


# ------------------------------------------------------------------------------------------
# NDJSON


def test_ndjson_row_numbers_are_line_numbers_with_blank_lines_crlf_and_bom():
    data = b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \n{"a": 2}\r\n\n{"a": 3}'
    p, rows = read_all(data, "ndjson", chunk_rows=2)
    assert records(rows) == [(1, {"a": 1}), (4, {"a": 2}), (6, {"a": 3})]
    assert p.total_rows == 3
    assert p.chunks[0].start == 3  # after the BOM: offsets are the object's bytes
    assert [(c.first_row, c.row_count) for c in p.chunks] == [(1, 2), (6, 1)]
    assert data[p.chunks[1].start : p.chunks[1].end] == b'{"a": 3}'


def test_ndjson_row_errors_are_readable():
    data = (
        b'{"a": 1 "b": 2}\n'
        b"[1, 2]\n"
        b'"text"\n'
        b'{"a": NaN}\n'
        b'{"a": -Infinity}\n'
        b'{"a": "caf\xe9"}\n'
        b"not json\n"
        b'{"ok": true}\n'
    )
    _, rows = read_all(data, "ndjson")
    assert errors(rows) == [
        (1, "Row is not valid JSON: Expecting ',' delimiter at column 9"),
        (2, "Row should be a JSON object, not an array"),
        (3, "Row should be a JSON object, not a string"),
        (4, "Row is not valid JSON: NaN is not allowed"),
        (5, "Row is not valid JSON: -Infinity is not allowed"),
        (6, "Row is not valid UTF-8 (byte 0xe9 at byte 11 of the row)"),
        (7, "Row is not valid JSON: Expecting value at column 1"),
    ]
    assert records(rows) == [(8, {"ok": True})]


def test_ndjson_truncated_last_line_is_a_row_error():
    data = b'{"a": 1}\n{"a": 2}\n{"a": 3, "b'
    p, rows = read_all(data, "ndjson")
    assert p.total_rows == 3
    assert records(rows) == [(1, {"a": 1}), (2, {"a": 2})]
    assert errors(rows)[0][0] == 3
    assert errors(rows)[0][1].startswith("Row is not valid JSON: Unterminated string")


def test_ndjson_last_line_without_newline_is_a_row():
    _, rows = read_all(b'{"a": 1}\n{"a": 2}', "ndjson")
    assert records(rows) == [(1, {"a": 1}), (2, {"a": 2})]


def test_declared_ndjson_but_json_array_is_invalid():
    with pytest.raises(FileInvalid, match="looks like a JSON array"):
        plan(b'\n[{"a": 1},\n{"a": 2}]\n', "ndjson")


def test_ndjson_row_over_the_limit_is_skipped_and_reported():
    data = b'{"a": 1}\n{"big": "' + b"x" * 100 + b'"}\n{"a": 3}\n'
    _, rows = read_all(data, "ndjson", max_row_bytes=50)
    assert errors(rows) == [(2, "Row is 111 bytes; the limit is 50 bytes")]
    assert records(rows) == [(1, {"a": 1}), (3, {"a": 3})]


# ------------------------------------------------------------------------------------------
# JSON


def test_json_array_positions_from_one():
    data = b'\xef\xbb\xbf [\n  {"a": 1},\n  {"a": "x\\"],{"},\n  {"a": {"b": [1, {"c": "]"}]}}\n]\n'
    p, rows = read_all(data, "json", chunk_rows=2)
    assert records(rows) == [(1, {"a": 1}), (2, {"a": 'x"],{'}), (3, {"a": {"b": [1, {"c": "]"}]}})]
    assert [(c.first_row, c.row_count) for c in p.chunks] == [(1, 2), (3, 1)]
    assert data[p.chunks[1].start : p.chunks[1].end].strip() == b'{"a": {"b": [1, {"c": "]"}]}}'


def test_json_events_object_like_the_events_endpoint():
    data = json.dumps(
        {"meta": {"note": "a ] tricky } value", "list": [1, [2]]}, "events": [{"a": 1}, {"a": 2}], "after": 1}
    ).encode()
    p, rows = read_all(data, "json")
    assert records(rows) == [(1, {"a": 1}), (2, {"a": 2})]
    assert p.total_rows == 2


def test_json_document_rows_are_the_elements_of_its_one_array_member():
    # A DV360 adPlays:batchCreate body, pretty-printed: the rows are the elements of "requests",
    # numbered by their position there; the plan and each chunk name the member.
    body = {
        "note": "a ] tricky } value, [not an array]",
        "requests": [{"parent": "sellers/1", "adPlay": {"n": i}} for i in range(5)],
        "meta": {"list": [1, [2]]},
    }
    data = json.dumps(body, indent=2).encode()
    p, rows = read_all(data, "json", chunk_rows=2)
    assert records(rows) == [(i + 1, {"parent": "sellers/1", "adPlay": {"n": i}}) for i in range(5)]
    assert p.member == "requests" and p.total_rows == 5
    assert [(c.first_row, c.row_count, c.member) for c in p.chunks] == [
        (1, 2, "requests"),
        (3, 2, "requests"),
        (5, 1, "requests"),
    ]


def test_json_document_with_an_events_array_reads_events_as_before():
    # An array member met before "events" is framed as it comes, then replaced: one pass.
    data = b'{"meta": [1, 2, 3], "events": [{"a": 1}], "more": [4]}'
    p, rows = read_all(data, "json")
    assert (records(rows), p.member, p.chunks[0].member) == ([(1, {"a": 1})], None, None)
    p, _ = read_all(b'{"meta": [,,], "events": []}', "json")  # the replaced array's errors go too
    assert (p.total_rows, p.errors, p.member) == (0, [], None)


def test_json_document_truncated_inside_its_array_keeps_the_complete_elements():
    p, rows = read_all(b'{"requests": [{"a": 1}, {"a": 2}, {"a": "cut', "json")
    assert records(rows) == [(1, {"a": 1}), (2, {"a": 2})]
    assert p.errors == [RowError(row=3, error="Row is truncated: the file ends inside this element")]
    assert p.member == "requests"
    with pytest.raises(FileInvalid, match="truncated"):
        plan(b'{"requests": [{"a": "cut', "json")


def test_a_json_document_plans_in_bounded_memory_whatever_its_size():
    # The 1 GB run of the same generated document is `python -m bench.json_document` (docs/bulk.md).
    peaks = {}
    for size in (4 * MB, 48 * MB):
        document = BatchCreateDocument(size, pad=4000)  # few elements: tracemalloc slows each one
        tracemalloc.start()
        try:
            p = plan_file(document, "json", 5000, MB, chunk_bytes=4 * MB)
            _, peaks[size] = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (p.member, p.total_rows, p.errors) == ("requests", document.requests, [])
        assert p.chunks[-1].end > size - 4 * MB
    assert peaks[48 * MB] < 6 * MB, f"peak {peaks[48 * MB] / MB:.1f} MiB"
    assert peaks[48 * MB] - peaks[4 * MB] < MB / 2, "memory grows with the document"


def test_json_element_errors():
    data = b'[{"a": 1}, [1], "s", 7, null, {"a": NaN}, {"a": 1,}, {"a": "\xff"}]'
    _, rows = read_all(data, "json")
    assert errors(rows) == [
        (2, "Row should be a JSON object, not an array"),
        (3, "Row should be a JSON object, not a string"),
        (4, "Row should be a JSON object, not a number"),
        (5, "Row should be a JSON object, not null"),
        (6, "Row is not valid JSON: NaN is not allowed"),
        (7, "Row is not valid JSON: Expecting property name enclosed in double quotes at column 9"),
        (8, "Row is not valid UTF-8 (byte 0xff at byte 8 of the row)"),
    ]


def test_json_multiline_element_error_says_where():
    data = b'[\n{\n  "a": 1\n  "b": 2\n}\n]'
    _, rows = read_all(data, "json")
    assert errors(rows) == [
        (1, "Row is not valid JSON: Expecting ',' delimiter at line 3, column 3 of the element")
    ]


def test_json_empty_elements_are_known_errors_and_trailing_comma_is_tolerated():
    data = b'[{"a": 1},, {"a": 3}, {"a": 4},]'
    p, rows = read_all(data, "json", chunk_rows=1)
    assert p.errors == [RowError(row=2, error="Row is empty: there is nothing between two commas")]
    assert records(rows) == [(1, {"a": 1}), (3, {"a": 3}), (4, {"a": 4})]
    assert p.total_rows == 4
    _, rows = read_all(data, "json", chunk_rows=10)
    assert [r[0] for r in rows] == [1, 3, 4]


def test_json_truncated_array_keeps_complete_elements():
    data = b'[{"a": 1}, {"a": 2}, {"a": "cut here'
    p, rows = read_all(data, "json")
    assert records(rows) == [(1, {"a": 1}), (2, {"a": 2})]
    assert p.errors == [RowError(row=3, error="Row is truncated: the file ends inside this element")]
    assert p.total_rows == 3
    # Ends after a complete element, before "]": every element is a row.
    p, rows = read_all(b'[{"a": 1}, {"a": 2}\n', "json")
    assert (p.total_rows, p.errors, len(records(rows))) == (2, [], 2)


@pytest.mark.parametrize("data", [b'[{"a": "cut', b"[", b'{"events": [{"a": {"b": 1}'])
def test_json_with_nothing_complete_is_invalid(data):
    with pytest.raises(FileInvalid, match="truncated"):
        plan(data, "json")


def test_json_empty_array_has_no_rows():
    assert plan(b"[ ]", "json").total_rows == 0
    assert plan(b'{"events": []}', "json").total_rows == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"eventId,screenId\n1,2\n", "declared json but starts with 'eventId,screenId"),
        (b'{"screenId": "a"}\n{"screenId": "b"}\n', 'no "events" array .*use format ndjson'),
        (b'{"data": {"a": 1}}', 'no "events" array'),
        (b'{"requests": [{"a": 1}], "warnings": []}', 'more than one array \\("requests", "warnings"\\)'),
        (b'{"a.b": [{"a": 1}]}', "cannot be written in a records path"),
        (b'{"": [{"a": 1}]}', "cannot be written in a records path"),
        (b'{"' + b"r" * 65 + b'": [{"a": 1}]}', "is 65 characters; at most 64"),
        (b'{"\\ud800": [{"a": 1}]}', "not valid Unicode"),
        (b'{"requests": [{"a": 1}]} {"requests": []}', "holds more after the JSON document"),
        (b'{"events": {"a": 1}}', '"events" in the JSON object should be an array'),
        (b'{"meta": {"a": [1, 2', "truncated"),
    ],
)
def test_json_that_cannot_be_framed_is_invalid(data, message):
    with pytest.raises(FileInvalid, match=message):
        plan(data, "json")


# ------------------------------------------------------------------------------------------
# CSV


def test_csv_rows_are_line_numbers_of_the_record_first_line():
    data = (
        b"\xef\xbb\xbfscreenId,note,durationMs\r\n"
        b"s1,plain,1\r\n"
        b's2,"two\r\nlines",2\r\n'
        b"\r\n"
        b's3,"three\nlines, with ""quotes""\n!",3\n'
        b"s4,,4"
    )
    p, rows = read_all(data, "csv", chunk_rows=2)
    assert p.header == ["screenId", "note", "durationMs"]
    assert records(rows) == [
        (2, {"screenId": "s1", "note": "plain", "durationMs": "1"}),
        (3, {"screenId": "s2", "note": "two\r\nlines", "durationMs": "2"}),
        (6, {"screenId": "s3", "note": 'three\nlines, with "quotes"\n!', "durationMs": "3"}),
        (9, {"screenId": "s4", "durationMs": "4"}),  # empty cells are omitted
    ]
    assert [(c.first_row, c.row_count) for c in p.chunks] == [(2, 2), (6, 2)]
    assert p.total_rows == 4


def test_csv_value_count_must_match_the_header():
    data = b"a,b,c,d,e,f\n1,2,3,4,5,6,7\n1,2\n1,2,3,4,5,6\n"
    _, rows = read_all(data, "csv")
    assert errors(rows) == [
        (2, "Row has 7 values; the header has 6 columns"),
        (3, "Row has 2 values; the header has 6 columns"),
    ]
    assert [r for r, _ in records(rows)] == [4]


def test_csv_non_utf8_row():
    _, rows = read_all(b"a,b\n1,caf\xe9\n2,ok\n", "csv")
    assert errors(rows) == [(2, "Row is not valid UTF-8 (byte 0xe9 at byte 6 of the row)")]
    assert records(rows) == [(3, {"a": "2", "b": "ok"})]


def test_csv_unterminated_quote_at_the_end_is_one_row():
    data = b'a,b\n1,2\n3,"never closed\n4,5\n'
    p, rows = read_all(data, "csv")
    assert p.total_rows == 2
    assert records(rows)[0] == (2, {"a": "1", "b": "2"})
    assert rows[1][0] == 3


def test_csv_header_only_has_no_rows():
    p = plan(b"a,b,c\r\n", "csv")
    assert (p.total_rows, p.header) == (0, ["a", "b", "c"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"screenId": "a"}\n{"screenId": "b"}\n', "declared csv but looks like NDJSON"),
        (b'[{"screenId": "a"}]', "declared csv but looks like JSON"),
        (b"a,\xff\n1,2\n", "header row is not valid UTF-8"),
    ],
)
def test_csv_that_cannot_be_framed_is_invalid(data, message):
    with pytest.raises(FileInvalid, match=message):
        plan(data, "csv")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b",,\n1,2,3\n", "empty header"),
        (b"a,,c\n1,2,3\n", "empty column name (column 2)"),
        (b"a,b,a\n1,2,3\n", "names column 'a' twice"),
    ],
)
def test_csv_header_that_names_no_columns_is_kept_for_the_mapping_to_judge(data, message):
    """A mapping may read the file without a header or with another delimiter; with commas and a
    header (1.0), the problem is the ingest's 400 (tests/integration/test_mapping_jobs.py)."""
    p = plan(data, "csv")
    assert p.header is None and message in p.header_problem
    assert (p.header_row, p.header_start, p.header_text) == (1, 0, data.split(b"\n")[0].decode())
    assert p.total_rows == 1


def test_csv_huge_field_is_parsed_up_to_the_row_limit():
    big = "y" * 300_000  # above the csv module's default field limit
    data = f"a,b\n1,{big}\n".encode()
    _, rows = read_all(data, "csv")
    assert records(rows) == [(2, {"a": "1", "b": big})]


# ------------------------------------------------------------------------------------------
# Chunks agree with a whole-file parse, whatever the block size and read sizes


def _sample(fmt: str, rng: random.Random, n: int) -> bytes:
    lines = []
    if fmt == "csv":
        lines.append("\ufeffid,text,num")
    for i in range(n):
        kind = rng.random()
        if fmt == "csv":
            text = rng.choice(["plain", '"quoted, comma"', '"multi\nline"', '"q ""x"""', "", '"a\r\nb"'])
            line = f"{i},{text},{rng.randint(0, 9)}" if kind > 0.1 else f"{i},only-two"
        else:
            obj = {"i": i, "s": rng.choice(["x", 'q"', "]}", "\\", "é", "[{,"]), "n": {"d": [1, {"e": "}"}]}}
            line = json.dumps(obj, ensure_ascii=rng.random() > 0.5)
            if kind < 0.05:
                line = line.replace(":", "", 1)  # broken, brackets still balanced
        lines.append(line)
        if fmt != "json" and rng.random() < 0.1:
            lines.append(rng.choice(["", "  ", "\r"]))
    if fmt == "json":
        sep = rng.choice([",", ",\n", " ,\r\n  "])
        return ("[" + sep.join(lines[:]) + "]").encode()
    eol = rng.choice(["\n", "\r\n"])
    return eol.join(lines).encode()


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
@pytest.mark.parametrize("block", [3, 17, 4096])
def test_chunked_reads_equal_a_whole_file_parse(fmt, block, monkeypatch):
    rng = random.Random(f"{fmt}-{block}")
    data = _sample(fmt, rng, 120)
    whole_plan, whole = read_all(data, fmt, chunk_rows=10**9)
    monkeypatch.setattr(reading, "BLOCK_SIZE", block)
    for chunk_rows in (1, 2, 7, 50):
        p, rows = read_all(data, fmt, chunk_rows=chunk_rows, max_read=block // 2 + 1)
        assert rows == whole
        assert p.total_rows == whole_plan.total_rows
        assert p.errors == whole_plan.errors
        assert p.header == whole_plan.header
    assert len(whole) >= 100
    assert any(err for _, _, err in whole) or fmt == "csv"
    for chunk_bytes in (1, 40, 300):  # cut by bytes as well: the same rows
        p, rows = read_all(data, fmt, chunk_rows=50, max_read=block // 2 + 1, chunk_bytes=chunk_bytes)
        assert rows == whole and p.total_rows == whole_plan.total_rows
        assert len(p.chunks) > len(whole_plan.chunks)


# ------------------------------------------------------------------------------------------
# A 50 MB row: skipped without being held in memory


FIFTY_MB = 50 * MB


@pytest.mark.parametrize(
    ("fmt", "before", "big", "after", "big_row"),
    [
        ("ndjson", b'{"a": 1}\n', [b'{"big": "', (b"x", FIFTY_MB - 11), b'"}'], b'\n{"a": 3}\n', 2),
        ("json", b'[{"a": 1},\n', [b'{"big": "', (b"x", FIFTY_MB - 11), b'"}'], b',\n{"a": 3}]', 2),
        ("csv", b"a,big\r\n1,2\r\n", [b'1,"multi\r\nline ', (b"x", FIFTY_MB - 16), b'"'], b"\r\n3,4\r\n", 3),
    ],
)
def test_fifty_megabyte_row_is_a_row_error_with_bounded_memory(fmt, before, big, after, big_row):
    stream = Synthetic(before, *big, after)
    assert stream.size - len(before) - len(after) == FIFTY_MB
    tracemalloc.start()
    try:
        p = plan_file(stream, fmt, 1000, MB)
        got = []
        for chunk in p.chunks:
            stream.seek(chunk.start)
            got.extend(iter_rows(stream, fmt, chunk, MB, p.header))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert p.total_rows == 3
    assert [(r, err) for r, rec, err in got if err] == [
        (big_row, f"Row is {FIFTY_MB} bytes; the limit is {MB} bytes")
    ]
    assert len([rec for _, rec, _ in got if rec]) == 2
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MiB"


def test_iter_rows_on_an_object_that_changed_after_planning_fails_clearly():
    data = b'{"a": 1}\n{"a": 2}\n{"a": 3}\n'
    p = plan(data, "ndjson")
    shorter = io.BytesIO(b'{"a": 1}\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n')
    with pytest.raises(FileInvalid, match="changed after it was split"):
        list(iter_rows(shorter, "ndjson", p.chunks[0], MB, None))


@pytest.mark.parametrize(
    "data, rows",
    [
        (b'[{"a":1}]  \n', 1),
        (b'{"events": [{"a":1}], "meta": {"x": [1, "]}"]}}\n', 1),
        (b'{"meta": 1, "events": [{"a":1}]}', 1),
        (b'{"events": [{"a":1}]', 1),  # ends early: accepted, like a truncated array
    ],
)
def test_json_documents_that_end_cleanly_are_planned(data, rows):
    assert plan(data, "json").total_rows == rows


@pytest.mark.parametrize(
    "data",
    [
        b'[{"a":1},{"b":2}][{"c":3},{"d":4}]',
        b'[{"a":1}] ,',
        b'{"events": [{"a":1}], "meta": 1} {"x":1}',
        b'{"events": [{"a":1}] x',
        b'[{"a":1}]\n{"b":2}\n',
    ],
)
def test_content_after_the_json_document_makes_the_file_invalid_instead_of_vanishing(data):
    with pytest.raises(FileInvalid):
        plan(data, "json")


@pytest.mark.parametrize(
    "data",
    [
        b'{"events": [{"a":1}], "events": [{"b":2}]}',
        b'{"events": [{"a":1}], "meta": {"events": 1}, "events": []}',
        b'{"events": [{"a":1}], "\\u0065vents": [{"b":2}]}',  # the same name, escaped
    ],
)
def test_json_object_with_events_twice_is_invalid_not_first_wins(data):
    with pytest.raises(FileInvalid, match='"events" more than once'):
        plan(data, "json")


# ------------------------------------------------------------------------------------------
# Chunks are bounded by bytes as well as rows: one worker call stays short whatever a mapping
# makes of a line (an envelope can make one line thousands of records)


def tiny_records_line(n: int, record: bytes = b"{}") -> bytes:
    return b'{"pop":[' + b",".join([record] * n) + b"]}\n"


def test_lines_of_many_tiny_records_are_cut_by_bytes_so_a_chunk_holds_boundedly_many_records():
    settings = get_settings()
    line = tiny_records_line(10_000)  # 30,010 bytes, 10,000 records once a mapping's `records` opens it
    data = line * 1_000  # 30 MB: 1,000 lines, under chunk_rows; one chunk when cut by lines alone
    p = plan_file(io.BytesIO(data), "ndjson", settings.chunk_rows, settings.max_row_bytes)
    assert p.total_rows == 1_000
    assert len(p.chunks) >= len(data) // (settings.chunk_bytes + len(line)) > 1
    for c in p.chunks[:-1]:
        assert settings.chunk_bytes <= c.end - c.start < settings.chunk_bytes + len(line)
    # whatever records a line holds, a chunk's records fit in its bytes, each at least 2 bytes ("0,")
    worst = max(c.end - c.start for c in p.chunks) // 2
    assert worst <= (settings.chunk_bytes + settings.max_row_bytes) // 2


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
def test_rows_of_ordinary_size_keep_chunks_of_chunk_rows(fmt):
    settings = get_settings()
    event = {
        "eventId": "evt-0000001",
        "screenId": "screen-001",
        "siteId": "site-001",
        "campaignId": "campaign-001",
        "creativeId": "creative-001",
        "playedAt": "2025-01-27T10:00:00Z",
        "durationMs": 30000,
        "impressions": {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}},
    }
    line = json.dumps(event).encode()  # 270 bytes
    n = 3 * settings.chunk_rows + 7
    if fmt == "ndjson":
        data = (line + b"\n") * n
    elif fmt == "json":
        data = b"[" + b",\n".join([line] * n) + b"]"
    else:
        data = b"screenId,note\n" + (b's1,"' + line.replace(b'"', b'""') + b'"\n') * n
    p = plan_file(io.BytesIO(data), fmt, settings.chunk_rows, settings.max_row_bytes)
    assert [c.row_count for c in p.chunks] == [settings.chunk_rows] * 3 + [7]


def test_chunk_bytes_is_a_setting_consistent_with_the_plan_limit(monkeypatch):
    settings = Settings()
    assert settings.chunk_bytes == 4 * MB
    # every chunk but the last holds chunk_bytes or 2 x chunk_rows bytes, so a plan has at most
    # max_file_bytes / chunk_bytes chunks from bytes: it must fit the plan's limit
    assert settings_module.MAX_PLAN_CHUNKS == splitter.MAX_PLAN_CHUNKS
    assert settings.chunk_bytes * splitter.MAX_PLAN_CHUNKS >= settings.max_file_bytes
    assert settings.chunk_rows * 300 < settings.chunk_bytes  # ordinary rows (~270 bytes) are cut by rows
    with pytest.raises(ValueError, match="chunk_bytes"):
        Settings(chunk_bytes=MB)  # 5 GiB files would need 5,120 chunks
    # a deployment that accepts files over 20 GiB gets larger chunks, as chunk_rows_for does for rows
    assert Settings(max_file_bytes=100 * 1024**3).chunk_bytes == -(-100 * 1024**3 // splitter.MAX_PLAN_CHUNKS)
    monkeypatch.setenv("COATRO_CHUNK_BYTES", str(2 * MB))
    monkeypatch.setenv("COATRO_MAX_FILE_BYTES", str(2 * MB * splitter.MAX_PLAN_CHUNKS))
    assert Settings().chunk_bytes == 2 * MB


@pytest.mark.parametrize("row", [b"1\n", b'{"pop":[' + b"0," * 200 + b"0]}\n"])
def test_a_plan_of_the_largest_file_stays_within_max_plan_chunks(monkeypatch, row):
    """chunk_rows_for and chunk_bytes together: at most MAX_PLAN_CHUNKS chunks, for rows of any size."""
    size = 2_000_000
    monkeypatch.setenv("COATRO_MAX_FILE_BYTES", str(size))
    monkeypatch.setenv("COATRO_CHUNK_BYTES", str(size // splitter.MAX_PLAN_CHUNKS))
    monkeypatch.setenv("COATRO_CHUNK_ROWS", "10")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        data = row * (size // len(row))
        p = plan_file(io.BytesIO(data), "ndjson", splitter.chunk_rows_for(len(data)), settings.max_row_bytes)
    finally:
        get_settings.cache_clear()
    assert sum(c.row_count for c in p.chunks) == size // len(row)
    assert len(p.chunks) <= splitter.MAX_PLAN_CHUNKS


# ------------------------------------------------------------------------------------------
# A CSV file's first row over the row size limit: the header the splitter cannot read, or (for a
# mapping with header: false) one data row that is a row error like any other long row


HEADERLESS = load_mapping({"version": "nohead-t", "header": False, "columns": ["screenId", "durationMs"]})


def first_row_outcomes(mapping, data: bytes, max_row_bytes: int):
    """What the pipeline does with a CSV plan for `mapping`: (problem, outcomes of every row)."""
    p = plan(data, "csv", max_row_bytes=max_row_bytes)
    header, problem = bulk_rows.csv_header(mapping, p)
    if problem:
        return problem, []
    compiled = compile_mapping(mapping, "csv")
    first = bulk_rows.first_row_chunk(mapping, p, len(p.chunks))
    out = []
    for chunk in p.chunks + ([first] if first else []):
        stream = io.BytesIO(data)
        stream.seek(chunk.start)
        out += [
            (row, error)
            for row, _event, error in bulk_rows.mapped_rows(
                stream, "csv", chunk, max_row_bytes, header, compiled
            )
        ]
    return None, sorted(out)


@pytest.mark.parametrize("long_row", [b"s-x," + b"9" * 2_000 + b"\n", b'"s-x\n' + b"9" * 2_000 + b'",1\r\n'])
def test_csv_first_row_over_the_limit_is_kept_in_the_plan_not_invalid(long_row):
    data = long_row + b"s-2,2\ns-3,3\n"
    p = plan(data, "csv", max_row_bytes=1_000)
    assert (p.header_row, p.header_start, p.header_end) == (1, 0, len(long_row))
    assert p.header is None and p.header_text is None
    assert p.header_problem == (
        f"The CSV header row cannot be read: it is {len(long_row.rstrip())} bytes, longer than the row size limit "
        "(1000 bytes)"
    )
    assert p.total_rows == 2 and [(c.first_row, c.row_count) for c in p.chunks] == [
        (len(long_row.splitlines()) + 1, 2)
    ]
    assert FilePlan.model_validate(json.loads(json.dumps(p.model_dump()))) == p


def test_csv_first_row_over_the_limit_is_one_row_error_without_a_header_and_fails_with_one():
    long_row = b"s-1," + b"9" * 2_000 + b"\n"
    data = long_row + b"s-2,2\ns-3,3\n"
    problem, outcomes = first_row_outcomes(HEADERLESS, data, 1_000)
    assert problem is None
    assert outcomes == [
        (1, f"Row is {len(long_row) - 1} bytes; the limit is 1000 bytes"),
        (2, None),
        (3, None),
    ]
    # the same row anywhere else is the same row error
    _, elsewhere = first_row_outcomes(HEADERLESS, b"s-0,0\n" + data, 1_000)
    assert elsewhere[1] == (2, f"Row is {len(long_row) - 1} bytes; the limit is 1000 bytes")
    # a mapping that reads a header row cannot read this one, with any delimiter
    message = (
        f"The CSV header row cannot be read: it is {len(long_row) - 1} bytes, longer than the row size "
        "limit (1000 bytes)"
    )
    assert first_row_outcomes(BUILTIN["1.0"], data, 1_000) == (message, [])
    semicolons = load_mapping({"version": "semi-t", "delimiter": ";"})
    assert first_row_outcomes(semicolons, data, 1_000) == (message, [])
