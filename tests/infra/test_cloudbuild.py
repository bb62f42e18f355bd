"""cloudbuild.yaml: named steps in a safe order, a saved plan, apply gated by a substitution, and a
post-deploy smoke test (the cloud tier) of what was applied."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.infra.conftest import ROOT

REQUIRED_STEPS = [
    "tests",
    "terraform-fmt",
    "checkov",
    "package",
    "terraform-init",
    "terraform-plan",
    "terraform-apply",
    "smoke-test",
]


def cloudbuild_problems(doc: dict) -> list[str]:
    problems = []
    steps = doc.get("steps") or []
    ids = [s.get("id") for s in steps]
    if None in ids:
        problems.append("every step needs an id")
    for required in REQUIRED_STEPS:
        if required not in ids:
            problems.append(f"no step {required!r}")
    if problems:
        return problems
    by_id = {s["id"]: s for s in steps}

    def after(step: str) -> set[str]:
        """Every step that must finish before `step` starts (Cloud Build: waitFor, else all earlier steps)."""
        index = ids.index(step)
        wait = by_id[step].get("waitFor")
        direct = set(ids[:index]) if wait is None else (set() if wait == ["-"] else set(wait))
        return direct.union(*(after(d) for d in direct)) if direct else set()

    for step, needs in {
        "package": {"tests", "terraform-fmt", "checkov"},
        "terraform-init": {"package"},
        "terraform-plan": {"terraform-init"},
        "terraform-apply": {"terraform-plan"},
        "smoke-test": {"terraform-apply"},
    }.items():
        for need in sorted(needs - after(step)):
            problems.append(f"step {step!r} does not wait for {need!r}")
    text = lambda step: " ".join(map(str, by_id[step].get("args", [])))  # noqa: E731
    if "scripts/package_functions.py" not in text("package"):
        problems.append(
            "package does not use scripts/package_functions.py (the script Terraform's manifest comes from)"
        )
    if "-backend-config" not in text("terraform-init"):
        problems.append("terraform-init does not pass the backend config")
    if "-out=tfplan" not in text("terraform-plan"):
        problems.append("terraform-plan does not save the plan (-out=tfplan)")
    apply = text("terraform-apply")
    if "apply" not in apply or "tfplan" not in apply:
        problems.append("terraform-apply does not apply the saved tfplan")
    if '"${_APPLY}" = "true"' not in apply:
        problems.append("terraform-apply is not gated by the _APPLY substitution")
    smoke = text("smoke-test")
    if "make test-cloud" not in smoke:
        problems.append("smoke-test does not run the cloud tier (make test-cloud)")
    if '"${_APPLY}" != "true"' not in smoke:
        problems.append("smoke-test is not gated by the _APPLY substitution (nothing is deployed without it)")
    if "output -raw gateway_url > build/gateway_url" not in apply or "COATRO_CLOUD_BASE_URL" not in smoke:
        problems.append(
            "smoke-test is not pointed at the gateway terraform-apply created (COATRO_CLOUD_BASE_URL)"
        )
    if "make test" not in text("tests"):
        problems.append("tests do not run the README's test command (make test)")
    if "--skip-download" not in text("checkov") or "infra" not in text("checkov"):
        problems.append("checkov does not scan infra/ offline")
    return problems


@pytest.fixture(scope="module")
def cloudbuild() -> dict:
    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())


def test_cloudbuild_runs_tests_then_packages_then_applies_the_saved_plan(cloudbuild):
    assert cloudbuild_problems(cloudbuild) == []


def test_an_ungated_apply_or_one_before_the_tests_is_reported(cloudbuild):
    broken = copy.deepcopy(cloudbuild)
    steps = {s["id"]: s for s in broken["steps"]}
    steps["terraform-apply"]["args"] = ["-chdir=infra", "apply", "-auto-approve"]
    steps["package"]["waitFor"] = ["-"]
    problems = cloudbuild_problems(broken)
    assert "terraform-apply does not apply the saved tfplan" in problems
    assert "terraform-apply is not gated by the _APPLY substitution" in problems
    assert "step 'package' does not wait for 'tests'" in problems


def test_a_smoke_test_before_the_apply_or_against_no_deployment_is_reported(cloudbuild):
    broken = copy.deepcopy(cloudbuild)
    steps = {s["id"]: s for s in broken["steps"]}
    steps["smoke-test"]["waitFor"] = ["package"]
    steps["smoke-test"]["args"] = ["-ceu", "make test-cloud"]
    problems = cloudbuild_problems(broken)
    assert "step 'smoke-test' does not wait for 'terraform-apply'" in problems
    assert "smoke-test is not gated by the _APPLY substitution (nothing is deployed without it)" in problems
    assert (
        "smoke-test is not pointed at the gateway terraform-apply created (COATRO_CLOUD_BASE_URL)" in problems
    )
    steps["smoke-test"]["args"] = ["-ceu", 'if [ "${_APPLY}" != "true" ]; then exit 0; fi; make test']
    assert "smoke-test does not run the cloud tier (make test-cloud)" in cloudbuild_problems(broken)
