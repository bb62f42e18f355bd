"""infra/ as it is must pass every offline check (see checks.py for what each one asserts)."""

from __future__ import annotations

import re
import subprocess

from shared.platform.settings import Settings
from tests.infra import checks
from tests.infra.conftest import INFRA, ROOT, function_dirs, terraform_binary
from tests.infra.hcl import block, instances


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


def test_the_screens_table_is_made_from_the_schema_file_the_local_stack_reads_and_keeps_its_history(infra):
    from local.bigquery import SCREENS_CLUSTERING, SCREENS_SCHEMA_FILE

    table = infra.of_type("google_bigquery_table")["screens"]
    schema = str(table.get("schema"))
    relative = SCREENS_SCHEMA_FILE.relative_to(INFRA).as_posix()
    assert schema == '${file("${path.module}/' + relative + '")}', schema
    assert table.get("clustering") == SCREENS_CLUSTERING
    assert block(table, "time_partitioning") is None  # no partition expiry drops a version
    assert table.get("deletion_protection") == "${var.deletion_protection}"


def test_only_the_screens_function_and_the_sweeper_write_the_screens_table(infra):
    writers = set()
    for name, body in infra.of_type("google_bigquery_table_iam_member").items():
        if "google_bigquery_table.screens." not in str(body.get("table_id")):
            continue
        for key, grant in instances(infra, body):
            member = str(grant.get("member"))
            assert grant.get("role") == "roles/bigquery.dataEditor", (name, grant)
            literal = re.findall(r'google_service_account\.function\["(\w+)"\]', member)
            writers |= {key} if key and "function[each.key]" in member else set(literal) or {member}
    assert writers == {"screens", "sweeper"}


def test_the_rollups_table_is_made_from_the_schema_file_the_local_stack_reads_and_only_rollups_writes_it(
    infra,
):
    from local.bigquery import ROLLUPS_CLUSTERING, ROLLUPS_PARTITION_FIELD, ROLLUPS_SCHEMA_FILE

    table = infra.of_type("google_bigquery_table")["rollups"]
    relative = ROLLUPS_SCHEMA_FILE.relative_to(INFRA).as_posix()
    assert str(table.get("schema")) == '${file("${path.module}/' + relative + '")}'
    assert table.get("clustering") == ROLLUPS_CLUSTERING
    partitioning = block(table, "time_partitioning")
    assert partitioning is not None and partitioning.get("field") == ROLLUPS_PARTITION_FIELD
    assert partitioning.get("expiration_ms") is None  # rollups outlive raw partitions
    writers = set()
    for name, body in infra.of_type("google_bigquery_table_iam_member").items():
        if "google_bigquery_table.rollups." in str(body.get("table_id")):
            assert body.get("role") == "roles/bigquery.dataEditor", name
            writers |= set(
                re.findall(r'google_service_account\.function\["(\w+)"\]', str(body.get("member")))
            )
    assert writers == {"rollups"}
    # reports and rollups count duplicates with the same horizon
    env = infra.locals["function_extra_env"]
    assert env["reports"]["COATRO_DEDUP_HORIZON_DAYS"] == env["rollups"]["COATRO_DEDUP_HORIZON_DAYS"]


def test_only_the_report_queries_read_the_dataset_and_the_sweeper_publishes_webhook_events(infra):
    """The report queries run in reports, in report_drops (scheduled drops) and in the sweeper's hourly
    booking checks (shared/reports/checks.py), which publish booking.underdelivering and screen.dark."""
    readers = set()
    for body in infra.of_type("google_bigquery_dataset_iam_member").values():
        if body.get("role") == "roles/bigquery.dataViewer":
            readers |= set(
                re.findall(r'google_service_account\.function\["(\w+)"\]', str(body.get("member")))
            )
    assert readers == {"reports", "report_drops", "sweeper"}
    publishers = infra.locals["topic_publishers"]
    assert "sweeper:webhook_events" in str(publishers) and "webhook_events" in str(infra.locals["topics"])
