"""Property tests (Hypothesis) of issue 16: over generated mappings and generated records, no
exception escapes a record, and a preview is exactly what a job of the same bytes records."""

from __future__ import annotations

import io
import json
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.bulk import formats, preview, rows
from shared.bulk.mapping import compiled as compiled_module
from shared.bulk.mapping import screen_zones
from shared.bulk.mapping.compiled import Pending
from shared.bulk.pipeline import worker
from shared.bulk.schemas import compile_mapping
from shared.canonical.messages import MessageEncoder
from shared.records.screens import ScreenRecord
from tests.mapping_strategies import json_values, mapping_bodies, ndjson, records, scalars, usable

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# "timezone": "screen": screens whose id has an even length are registered, moved from Tokyo to Paris
MOVED = [
    ("Asia/Tokyo", "2000-01-01T00:00:00Z", "2025-01-27T10:00:00Z"),
    ("Europe/Paris", "2025-01-27T10:00:00Z", None),
]


def registry(screen_ids: list[str]) -> dict[str, list[ScreenRecord]]:
    return {
        s: [
            ScreenRecord(
                tenantId="tenant-1",
                screenId=s,
                version=n,
                validFrom=start,
                validTo=end,
                updatedAt=start,
                fields={"timeZone": zone},
            )
            for n, (zone, start, end) in enumerate(MOVED, 1)
        ]
        for s in screen_ids
        if len(s) % 2 == 0
    }


@SETTINGS
@given(
    body=mapping_bodies,
    record=records | json_values,
    fmt=st.sampled_from(["ndjson", "csv"]),
    zone=st.sampled_from([None, "Europe/Paris"]),
)
def test_every_record_is_an_event_an_error_or_a_skip_and_the_mapping_code_never_raises(
    body, record, fmt, zone
):
    mapping = usable(body)
    assume(mapping is not None)
    compiled = compile_mapping(mapping, fmt, zone)
    # The unguarded path: every failure is worded where it happens, not left to the safety net in `one`.
    if compiled.records is None:
        outcomes = [(None, *compiled._one(record))]
    else:
        outcomes = list(compiled.outcomes(record))
    for _label, found, error in outcomes:
        event = found
        if type(found) is Pending:  # its screen's zones: a history, or none
            assert error is None
            event, error = compiled.finish(
                found, screen_zones.spans(MOVED) if len(str(found.screen_id)) % 2 else "is not registered"
            )
        assert event is None or error is None
        assert error is None or (isinstance(error, str) and error)
        assert (
            error is None
            or "could not be applied" not in error
            and "out of range for the mapping" not in error
        ), error


@SETTINGS
@given(
    body=mapping_bodies,
    lines=st.lists(records | json_values, min_size=1, max_size=6),
    chunk_rows=st.integers(1, 3),
    fmt=st.sampled_from(["ndjson", "json"]),
)
def test_a_preview_is_what_the_job_of_the_same_bytes_records(body, lines, chunk_rows, fmt):
    mapping = usable(body)
    assume(mapping is not None)
    _preview_is_the_job(mapping, lines, chunk_rows, fmt)


LOCAL_TIMES = [
    "2025-01-27T10:30:00",  # Tokyo: 01:30Z, before the move
    "2025-01-27T19:30:00",  # Tokyo: 10:30Z, after it, Paris 18:30Z after too: Paris
    "2025-01-27T12:00:00",  # Tokyo 03:00Z before, Paris 11:00Z after: Paris
    "2025-03-30 02:30",  # Paris's missing hour
    "2025-10-26 02:30",  # Paris's repeated hour
    "0001-01-01 00:00",
    "9999-12-31T23:59:59",
    "2025-01-27T10:00:00Z",
    "later",
]
screen_records = st.fixed_dictionaries(
    {"screenId": st.sampled_from(["ab", "abc", "", "a/b", "..", 7]) | st.text(max_size=4)},
    optional={"playedAt": st.sampled_from(LOCAL_TIMES), "endedAt": st.sampled_from(LOCAL_TIMES)},
)


