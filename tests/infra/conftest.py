"""Fixtures for the offline infra checks. None of them needs emulators or Google Cloud."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from functions import function_names
from tests.infra.hcl import Infra, load_infra

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TERRAFORM = os.environ.get("TERRAFORM", "terraform")
CHECKOV = os.environ.get("CHECKOV", str(ROOT / ".venv-checkov" / "bin" / "checkov"))


def function_dirs(root: Path = ROOT) -> set[str]:
    return set(function_names(root / "functions"))


@pytest.fixture(scope="session")
def infra() -> Infra:
    return load_infra(INFRA)


@pytest.fixture
def broken(infra) -> Infra:
    """A private copy of the parsed Terraform to break on purpose."""
    return infra.copy()


@pytest.fixture(scope="session")
def openapi_text() -> str:
    return (INFRA / "openapi.yaml").read_text()


@pytest.fixture(scope="session")
def openapi(openapi_text) -> dict:
    return yaml.safe_load(openapi_text)


def terraform_binary() -> str:
    found = shutil.which(TERRAFORM)
    if not found:
        pytest.fail(
            "terraform is not on PATH (set TERRAFORM=/path/to/terraform); it is needed for `terraform fmt`",
            pytrace=False,
        )
    return found


def checkov_binary() -> str:
    found = shutil.which(CHECKOV)
    if not found:
        pytest.fail(
            f"checkov not found at {CHECKOV}. Install it with `make checkov` (a separate venv from "
            "requirements-checkov.lock, its pins clash with ours) or set CHECKOV=/path/to/checkov.",
            pytrace=False,
        )
    return found


def run_checkov(directory: Path) -> dict:
    """Checkov's JSON report for one directory; offline (--skip-download), Terraform only."""
    result = subprocess.run(
        [
            checkov_binary(),
            "--directory",
            str(directory),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    # exit code 1 means "checks failed"; the report says which, so read it rather than the code.
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov did not produce a JSON report (exit {result.returncode}):\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    if isinstance(report, list):
        report = next((r for r in report if r.get("check_type") == "terraform"), {})
    if report.get("check_type") is None and "passed" in report:  # nothing scanned: a bare summary
        report = {"summary": report, "results": {"failed_checks": [], "skipped_checks": []}}
    return report


@pytest.fixture(scope="session")
def checkov_report() -> dict:
    return run_checkov(INFRA)
