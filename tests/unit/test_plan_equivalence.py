"""The bulk planner (issue 21: NDJSON and CSV a window at a time, JSON arrays by separator) makes
exactly the plans the record-by-record planner made (tests/old_plan.py), on random files: same chunks
(byte ranges, first rows, row counts), rows, plan errors, header, or the same FileInvalid message;
whatever the block size (blocks of a few bytes cut lines, quotes, separators and escapes anywhere)."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.bulk.formats import FileInvalid, plan_file, reading
from tests import old_plan

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BLOCKS = st.sampled_from([5, 13, 64, 1 << 20])


def outcome(planner, data: bytes, fmt: str, block: int, chunk_rows: int, max_row: int, chunk_bytes: int):
    saved = reading.BLOCK_SIZE
    reading.BLOCK_SIZE = block
    try:
        return planner(io.BytesIO(data), fmt, chunk_rows, max_row, chunk_bytes).model_dump()
    except FileInvalid as exc:
        return f"FileInvalid: {exc}"
    finally:
        reading.BLOCK_SIZE = saved


def check(data: bytes, fmt: str, block: int, chunk_rows: int, max_row: int, chunk_bytes: int) -> None:
    old = outcome(old_plan.plan_file, data, fmt, block, chunk_rows, max_row, chunk_bytes)
    new = outcome(plan_file, data, fmt, block, chunk_rows, max_row, chunk_bytes)
    assert new == old, data


LINE_PIECES = [b"a", b" ", b"\r", b"\n", b"\r\n", b"\n\n", b"\n  \n", b'"', b'""', b",", b"{}", b"\xc3\xa9"]
LONG_PIECES = [b"x" * 40, b' "' + b"y" * 30, b'""' * 12, b" \t" * 15]  # lines longer than a block
CUTS = dict(
    chunk_rows=st.integers(1, 6),
    max_row=st.sampled_from([3, 16, 1 << 20]),
    chunk_bytes=st.sampled_from([1, 10, 40, 4 << 20]),
)


@st.composite
def line_files(draw, quoted: bool) -> bytes:
    pieces = draw(st.lists(st.sampled_from(LINE_PIECES) | st.sampled_from(LONG_PIECES), max_size=60))
    head = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"id,text\r\n", b"\n \nid\n", b'"a\nb",c\n']))
    return head + b"".join(pieces)


@SETTINGS
@given(data=line_files(False), block=BLOCKS, **CUTS)
def test_ndjson_plans_equal_the_line_by_line_plans(data, block, chunk_rows, max_row, chunk_bytes):
    check(data, "ndjson", block, chunk_rows, max_row, chunk_bytes)


@SETTINGS
@given(data=line_files(True), block=BLOCKS, **CUTS)
def test_csv_plans_equal_the_line_by_line_plans(data, block, chunk_rows, max_row, chunk_bytes):
    check(data, "csv", block, chunk_rows, max_row, chunk_bytes)


STRINGS = st.sampled_from(
    ['"a"', '"}, {"', '"}{"', '"} {"', '"]["', '"\\""', '"\\\\"', '"],["', '"{"', '"\\u00e9"', '""']
    + ['"\\"}, {\\""', '"\\"}{"', '"\\\\"}, {"']  # escaped quotes and backslashes around separators
)
SCALARS = st.sampled_from(["1", "-2.5e3", "true", "null"]) | STRINGS


def values(depth: int = 3):
    if depth == 0:
        return SCALARS
    inner = values(depth - 1)
    return st.one_of(
        SCALARS,
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(STRINGS, inner), max_size=3).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"
        ),
    )


OBJECT = st.lists(st.tuples(STRINGS, values()), max_size=3).map(
    lambda kv: "{" + ", ".join(f"{k}:{v}" for k, v in kv) + "}"
)
JUNK = st.sampled_from(["", "", "", ",", "}", "{", "]", '"', "\\", " x ", "},{"])


@st.composite
def json_files(draw) -> bytes:
    """Arrays of mostly alike objects (so separators repeat) written with one separator, sometimes
    with junk spliced in anywhere; inside an events object or a document member, or bare."""
    kind = draw(st.sampled_from(["array", "events", "member"]))
    sep = draw(st.sampled_from([",", ", ", ",\n ", ",\r\n  ", " , "]))
    shape = draw(OBJECT)
    elements = [draw(st.one_of(st.just(shape), OBJECT, values(1))) for _ in range(draw(st.integers(0, 12)))]
    body = "[" + sep.join(elements) + draw(st.sampled_from(["]", "", ",]", "\n]"]))
    text = {
        "array": body,
        "events": '{"x": [1], "events": ' + body + "}",
        "member": '{"requests": ' + body + "}",
    }[kind]
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(JUNK) + text[at:]
    return text.encode()


ESCAPED_SEPARATOR = b'[{"x": 1}, {"a": "\\"}, {\\""}, {"b": 1}, {"c": 2}]'  # the separator inside a string


@SETTINGS
@given(data=json_files(), block=BLOCKS, **CUTS)
@example(data=ESCAPED_SEPARATOR, block=1 << 20, chunk_rows=3, max_row=1 << 20, chunk_bytes=4 << 20)
def test_json_plans_equal_the_element_by_element_plans(data, block, chunk_rows, max_row, chunk_bytes):
    check(data, "json", block, chunk_rows, max_row, chunk_bytes)


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
def test_the_benchmark_files_plan_alike(fmt):
    from tests import bulk_files

    data = {"ndjson": bulk_files.ndjson, "json": bulk_files.json_array, "csv": bulk_files.csv_file}[fmt](
        1000, "eq"
    )
    for block in (4096, 1 << 20):
        for chunk_rows, chunk_bytes in ((500, 4 << 20), (5000, 50_000)):
            check(data, fmt, block, chunk_rows, 1 << 20, chunk_bytes)
