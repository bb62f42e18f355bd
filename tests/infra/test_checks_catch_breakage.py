"""Each check fails on a deliberately broken copy of the Terraform, and says what is wrong."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from tests.infra import checks
from tests.infra.conftest import INFRA, function_dirs, run_checkov, terraform_binary
from tests.infra.hcl import block
from tests.infra.test_terraform import checkov_problems, setting_names


def reported(problems: list[str], *fragments: str) -> bool:
    return any(all(f in p for f in fragments) for p in problems)


# ---- functions


def function_resource(infra) -> dict:
    """The one for_each resource that deploys every function (its body is shared by all of them)."""
    return infra.resources[checks.FUNCTION]["function"]


def test_a_function_directory_without_a_function_resource_is_reported(infra):
    problems = checks.function_problems(infra, function_dirs() | {"reporting"})
    assert reported(problems, "functions/reporting has no google_cloudfunctions2_function")


def test_a_function_resource_without_code_is_reported(broken):
    broken.locals["functions"]["orphan"] = dict(broken.locals["functions"]["events"])
    problems = checks.function_problems(broken, function_dirs())
    assert reported(
        problems, 'google_cloudfunctions2_function.function["orphan"] has no functions/orphan/main.py'
    )


def test_a_function_deployed_twice_is_reported(broken):
    # a resource of its own for events, as before the for_each, left next to the for_each resource
    broken.resources[checks.FUNCTION]["events"] = {
        k: v for k, v in function_resource(broken).items() if k != "for_each"
    }
    problems = checks.function_problems(broken, function_dirs())
    assert reported(problems, "function events is already deployed by google_cloudfunctions2_function.events")


def test_a_for_each_that_cannot_be_expanded_is_reported(broken):
    function_resource(broken)["for_each"] = "${toset(keys(local.functions))}"
    problems = checks.function_problems(broken, function_dirs())
    assert reported(problems, "google_cloudfunctions2_function.function: for_each", "cannot be checked")


def test_a_wrong_entry_point_runtime_or_account_is_reported(broken):
    function = function_resource(broken)
    block(function, "build_config")["entry_point"] = (
        '${replace(each.key, "_", "-")}'  # upload-url, not upload_url
    )
    block(function, "build_config")["runtime"] = "python39"
    block(function, "service_config")["service_account_email"] = (
        '${google_service_account.function["worker"].email}'
    )
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    assert reported(
        problems, 'function["upload_url"]', """entry_point is '${replace("upload_url", "_", "-")}'"""
    )
    assert reported(problems, 'function["events"]', "runtime is 'python39'")
    assert reported(problems, 'function["events"]', "does not run as its own account")
    assert not reported(problems, 'function["worker"]', "does not run as its own account")


def test_a_literal_entry_point_for_every_function_is_reported(broken):
    block(function_resource(broken), "build_config")["entry_point"] = "handler"
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    for name in broken.locals["functions"]:
        assert reported(problems, f'function["{name}"]', "entry_point is 'handler'")


def test_a_shared_bundle_is_reported(broken):
    source = block(block(block(function_resource(broken), "build_config"), "source"), "storage_source")
    source["object"] = '${google_storage_bucket_object.bundle["events"].name}'
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    assert reported(problems, 'function["worker"]', "source is not its own bundle")
    assert not reported(problems, 'function["events"]', "source is not its own bundle")


def test_a_wrong_ingress_or_trigger_for_one_function_is_reported(broken):
    broken.locals["functions"]["worker"]["ingress"] = "ALLOW_ALL"
    broken.locals["functions"]["job_status"]["ingress"] = "ALLOW_INTERNAL_ONLY"
    broken.locals["functions"]["ingest"]["trigger"] = "push"
    broken.locals["functions"]["events"]["event_trigger"] = dict(
        broken.locals["functions"]["splitter"]["event_trigger"]
    )
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    assert reported(problems, 'function["worker"]', "should accept internal traffic only")
    assert reported(
        problems, 'function["job_status"]', "API Gateway cannot reach it with ingress 'ALLOW_INTERNAL_ONLY'"
    )
    assert reported(
        problems, 'function["ingest"]', "local.functions says trigger 'push', the design says 'http'"
    )
    assert reported(problems, 'function["events"]', "an http function must not have an event_trigger")


def test_a_splitter_without_its_event_trigger_is_reported(broken):
    del broken.locals["functions"]["splitter"]["event_trigger"]
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    assert reported(problems, 'function["splitter"]', "needs an Eventarc event_trigger on the uploads bucket")


def test_an_event_trigger_the_checks_cannot_read_is_reported(broken):
    dynamic = function_resource(broken)["dynamic"][0]["event_trigger"]
    dynamic["for_each"] = "${local.triggers[each.key]}"
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    assert reported(problems, 'function["splitter"]', "dynamic block(s) ['event_trigger'] cannot be checked")


def test_a_splitter_without_retry_or_on_another_bucket_is_reported(broken):
    trigger = broken.locals["functions"]["splitter"]["event_trigger"]
    trigger["retry_policy"] = "RETRY_POLICY_DO_NOT_RETRY"
    trigger["bucket"] = "${google_storage_bucket.sources.name}"
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    assert reported(problems, "splitter", "retries are not enabled")
    assert reported(problems, "splitter", "do not select the uploads bucket")


def test_a_hard_coded_retry_policy_in_the_dynamic_block_is_still_checked(broken):
    content = block(function_resource(broken)["dynamic"][0]["event_trigger"], "content")
    content["retry_policy"] = "RETRY_POLICY_DO_NOT_RETRY"
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    assert reported(problems, 'function["splitter"]', "retries are not enabled")


def test_a_push_function_with_no_subscription_is_reported(broken):
    del broken.resources["google_pubsub_subscription"]["worker"]
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    assert reported(problems, "worker", "exactly one push subscription")


def test_an_ack_deadline_within_the_function_timeout_is_reported(broken):
    broken.resources["google_pubsub_subscription"]["sweeper"]["ack_deadline_seconds"] = 540
    del broken.resources["google_pubsub_subscription"]["worker"]["ack_deadline_seconds"]
    problems = checks.function_problems(broken, set(broken.locals["functions"]))
    assert reported(
        problems, 'function["sweeper"]', "ack_deadline_seconds 540 must exceed the function timeout 540"
    )
    assert reported(problems, 'function["worker"]', "ack_deadline_seconds 10 must exceed")
    assert not reported(problems, 'function["dead_letter"]', "ack_deadline_seconds")


# ---- gateway


def test_a_contract_path_missing_or_routed_elsewhere_is_reported(openapi, openapi_text, infra):
    spec = yaml.safe_load(openapi_text)
    del spec["paths"]["/coatro/v1/pop/dynamic/bulk/ingest"]
    spec["paths"]["/coatro/v1/pop/events"]["post"]["x-google-backend"]["address"] = "${job_status_url}"
    problems = checks.openapi_problems(spec, openapi_text, infra)
    assert reported(problems, "POST /coatro/v1/pop/dynamic/bulk/ingest is missing")
    assert reported(problems, "POST /coatro/v1/pop/events routes to '${job_status_url}'")


def test_a_url_variable_bound_to_the_wrong_function_is_reported(openapi, openapi_text, broken):
    broken.locals["openapi"] = broken.locals["openapi"].replace(
        'ingest_url = google_cloudfunctions2_function.function["ingest"]',
        'ingest_url = google_cloudfunctions2_function.function["worker"]',
    )
    problems = checks.openapi_problems(openapi, openapi_text, broken)
    assert reported(problems, "sets ingest_url to the URL of worker")
    assert reported(problems, "routes to worker, which is not an HTTP function")


def test_an_operation_that_requires_a_token_or_none_at_all_is_reported(openapi, openapi_text, infra):
    spec = yaml.safe_load(openapi_text)
    spec["paths"]["/coatro/v1/pop/events"]["post"]["security"] = [
        {checks.TOKEN_SCHEME: []}
    ]  # API keys locked out
    del spec["paths"]["/coatro/v1/pop/dynamic/bulk/ingest"]["post"][
        "security"
    ]  # the gateway would skip tokens
    spec["paths"]["/coatro/v1/oauth/token"]["post"]["security"] = [{checks.TOKEN_SCHEME: []}]
    spec["securityDefinitions"][checks.TOKEN_SCHEME]["x-google-audiences"] = "anyone"
    spec["securityDefinitions"][checks.TOKEN_SCHEME][
        "x-google-jwt-locations"
    ].pop()  # no access_token parameter
    problems = checks.openapi_problems(spec, openapi_text, infra)
    assert reported(problems, "POST /coatro/v1/pop/events must accept a token or an API key")
    assert reported(problems, "POST /coatro/v1/pop/dynamic/bulk/ingest must accept a token or an API key")
    assert reported(problems, "POST /coatro/v1/oauth/token must not require a credential")
    assert reported(problems, f"securityDefinitions.{checks.TOKEN_SCHEME} must be oauth2")
    assert reported(problems, "access_token parameter")


def test_a_token_issuer_other_than_the_token_account_is_reported(openapi, openapi_text, broken):
    broken.locals["openapi"] = (
        broken.locals["openapi"]
        .replace(
            'token_issuer = google_service_account.function["token"].email',
            'token_issuer = google_service_account.function["events"].email',
        )
        .replace(
            'jwk/${google_service_account.function["token"]',
            'jwk/${google_service_account.function["worker"]',
        )
    )
    problems = checks.openapi_problems(openapi, openapi_text, broken)
    assert reported(problems, "must set token_issuer")
    assert reported(problems, "must set token_jwks_uri")


def test_a_token_signer_acting_as_another_account_is_reported(broken):
    grant = broken.resources["google_service_account_iam_member"]["token_signs_jwt_as_itself"]
    grant["service_account_id"] = '${google_service_account.function["upload_url"].name}'
    broken.locals["function_extra_env"]["token"]["COATRO_TOKEN_ISSUER"] = "someone@example.com"
    problems = checks.environment_problems(broken, setting_names())
    assert reported(problems, "token cannot sign JWTs as itself")
    assert reported(problems, "token_signs_jwt_as_itself: a function account acts as another account")
    assert reported(problems, 'function["token"]: COATRO_TOKEN_ISSUER must be its own account')


def test_the_gateway_invoking_an_event_function_is_reported(broken):
    broken.locals["invokers"]["gateway:worker"] = {"function": "worker", "account": "gateway"}
    del broken.locals["invokers"]["gateway:job_status"]
    problems = checks.invoker_problems(broken)
    assert reported(problems, "may invoke worker, which is not an HTTP function")
    assert reported(problems, "may not invoke the HTTP function job_status")


# ---- project-level IAM


def test_a_project_wide_role_for_a_function_account_is_reported(broken):
    broken.resources["google_project_iam_member"]["worker_editor"] = {
        "project": "${var.project_id}",
        "role": "roles/pubsub.publisher",
        "member": 'serviceAccount:${google_service_account.function["worker"].email}',
    }
    problems = checks.project_role_problems(broken)
    assert reported(
        problems, "worker_editor", "a function account holds project-level role 'roles/pubsub.publisher'"
    )


def test_job_user_for_any_function_but_reports_or_more_than_job_user_is_reported(broken):
    broken.resources["google_project_iam_member"]["worker_queries"] = {
        "role": "roles/bigquery.jobUser",
        "member": 'serviceAccount:${google_service_account.function["worker"].email}',
    }
    broken.resources["google_project_iam_member"]["reports_runs_queries"]["role"] = (
        "roles/bigquery.dataViewer"
    )
    problems = checks.project_role_problems(broken)
    assert reported(problems, "worker_queries", "roles/bigquery.jobUser")
    assert reported(problems, "reports_runs_queries", "roles/bigquery.dataViewer")


def test_a_firestore_role_without_the_database_condition_is_reported(broken):
    grant = broken.resources["google_project_iam_member"]["function_firestore"]
    del grant["condition"]
    problems = checks.project_role_problems(broken)
    assert reported(
        problems, "function_firestore[events]", "must be conditioned on exactly this Firestore database"
    )


def test_a_firestore_condition_by_prefix_is_reported(broken):
    grant = broken.resources["google_project_iam_member"]["function_firestore"]
    grant["condition"][0]["expression"] = 'resource.name.startsWith("projects/${var.project_id}")'
    problems = checks.project_role_problems(broken)
    assert reported(problems, "function_firestore[worker]", "conditioned on exactly this Firestore database")


def test_a_firestore_admin_role_for_a_function_is_reported(broken):
    broken.locals["firestore_roles"]["job_status"] = "roles/datastore.owner"
    problems = checks.project_role_problems(broken)
    assert reported(problems, "function_firestore[job_status]", "roles/datastore.owner")


def test_an_unlisted_project_grant_to_another_account_is_reported(broken):
    broken.resources["google_project_iam_member"]["gateway_viewer"] = {
        "role": "roles/viewer",
        "member": "serviceAccount:${google_service_account.gateway.email}",
    }
    broken.resources["google_project_iam_binding"] = {
        "all": {"role": "roles/run.invoker", "members": ["allUsers"]}
    }
    problems = checks.project_role_problems(broken)
    assert reported(problems, "gateway_viewer", "roles/viewer", "not on the allowlist")
    assert reported(problems, "google_project_iam_binding.all", "authoritative")


# ---- Pub/Sub


def test_a_push_subscription_without_a_dead_letter_policy_is_reported(broken):
    del broken.resources["google_pubsub_subscription"]["worker"]["dead_letter_policy"]
    problems = checks.subscription_problems(broken)
    assert reported(problems, "google_pubsub_subscription.worker: no dead-letter policy")
    assert reported(checks.dead_letter_wiring_problems(broken), "worker dead-letters to []")


def test_a_subscription_without_backoff_or_agent_grants_is_reported(broken):
    subscription = broken.resources["google_pubsub_subscription"]["dead_letter"]
    del subscription["retry_policy"]
    del broken.resources["google_pubsub_subscription_iam_member"]["pubsub_acks_dead_letters"]["for_each"][
        "dead_letter"
    ]
    broken.resources["google_pubsub_topic_iam_member"]["pubsub_dead_letters"]["for_each"].pop("chunks_parked")
    problems = checks.subscription_problems(broken)
    assert reported(problems, "dead_letter: no retry backoff")
    assert reported(problems, "dead_letter: the Pub/Sub service agent needs roles/pubsub.subscriber")
    assert reported(problems, "may not publish to dead-letter topic chunks_parked")


def test_a_new_push_subscription_without_dead_lettering_is_reported(broken):
    broken.resources["google_pubsub_subscription"]["audit"] = {
        "topic": "${google_pubsub_topic.events.id}",
        "push_config": [
            {"push_endpoint": "https://example.com", "oidc_token": [{"service_account_email": "x"}]}
        ],
    }
    assert reported(
        checks.subscription_problems(broken), "google_pubsub_subscription.audit: no dead-letter policy"
    )


def test_the_sweeper_without_its_scheduler_job_is_reported(broken):
    """Without the job, pop-sweeps is no tick topic: the sweeper's subscription needs dead-lettering
    like any other, and nothing wakes the sweeper."""
    del broken.resources[checks.SCHEDULER]["sweep"]
    assert reported(
        checks.subscription_problems(broken), "google_pubsub_subscription.sweeper: no dead-letter policy"
    )
    assert reported(checks.scheduler_problems(broken), "sweeper is not fed by a Cloud Scheduler job")


def test_a_tick_subscription_that_keeps_ticks_or_shares_its_topic_is_reported(broken):
    broken.resources["google_pubsub_subscription"]["sweeper"]["message_retention_duration"] = "604800s"
    # a function given real work to publish to the tick topic: its messages would have no dead-letter topic
    broken.locals["topics"]["sweeps"] = "${google_pubsub_topic.sweeps.id}"
    broken.locals["topic_publishers"]["worker:sweeps"] = {"function": "worker", "topic": "sweeps"}
    problems = checks.subscription_problems(broken)
    assert reported(problems, "google_pubsub_subscription.sweeper", "at most 3600s", "604800s")
    assert reported(
        problems,
        "google_pubsub_subscription.sweeper",
        'google_service_account.function["worker"]',
        "tick topic sweeps",
    )


def test_a_scheduler_job_by_topic_name_elsewhere_or_unread_is_reported(broken):
    job = broken.resources[checks.SCHEDULER]["sweep"]
    job["region"] = "us-central1"
    block(job, "pubsub_target")["topic_name"] = "${google_pubsub_topic.sweeps.name}"
    del block(job, "pubsub_target")["data"]
    broken.resources[checks.SCHEDULER]["orphan"] = {
        "region": "${var.region}",
        "pubsub_target": [{"topic_name": "${google_pubsub_topic.chunks_dead.id}", "data": "e30="}],
    }
    del broken.resources["google_pubsub_subscription"]["dead_letter"]
    problems = checks.scheduler_problems(broken)
    assert reported(
        problems, "google_cloud_scheduler_job.sweep: topic_name must be a managed topic's full name"
    )
    assert reported(problems, "google_cloud_scheduler_job.sweep: region must be var.region")
    assert reported(
        problems, "google_cloud_scheduler_job.sweep: Pub/Sub needs a message with data or attributes"
    )
    assert reported(
        problems, "google_cloud_scheduler_job.orphan: publishes to chunks_dead, which no subscription reads"
    )


# ---- storage


def test_a_public_bucket_is_reported(broken):
    broken.resources["google_storage_bucket"]["uploads"]["public_access_prevention"] = "inherited"
    broken.resources["google_storage_bucket"]["sources"]["uniform_bucket_level_access"] = False
    broken.resources["google_storage_bucket_iam_member"]["everyone"] = {
        "bucket": "${google_storage_bucket.uploads.name}",
        "role": "roles/storage.objectViewer",
        "member": "allUsers",
    }
    broken.resources["google_storage_default_object_acl"] = {"uploads": {"role_entity": ["READER:allUsers"]}}
    problems = checks.bucket_problems(broken)
    assert reported(problems, "uploads: public_access_prevention must be")
    assert reported(problems, "sources: uniform_bucket_level_access must be true")
    assert reported(problems, "everyone: grants to allUsers")
    assert reported(problems, "google_storage_default_object_acl.uploads")


def test_uploads_without_expiry_is_reported(broken):
    broken.resources["google_storage_bucket"]["uploads"]["lifecycle_rule"] = []
    assert reported(checks.bucket_problems(broken), "no lifecycle rule deleting old uploads")


# ---- settings and conventions


def test_a_misspelt_setting_and_a_foreign_signer_are_reported(broken):
    broken.locals["function_env"]["COATRO_CHUNK_ROW"] = broken.locals["function_env"].pop("COATRO_CHUNK_ROWS")
    broken.locals["function_extra_env"]["upload_url"]["COATRO_SIGNING_SERVICE_ACCOUNT"] = (
        '${google_service_account.function["events"].email}'
    )
    broken.locals["function_extra_env"]["worker"] = {"COATRO_WORKER_THREADS": "4"}
    problems = checks.environment_problems(broken, setting_names())
    assert reported(problems, 'function["events"]', "COATRO_CHUNK_ROW is not a setting")
    assert reported(
        problems, 'function["upload_url"]: COATRO_SIGNING_SERVICE_ACCOUNT must be its own account'
    )
    assert reported(problems, 'function["worker"]', "COATRO_WORKER_THREADS is not a setting")


def test_a_function_without_the_shared_settings_is_reported(broken):
    config = block(broken.resources[checks.FUNCTION]["function"], "service_config")
    config["environment_variables"] = "${lookup(local.function_extra_env, each.key, {})}"
    problems = checks.environment_problems(broken, setting_names())
    assert reported(problems, 'function["events"]', "GOOGLE_CLOUD_PROJECT is not set")
    assert reported(problems, 'function["upload_url"]', "COATRO_UPLOADS_BUCKET is not set")


def test_unpinned_providers_and_unsorted_variables_are_reported(broken):
    block(broken.terraform[0], "required_providers")["google"]["version"] = ">= 5.0"
    broken.variable_order.reverse()
    problems = checks.convention_problems(broken)
    assert reported(problems, "provider google is not pinned")
    assert reported(problems, "variables are not in alphabetical order")


# ---- the tools: terraform fmt and checkov on a broken copy of infra/


def test_terraform_fmt_reports_a_badly_formatted_file(tmp_path):
    (tmp_path / "bad.tf").write_text('resource "google_pubsub_topic" "x" {\nname="x"\n    project = "p"\n}\n')
    result = subprocess.run(
        [terraform_binary(), "fmt", "-check", "-list=true", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "bad.tf" in result.stdout


def test_checkov_reports_a_public_bucket_and_an_unjustified_skip(tmp_path):
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    storage = copy / "storage.tf"
    storage.write_text(
        storage.read_text().replace(
            'public_access_prevention    = "enforced"', 'public_access_prevention    = "inherited"', 1
        )
    )
    functions = copy / "functions.tf"
    text = functions.read_text()
    start = text.index("# checkov:skip=CKV_GCP_84:")
    text = text[:start] + "# checkov:skip=CKV_GCP_84" + text[text.index("\n", start) :]
    # the skip inside the for_each resource of every function: without its reason it is reported too
    start = text.index("# checkov:skip=CKV_GCP_124:")
    functions.write_text(text[:start] + "# checkov:skip=CKV_GCP_124" + text[text.index("\n", start) :])
    problems = checkov_problems(run_checkov(copy))
    assert reported(problems, "CKV_GCP_114 failed on google_storage_bucket.uploads")
    assert reported(
        problems, "CKV_GCP_84 is skipped on google_artifact_registry_repository.functions without a reason"
    )
    # checkov names the for_each resource, or (depending on how it expands it) each instance
    assert reported(
        problems, "CKV_GCP_124 is skipped on google_cloudfunctions2_function.function", "without a reason"
    )


def test_checkov_fails_the_http_functions_ingress_without_the_inline_skip(tmp_path):
    """The skip in the for_each resource is what keeps CKV_GCP_124 quiet: checkov reads it for all instances."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    functions = copy / "functions.tf"
    text = functions.read_text()
    start = text.index("# checkov:skip=CKV_GCP_124:")
    functions.write_text(text[:start] + text[text.index("\n", start) + 1 :])
    problems = checkov_problems(run_checkov(copy))
    assert reported(problems, "CKV_GCP_124 failed on google_cloudfunctions2_function.function")


def test_an_entry_point_with_the_wrong_signature_or_name_is_reported(tmp_path, infra):
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "main.py").write_text(
        "import functions_framework\n\n@functions_framework.http\ndef worker(request):\n    pass\n"
    )
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "main.py").write_text(
        "import functions_framework\n\n@functions_framework.http\ndef handler(request):\n    pass\n"
    )
    problems = checks.entry_point_problems(tmp_path, infra)
    assert reported(problems, "worker() is not @functions_framework.cloud_event")
    assert reported(problems, "functions/events/main.py has no top-level def events()")
