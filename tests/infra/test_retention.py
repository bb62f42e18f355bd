"""docs/retention.md's table is what Terraform and the settings' defaults enforce, row by row."""

from __future__ import annotations

import re

import pytest

from shared.platform.settings import Settings
from tests.infra.conftest import ROOT
from tests.infra.hcl import Infra

TABLE = ROOT / "docs" / "retention.md"
MECHANISMS = {"lifecycle", "partition expiry", "TTL", "never"}


def table_rows() -> list[dict[str, str]]:
    lines = TABLE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("<!-- retention-table"))
    rows = []
    table = [line for line in lines[start:] if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def default_seconds(cell: str) -> float | None:
    """`7 days` -> 604800, `900 seconds` -> 900, `kept` -> None."""
    if cell == "kept":
        return None
    number, unit = cell.split()
    return float(number) * {"days": 86400, "seconds": 1}[unit]


def setting_default(infra: Infra, name: str) -> float | None:
    """A Terraform variable's default in seconds (days variables), or a COATRO_ setting's default."""
    if name in infra.variables:
        days = infra.variables[name]["default"]
        return None if days == 0 else days * 86400
    field = Settings.model_fields[name]
    return float(field.default)


def ttl_collections(infra: Infra) -> set[str]:
    return set(re.findall(r'"(\w+)"', infra.locals["ttl_collections"]))


def resource(infra: Infra, address: str) -> dict:
    rtype, name = address.split(".")
    return infra.of_type(rtype)[name]


def delete_ages(bucket: dict) -> list:
    return [
        rule["condition"][0].get("age")
        for rule in bucket.get("lifecycle_rule", [])
        if rule["action"][0]["type"] == "Delete"
    ]


def partition_expiry(table: dict) -> str | None:
    partitioning = table.get("time_partitioning") or [{}]
    return partitioning[0].get("expiration_ms")


ROWS = table_rows()


def test_the_table_has_a_row_for_every_bucket_table_and_ttl_collection(infra):
    named = {address for row in ROWS for address in code_spans(row["Terraform"])}
    buckets = {f"google_storage_bucket.{name}" for name in infra.of_type("google_storage_bucket")}
    tables = {
        f"google_bigquery_table.{name}"
        for name, body in infra.of_type("google_bigquery_table").items()
        if "view" not in body  # a view holds no data of its own
    }
    collections = {f"firestore:{name}" for name in ttl_collections(infra)}
    assert buckets | tables | collections <= named


@pytest.mark.parametrize("row", ROWS, ids=[row["Data"] for row in ROWS])
def test_terraform_enforces_the_row(row, infra):
    mechanism, setting = row["Removed by"], (code_spans(row["Setting"]) or [None])[0]
    assert mechanism in MECHANISMS, row
    default = default_seconds(row["Default"])
    if setting is not None:
        assert setting_default(infra, setting) == default, f"{setting}'s default is not {row['Default']}"
    for address in code_spans(row["Terraform"]):
        if address.startswith("firestore:"):
            collection = address.split(":", 1)[1]
            assert (collection in ttl_collections(infra)) == (mechanism == "TTL"), address
        elif address.startswith("google_storage_bucket."):
            ages = delete_ages(resource(infra, address))
            if mechanism == "lifecycle":
                assert ages == [f"${{var.{setting}}}"], address
            else:
                assert ages == [], f"{address} deletes objects, the table says {mechanism}"
        elif address.startswith("google_bigquery_table."):
            expiry = partition_expiry(resource(infra, address))
            if mechanism == "partition expiry":
                assert expiry is not None and f"var.{setting}" in expiry, address
            else:
                assert expiry is None, f"{address} expires partitions, the table says {mechanism}"
        else:
            pytest.fail(f"unknown Terraform address {address}")


@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        ("record_retention_days", "COATRO_RETENTION_DAYS"),
        ("export_retention_days", "COATRO_EXPORT_RETENTION_DAYS"),
    ],
)
def test_ttl_variables_reach_the_functions_as_the_setting_the_code_reads(variable, setting):
    """TTL rows: Terraform passes the variable to the code that writes `expireAt`."""
    text = (ROOT / "infra" / "functions.tf").read_text()
    assert re.search(rf"{setting}\s*=\s*tostring\(var\.{variable}\)", text)
