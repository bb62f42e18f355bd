"""infra/ as it is must pass every offline check (see checks.py for what each one asserts)."""

from __future__ import annotations

import subprocess

from shared.platform.settings import Settings
from tests.infra import checks
from tests.infra.conftest import INFRA, ROOT, function_dirs, terraform_binary


def setting_names() -> set[str]:
    """The environment variable names shared/settings.py reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        names.add(alias if isinstance(alias, str) else (prefix + name).upper())
    return names


def test_every_function_directory_is_deployed_with_its_entry_point_runtime_and_trigger(infra):
    assert checks.function_problems(infra, function_dirs()) == []


def test_every_contract_path_routes_to_its_function(openapi, openapi_text, infra):
    assert checks.openapi_problems(openapi, openapi_text, infra) == []


def test_only_the_intended_accounts_may_invoke_each_function(infra):
    assert checks.invoker_problems(infra) == []


def test_no_function_account_holds_a_project_level_role(infra):
    assert checks.project_role_problems(infra) == []


def test_every_delivering_subscription_has_a_dead_letter_policy_and_backoff(infra):
    assert checks.subscription_problems(infra) == []
    assert checks.dead_letter_wiring_problems(infra) == []


def test_scheduled_functions_get_their_ticks_from_cloud_scheduler(infra):
    assert checks.scheduler_problems(infra) == []


def test_no_bucket_is_public(infra):
    assert checks.bucket_problems(infra) == []


def test_functions_get_the_settings_they_read(infra):
    assert checks.environment_problems(infra, setting_names()) == []


def test_providers_pinned_backend_at_init_variables_and_outputs_documented(infra):
    assert checks.convention_problems(infra) == []


def test_terraform_is_formatted():
    result = subprocess.run(
        [terraform_binary(), "fmt", "-check", "-list=true", "-recursive", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (
        f"run `terraform fmt {INFRA}`; unformatted:\n{result.stdout}{result.stderr}"
    )


def checkov_problems(report: dict) -> list[str]:
    """Failed checks, parse errors, and skips without a written reason."""
    problems = []
    summary = report.get("summary", {})
    if summary.get("parsing_errors"):
        problems.append(f"checkov could not parse {summary['parsing_errors']} file(s)")
    if not summary.get("resource_count"):
        problems.append("checkov scanned no resources")
    results = report.get("results", {})
    for failed in results.get("failed_checks", []):
        problems.append(
            f"{failed['check_id']} failed on {failed['resource']} ({failed.get('file_path')}): {failed.get('check_name')}"
        )
    for skipped in results.get("skipped_checks", []):
        reason = (skipped.get("check_result") or {}).get("suppress_comment") or ""
        if reason.strip() in ("", "No comment provided") or len(reason.strip()) < 20:
            problems.append(f"{skipped['check_id']} is skipped on {skipped['resource']} without a reason")
    return problems


def test_checkov_passes_with_only_justified_skips(checkov_report):
    assert checkov_problems(checkov_report) == []


def test_each_entry_point_has_the_signature_of_its_trigger(infra):
    assert checks.entry_point_problems(ROOT / "functions", infra) == []


def test_the_events_table_is_made_from_the_schema_file_the_local_stack_reads(infra):
    from local.bigquery import SCHEMA_FILE

    schema = str(infra.of_type("google_bigquery_table")["events"].get("schema"))
    assert schema == '${file("${path.module}/' + SCHEMA_FILE.relative_to(INFRA).as_posix() + '")}', schema
