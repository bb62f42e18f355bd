"""Each shipped example mapping on its sample export (tests/example_exports.py), through
`shared.bulk.preview`: the splitter's framing and the worker's mapping loop."""

from __future__ import annotations

import json

import pytest

from shared.bulk.preview import preview
from shared.bulk.schemas import load_mapping
from tests.bulk_files import shipped_examples
from tests.example_exports import ALL, BROADSIGN, DV360_BATCH, XIBO, Expected, dv360_batch_with_bad_requests

EXAMPLES = shipped_examples()


@pytest.mark.parametrize("expected", ALL, ids=[e.version for e in ALL])
def test_example_mapping_on_its_sample(expected: Expected):
    result = preview(EXAMPLES[expected.version], expected.data, expected.fmt)
    assert (result.totalRows, result.processedRows, result.errorRows, result.skippedRows) == expected.counts
    assert result.events == expected.events
    assert [(e.row, e.error) for e in result.errors] == expected.errors


def test_dv360_batch_with_bad_requests_names_their_positions():
    data, expected_errors = dv360_batch_with_bad_requests()
    result = preview(EXAMPLES[DV360_BATCH.version], data, "json")
    assert (result.totalRows, result.processedRows, result.errorRows, result.skippedRows) == (40, 36, 4, 0)
    assert [(e.row, e.error) for e in result.errors] == expected_errors
    bad = {row for row, _ in expected_errors}
    assert result.events == [e for row, e in enumerate(DV360_BATCH.events, 1) if row not in bad]


def test_broadsign_api_key_is_never_kept():
    result = preview(EXAMPLES[BROADSIGN.version], BROADSIGN.data, "ndjson")
    assert "bsk-3f9a0c7d" not in json.dumps(result.events)


def test_xibo_ingest_zone_overrides_the_mappings():
    result = preview(EXAMPLES[XIBO.version], XIBO.data, "csv", {"timezone": "Europe/Paris", "source": "x"})
    assert result.events[0]["playedAt"] == "2025-03-29T23:59:50.000Z"  # 00:59:50 CET


def test_broadsign_player_without_a_zone_takes_the_ingest_zone():
    result = preview(EXAMPLES[BROADSIGN.version], BROADSIGN.data, "ndjson", {"timezone": "UTC"})
    assert (result.processedRows, result.errorRows) == (4, 2)
    assert result.events[-1]["playedAt"] == "2025-06-01T11:59:50.000Z"
    assert result.events[0] == BROADSIGN.events[0]  # players in the lookup table keep their own zone


@pytest.mark.parametrize("version", sorted(EXAMPLES))
def test_examples_survive_a_round_trip_through_storage(version):
    mapping = EXAMPLES[version]
    assert load_mapping(mapping.model_dump(mode="json")) == mapping