@SETTINGS
@given(
    body=st.just({"version": "prop-1"}) | mapping_bodies,
    lines=st.lists(screen_records | records, min_size=1, max_size=8),
    chunk_rows=st.integers(1, 3),
    fmt=st.sampled_from(["ndjson", "json"]),
)
def test_under_screen_local_time_a_preview_is_what_the_job_records(body, lines, chunk_rows, fmt):
    """ "timezone": "screen": records wait for their screens, read in batches per chunk; whatever the
    chunking, the preview shows what the job records."""
    body = {k: v for k, v in body.items() if k not in ("timezone_field", "timezone_lookup")}
    mapping = usable({**body, "timezone": "screen"})
    assume(mapping is not None)
    _preview_is_the_job(mapping, lines, chunk_rows, fmt)


def _preview_is_the_job(mapping, lines, chunk_rows, fmt):
    # json: one document whose rows are the elements of its array member "pop" (records paths "pop",
    # "pop[*].a" read it from the document)
    data = ndjson(lines) if fmt == "ndjson" else json.dumps({"pop": lines}).encode()
    # The job: the splitter's plan in chunks of chunk_rows, each chunk through the worker's loop.
    try:
        plan = formats.plan_file(io.BytesIO(data), fmt, chunk_rows, preview.MAX_PREVIEW_ROW_BYTES)
    except formats.FileInvalid as exc:  # the file is invalid: the job fails whole, the preview is refused
        with pytest.raises(preview.PreviewRefused, match=re.escape(str(exc))):
            preview.preview(mapping, data, fmt)
        return
    problem = rows.json_document_problem(mapping, plan)
    if problem:  # ingest refuses the file with this mapping, and so does the preview
        with pytest.raises(preview.PreviewRefused, match=re.escape(problem)):
            preview.preview(mapping, data, fmt)
        return
    shown = preview.preview(mapping, data, fmt, None, registry)
    compiled = compile_mapping(mapping, fmt)
    encode = MessageEncoder("tenant-1", "bulk", "2025-01-27T10:00:00.000Z", "job-1").encode
    published, errors, skipped = [], list(plan.errors), 0
    for chunk in plan.chunks:  # the worker's own loop, publishing into a list
        stream = io.BytesIO(data)
        stream.seek(chunk.start)
        before = len(published)
        outcome = worker.map_chunk(
            stream,
            fmt,
            chunk,
            preview.MAX_PREVIEW_ROW_BYTES,
            None,
            compiled,
            encode,
            keep=10_000,
            publish=lambda batch: published.extend(batch) or len(batch),
            screens=registry,
        )
        assert outcome.processed == len(published) - before  # the counts recorded are what was published
        errors += outcome.errors
        skipped += outcome.skipped
        assert outcome.error_rows == len(outcome.errors)
    errors.sort(key=lambda e: e.row)
    assert (shown.processedRows, shown.errorRows, shown.skippedRows) == (len(published), len(errors), skipped)
    assert shown.totalRows == len(published) + len(errors) + skipped
    assert shown.errors == errors
    # The events shown are the messages' events, without what the job adds (provenance; a derived id).
    for event, (data_bytes, _attributes) in zip(shown.events, published, strict=True):
        message = json.loads(data_bytes)
        for added in ("tenantId", "source", "ingestedAt", "jobId", "row") + (
            () if "eventId" in event else ("eventId",)
        ):
            message.pop(added, None)
        assert message == event


def _same(a, b) -> bool:
    """The rule the set lookup must keep, compared pair by pair (what conditions did before it):
    equal, or, when exactly one is a string, equal as text."""
    if type(a) is type(b) or type(a) is not str and type(b) is not str:
        return a == b
    return str(compiled_module._as_string(a)) == str(compiled_module._as_string(b))


@settings(max_examples=500, deadline=None)
@given(values=st.lists(scalars, max_size=8), actual=scalars | json_values)
def test_the_set_lookup_of_in_answers_as_comparing_with_each_value(values, actual):
    assume(actual is not None)
    membership = compiled_module._Membership(values)
    expected = any(_same(actual, v) for v in values) if type(actual) not in (dict, list) else False
    assert membership(actual) == expected
