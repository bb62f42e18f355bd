"""Offline checks of infra/. Each takes the parsed Terraform (and what else it compares against) and
returns a list of problems, empty when all is well, so a test can feed it a deliberately broken copy
and see the problem reported (tests/infra/test_checks_catch_breakage.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tests.infra.hcl import Infra, block, for_each_map, instances, resolve_locals

RUNTIME = "python311"
FUNCTION = "google_cloudfunctions2_function"

# The public contract: (path, method) -> the function that serves it.
CONTRACT_ROUTES = {
    ("/coatro/v1/pop/events", "post"): "events",
    ("/coatro/v1/pop/dynamic/bulk/upload-url", "post"): "upload_url",
    ("/coatro/v1/pop/dynamic/bulk/ingest", "post"): "ingest",
    ("/coatro/v1/pop/dynamic/bulk/jobs/{jobId}", "get"): "job_status",
    ("/coatro/v1/pop/dynamic/bulk/jobs/{jobId}/errors", "get"): "job_status",
    # the canonical bulk endpoints and the schema API (issue 10), routes of the design beyond the contract
    ("/coatro/v1/pop/bulk/upload-url", "post"): "upload_url",
    # the jobs lists (issue 20, the console's Jobs page), one per family
    ("/coatro/v1/pop/dynamic/bulk/jobs", "get"): "job_status",
    ("/coatro/v1/pop/bulk/jobs", "get"): "job_status",
    ("/coatro/v1/pop/bulk/ingest", "post"): "ingest",
    ("/coatro/v1/pop/bulk/jobs/{jobId}", "get"): "job_status",
    ("/coatro/v1/pop/bulk/jobs/{jobId}/errors", "get"): "job_status",
    ("/coatro/v1/pop/dynamic/schemas", "get"): "schemas",
    ("/coatro/v1/pop/dynamic/schemas/preview", "post"): "schemas",
    ("/coatro/v1/pop/dynamic/schemas/{version}", "get"): "schemas",
    ("/coatro/v1/pop/dynamic/schemas/{version}", "put"): "schemas",
    ("/coatro/v1/pop/dynamic/schemas/{version}/preview", "post"): "schemas",
    ("/coatro/v1/pop/reports/delivery", "get"): "reports",
    ("/coatro/v1/pop/report-schedules", "get"): "report_schedules",
    ("/coatro/v1/pop/report-schedules/{scheduleId}", "get"): "report_schedules",
    ("/coatro/v1/pop/report-schedules/{scheduleId}", "put"): "report_schedules",
    ("/coatro/v1/pop/report-schedules/{scheduleId}", "delete"): "report_schedules",
    ("/coatro/v1/pop/report-schedules/{scheduleId}/files", "get"): "report_schedules",
    ("/coatro/v1/pop/report-schedules/{scheduleId}/runs", "get"): "report_schedules",
    ("/coatro/v1/pop/reports/performance", "get"): "reports",
    ("/coatro/v1/pop/bookings", "get"): "bookings",
    ("/coatro/v1/pop/bookings/{bookingId}", "get"): "bookings",
    ("/coatro/v1/pop/bookings/{bookingId}", "put"): "bookings",
    ("/coatro/v1/pop/bookings/{bookingId}", "delete"): "bookings",
    ("/coatro/v1/pop/bookings/{bookingId}/history", "get"): "bookings",
    ("/coatro/v1/pop/screens", "get"): "screens",
    ("/coatro/v1/pop/screens/{screenId}", "get"): "screens",
    ("/coatro/v1/pop/screens/{screenId}", "put"): "screens",
    ("/coatro/v1/pop/screens/{screenId}", "delete"): "screens",
    ("/coatro/v1/pop/screens/{screenId}/history", "get"): "screens",
    ("/coatro/v1/oauth/token", "post"): "token",
    # the web console (issue 20): static files, served from the API's own origin
    ("/console/", "get"): "console",
    ("/console/{asset}", "get"): "console",
}
# Operations that take no credential at the gateway: the token endpoint authenticates the client itself.
# The console's files take none either: they hold no data, and its pages sign in from the browser.
UNSECURED_ROUTES = {("/coatro/v1/oauth/token", "post"), ("/console/", "get"), ("/console/{asset}", "get")}
# The JWT scheme every other operation accepts as one alternative, the other being `{}` (no token: the
# function checks X-API-Key), and what Terraform must render into it.
TOKEN_SCHEME = "coatro_oauth2"
TOKEN_VARIABLES = {
    "token_issuer": r'google_service_account\.function\["token"\]\.email',
    "token_jwks_uri": r'"https://www\.googleapis\.com/service_accounts/v1/jwk/\$\{google_service_account\.function\["token"\]\.email\}"',
    "token_audience": r"var\.token_audience",
}

# How each function of the design is triggered (DESIGN.md, "Shape").
EXPECTED_TRIGGERS = {
    "console": "http",
    "bookings": "http",
    "dead_letter": "push",
    "events": "http",
    "exporter": "push",
    "ingest": "http",
    "job_status": "http",
    "schemas": "http",
    "reports": "http",
    "report_drops": "push",
    "report_schedules": "http",
    "rollups": "push",
    "screens": "http",
    "splitter": "storage",
    "sweeper": "push",
    "token": "http",
    "upload_url": "http",
    "webhook_retries": "push",
    "webhook_sender": "push",
    "webhooks": "http",
    "worker": "push",
}

# Functions the design runs on a clock: a Cloud Scheduler job publishes a tick to a topic, and the
# function's push subscription on that topic delivers it.
SCHEDULED_FUNCTIONS = {"report_drops", "rollups", "sweeper", "webhook_retries"}
SCHEDULER = "google_cloud_scheduler_job"
# A subscription that carries only scheduler ticks needs no dead-letter topic (the next tick redoes
# the work), but an undeliverable tick is worthless: it must not be kept longer than this.
TICK_RETENTION_MAX_SECONDS = 3600
PUBLISHING_ROLES = {
    "roles/pubsub.publisher",
    "roles/pubsub.editor",
    "roles/pubsub.admin",
    "roles/editor",
    "roles/owner",
}

PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}

# Project-level grants that are allowed, by who receives them (a reference in `member`) and role.
# None of them is to a function's runtime account.
ALLOWED_PROJECT_GRANTS = {
    # Eventarc roles exist only at project level; this account runs no code and may invoke only splitter.
    ("google_service_account.splitter_trigger", "roles/eventarc.eventReceiver"),
    # Eventarc storage triggers require the Cloud Storage service agent to publish to the topics it creates.
    ("data.google_storage_project_service_account.gcs", "roles/pubsub.publisher"),
    # Function image builds write their logs; log writing has no narrower resource.
    ("google_service_account.builder", "roles/logging.logWriter"),
}
# Firestore has no IAM below the project. A function account may hold these, and only with a
# condition that names exactly this stack's database (equality, not a prefix).
FIRESTORE_ROLES = {"roles/datastore.user", "roles/datastore.viewer"}
# BigQuery grants the right to run query jobs only on a project (a job is billed to one); it holds no
# data access. The functions that query may hold it, unconditioned: reports, exporter (play exports),
# rollups (queries and writes the rollups table, iam.tf), report_drops (scheduled report drops),
# sweeper (the hourly booking checks run the performance report).
FUNCTION_PROJECT_ROLES = {
    ("reports", "roles/bigquery.jobUser"),
    ("exporter", "roles/bigquery.jobUser"),
    ("rollups", "roles/bigquery.jobUser"),
    ("report_drops", "roles/bigquery.jobUser"),
    ("sweeper", "roles/bigquery.jobUser"),
}
FIRESTORE_CONDITION = re.compile(
    r'resource\.name == "projects/\$\{var\.project_id\}/databases/\$\{google_firestore_database\.main\.name\}"'
)
PROJECT_IAM_TYPES = ("google_project_iam_member", "google_project_iam_binding", "google_project_iam_policy")
AUTHORITATIVE_IAM_TYPES = (
    "google_project_iam_binding",
    "google_project_iam_policy",
    "google_organization_iam_member",
    "google_organization_iam_binding",
    "google_folder_iam_member",
    "google_folder_iam_binding",
)
BUCKET_ACL_TYPES = (
    "google_storage_bucket_acl",
    "google_storage_bucket_access_control",
    "google_storage_default_object_acl",
    "google_storage_default_object_access_control",
    "google_storage_object_acl",
    "google_storage_object_access_control",
)


def _function_account(text: str) -> set[str]:
    return set(re.findall(r'google_service_account\.function\["(\w+)"\]', text))


def _function_refs(text: Any) -> set[str]:
    """Functions a string refers to: `google_cloudfunctions2_function.function["<name>"]` (the
    for_each resource) or `google_cloudfunctions2_function.<name>` (a resource of its own)."""
    if not isinstance(text, str):
        return set()
    return {key or name for name, key in re.findall(re.escape(FUNCTION) + r'\.(\w+)(?:\["(\w+)"\])?', text)}


def _refs(text: Any, prefix: str) -> set[str]:
    """Names of `<prefix>.<name>` referenced in a string."""
    if not isinstance(text, str):
        return set()
    return set(re.findall(re.escape(prefix) + r"\.(\w+)", text))


def _local(infra: Infra, value: Any) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{local\.(\w+)\}", value)
        if match:
            return infra.locals.get(match.group(1))
    return value


# ---- functions


def deployed_functions(infra: Infra) -> tuple[dict[str, tuple[str, dict]], list[str]]:
    """{function name: (Terraform address, body of that instance)} over every instance of every
    function resource (a for_each is expanded, dynamic blocks included), and what could not be read."""
    deployed: dict[str, tuple[str, dict]] = {}
    problems = []
    for rname, body in sorted(infra.of_type(FUNCTION).items()):
        if "for_each" in body and for_each_map(infra, body["for_each"]) is None:
            problems.append(
                f"{FUNCTION}.{rname}: for_each {body['for_each']!r} cannot be checked (use local.functions)"
            )
            continue
        for key, inst in instances(infra, body):
            name = key if key is not None else rname
            address = f'{FUNCTION}.{rname}["{key}"]' if key is not None else f"{FUNCTION}.{rname}"
            if name in deployed:
                problems.append(f"{address}: function {name} is already deployed by {deployed[name][0]}")
                continue
            if inst.get("dynamic"):
                problems.append(
                    f"{address}: dynamic block(s) {[next(iter(d)) for d in inst['dynamic']]} cannot be checked"
                )
            deployed[name] = (address, inst)
    return deployed, problems


def function_problems(infra: Infra, function_dirs: Iterable[str]) -> list[str]:
    """Every functions/<name> has a 2nd gen function with entry point <name>, python311, its own
    bundle and account, and the trigger the design gives it; and nothing is declared that has no code.
    Checked per function: each instance of the for_each resource is checked on its own."""
    dirs = set(function_dirs)
    deployed, problems = deployed_functions(infra)
    declared = infra.locals.get("functions") or {}
    for name in sorted(dirs - set(deployed)):
        problems.append(f"functions/{name} has no {FUNCTION} (add {name} to local.functions)")
    for name in sorted(set(deployed) - dirs):
        problems.append(f"{deployed[name][0]} has no functions/{name}/main.py to deploy")
    if set(declared) != set(deployed):
        problems.append(f"local.functions {sorted(declared)} != deployed functions {sorted(deployed)}")
    for rtype in ("google_service_account", "google_storage_bucket_object"):
        owner = "function" if rtype == "google_service_account" else "bundle"
        body = infra.of_type(rtype).get(owner)
        if body is None or for_each_map(infra, body.get("for_each")) != declared:
            problems.append(f"{rtype}.{owner} must have for_each = local.functions (one per function)")

    push_subscriptions = _push_subscriptions(infra)
    for name, (where, body) in sorted(deployed.items()):
        build = block(body, "build_config") or {}
        service = block(body, "service_config") or {}
        if build.get("entry_point") != name:
            problems.append(f"{where}: entry_point is {build.get('entry_point')!r}, not {name!r}")
        if _local(infra, build.get("runtime")) != RUNTIME:
            problems.append(f"{where}: runtime is {_local(infra, build.get('runtime'))!r}, not {RUNTIME!r}")
        source = block(block(build, "source") or {}, "storage_source") or {}
        if str(source.get("object")) != f'${{google_storage_bucket_object.bundle["{name}"].name}}':
            problems.append(
                f'{where}: source is not its own bundle (google_storage_bucket_object.bundle["{name}"])'
            )
        if _function_account(str(service.get("service_account_email"))) != {name}:
            problems.append(
                f'{where}: does not run as its own account google_service_account.function["{name}"]'
            )

        trigger = (declared.get(name) or {}).get("trigger")
        expected = EXPECTED_TRIGGERS.get(name, trigger)
        if trigger != expected:
            problems.append(
                f"{where}: local.functions says trigger {trigger!r}, the design says {expected!r}"
            )
        event = block(body, "event_trigger")
        if expected in ("http", "push") and event is not None:
            problems.append(f"{where}: an {expected} function must not have an event_trigger")
        if expected == "http" and service.get("ingress_settings") not in (
            "ALLOW_ALL",
            "ALLOW_INTERNAL_AND_GCLB",
        ):
            problems.append(
                f"{where}: API Gateway cannot reach it with ingress {service.get('ingress_settings')!r}"
            )
        if expected in ("storage", "push") and service.get("ingress_settings") != "ALLOW_INTERNAL_ONLY":
            problems.append(f"{where}: an event-driven function should accept internal traffic only")
        if expected == "storage":
            problems += _storage_trigger_problems(where, event)
        if expected == "push":
            problems += _push_delivery_problems(where, service, push_subscriptions.get(name, []))
        if expected not in ("http", "storage", "push"):
            problems.append(f"{where}: unknown trigger {expected!r}")
    return problems


def _storage_trigger_problems(where: str, event: dict | None) -> list[str]:
    if event is None:
        return [f"{where}: needs an Eventarc event_trigger on the uploads bucket"]
    problems = []
    if event.get("event_type") != "google.cloud.storage.object.v1.finalized":
        problems.append(f"{where}: event_type is {event.get('event_type')!r}, not object finalized")
    if event.get("retry_policy") != "RETRY_POLICY_RETRY":
        problems.append(f"{where}: retries are not enabled (retry_policy = RETRY_POLICY_RETRY)")
    filters = event.get("event_filters") or []
    if not any(
        f.get("attribute") == "bucket" and "google_storage_bucket.uploads." in str(f.get("value"))
        for f in filters
    ):
        problems.append(f"{where}: event_filters do not select the uploads bucket")
    if "google_service_account.function" in str(event.get("service_account_email")):
        problems.append(
            f"{where}: the trigger must not use a function's runtime account (it needs a project-level role)"
        )
    return problems


def _push_subscriptions(infra: Infra) -> dict[str, list[tuple[str, dict]]]:
    """{function: [(subscription name, body), ...]} for every push subscription that delivers to it."""
    found: dict[str, list[tuple[str, dict]]] = {}
    for sname, body in sorted(infra.of_type("google_pubsub_subscription").items()):
        push = block(body, "push_config")
        if push:
            for target in _function_refs(push.get("push_endpoint")):
                found.setdefault(target, []).append((sname, body))
    return found


def _push_delivery_problems(where: str, service: dict, subscriptions: list[tuple[str, dict]]) -> list[str]:
    """Exactly one push subscription delivers to the function, and its ack deadline outlasts the
    function's timeout (otherwise Pub/Sub redelivers a message that is still being handled)."""
    if len(subscriptions) != 1:
        return [f"{where}: needs exactly one push subscription delivering to it, found {len(subscriptions)}"]
    sname, body = subscriptions[0]
    timeout = service.get("timeout_seconds")
    deadline = body.get("ack_deadline_seconds", 10)  # Pub/Sub's default
    if not isinstance(timeout, int) or not isinstance(deadline, int) or deadline <= timeout:
        return [
            f"{where}: google_pubsub_subscription.{sname} ack_deadline_seconds {deadline!r} must exceed the function timeout {timeout!r}"
        ]
    return []


# ---- the gateway and its OpenAPI document


def openapi_problems(spec: dict, spec_text: str, infra: Infra) -> list[str]:
    """Every contract path is in the document and routes to its function's URL variable, and Terraform
    renders each variable with that function's URL."""
    problems = []
    paths = spec.get("paths") or {}
    for (path, method), function in sorted(CONTRACT_ROUTES.items()):
        operation = (paths.get(path) or {}).get(method)
        if operation is None:
            problems.append(f"openapi.yaml: {method.upper()} {path} is missing")
            continue
        address = (operation.get("x-google-backend") or {}).get("address")
        if address != "${" + function + "_url}":
            problems.append(
                f"openapi.yaml: {method.upper()} {path} routes to {address!r}, not ${{{function}_url}}"
            )

    rendered = str(infra.locals.get("openapi", ""))
    if "templatefile(" not in rendered or "openapi.yaml" not in rendered:
        problems.append("local.openapi does not render infra/openapi.yaml with templatefile()")
    bound = {
        variable: key or name
        for variable, name, key in re.findall(
            r'(\w+_url)\s*=\s*google_cloudfunctions2_function\.(\w+)(?:\["(\w+)"\])?\.service_config\[0\]\.uri',
            rendered,
        )
    }
    used = set(re.findall(r"\$\{(\w+)\}", spec_text))
    for variable, expected in sorted(TOKEN_VARIABLES.items()):
        if variable in used and not re.search(rf"\b{variable}\s*=\s*{expected}\s*[,}}]", rendered):
            problems.append(
                f"local.openapi must set {variable} from the token function's own account / var.token_audience"
            )
    used -= set(TOKEN_VARIABLES)
    for variable in sorted(used - set(bound)):
        problems.append(f"openapi.yaml uses ${{{variable}}} but local.openapi does not set it")
    triggers = {n: (d or {}).get("trigger") for n, d in (infra.locals.get("functions") or {}).items()}
    for variable, function in sorted(bound.items()):
        if variable != f"{function}_url":
            problems.append(f"local.openapi sets {variable} to the URL of {function}")
        if triggers.get(function) != "http":
            problems.append(f"local.openapi routes to {function}, which is not an HTTP function")

    problems += _security_problems(spec)

    api_config = infra.of_type("google_api_gateway_api_config").get("coatro") or {}
    if "sha256(local.openapi)" not in str(api_config.get("api_config_id")):
        problems.append("the API config id is not derived from the rendered spec's hash")
    if (block(api_config, "lifecycle") or {}).get("create_before_destroy") is not True:
        problems.append("the API config needs lifecycle { create_before_destroy = true }")
    return problems


def _security_problems(spec: dict) -> list[str]:
    """The JWT scheme is declared as API Gateway reads it, and every operation but the token endpoint
    accepts exactly: a valid token, or no token (then the function requires X-API-Key)."""
    problems = []
    scheme = (spec.get("securityDefinitions") or {}).get(TOKEN_SCHEME) or {}
    expected = {
        "x-google-issuer": "${token_issuer}",
        "x-google-jwks_uri": "${token_jwks_uri}",
        "x-google-audiences": "${token_audience}",
    }
    if scheme.get("type") != "oauth2" or any(scheme.get(k) != v for k, v in expected.items()):
        problems.append(f"openapi.yaml: securityDefinitions.{TOKEN_SCHEME} must be oauth2 with {expected}")
    locations = scheme.get("x-google-jwt-locations") or []
    if {"header": "Authorization", "value_prefix": "Bearer "} not in locations or {
        "query": "access_token"
    } not in locations:
        problems.append(
            "openapi.yaml: the token must be read from Authorization: Bearer and the access_token parameter"
        )
    if spec.get("security"):
        problems.append("openapi.yaml: no top-level security; each operation states its own")
    for path, operations in sorted((spec.get("paths") or {}).items()):
        for method, operation in sorted(operations.items()):
            security = operation.get("security")
            if (path, method) in UNSECURED_ROUTES:
                if security:
                    problems.append(
                        f"openapi.yaml: {method.upper()} {path} must not require a credential at the gateway"
                    )
            elif security != [{TOKEN_SCHEME: []}, {}]:
                problems.append(
                    f"openapi.yaml: {method.upper()} {path} must accept a token or an API key "
                    f"(security: [{{{TOKEN_SCHEME}: []}}, {{}}]), has {security!r}"
                )
    return problems


def invoker_problems(infra: Infra) -> list[str]:
    """The gateway may invoke exactly the HTTP functions; every function has an invoker; nobody public."""
    problems = []
    triggers = {n: (d or {}).get("trigger") for n, d in (infra.locals.get("functions") or {}).items()}
    invoked: dict[str, set[str]] = {}
    for rtype in ("google_cloud_run_v2_service_iam_member", "google_cloud_run_service_iam_member"):
        for name, body in infra.of_type(rtype).items():
            for key, inst in instances(infra, body):
                member = resolve_locals(infra, str(inst.get("member")))
                account = _member_account(infra, inst)
                function = _invoked_function(infra, inst)
                if function is None:
                    problems.append(f"{rtype}.{name}[{key}]: cannot tell which function it grants on")
                    continue
                invoked.setdefault(function, set()).add(account or member)
    gateway_targets = {f for f, accounts in invoked.items() if "gateway" in accounts}
    http = {n for n, t in triggers.items() if t == "http"}
    for function in sorted(gateway_targets - http):
        problems.append(f"the gateway's account may invoke {function}, which is not an HTTP function")
    for function in sorted(http - gateway_targets):
        problems.append(f"the gateway's account may not invoke the HTTP function {function}")
    for function in sorted(set(triggers) - set(invoked)):
        problems.append(f"nothing may invoke {function}")
    for function, accounts in sorted(invoked.items()):
        if any(a in PUBLIC_MEMBERS or "function" in a for a in accounts):
            problems.append(
                f"{function} is invokable by {sorted(accounts)}: only gateway/trigger/push accounts may be"
            )
    return problems


def _member_account(infra: Infra, inst: dict) -> str | None:
    member = str(inst.get("member"))
    match = re.search(r"local\.invoker_accounts\[\"(\w+)\"\]", member)
    if match:
        return match.group(1)
    refs = _refs(member, "google_service_account")
    return next(iter(refs)) if len(refs) == 1 else member


def _invoked_function(infra: Infra, inst: dict) -> str | None:
    for attribute in ("name", "service"):
        text = str(inst.get(attribute, ""))
        match = re.search(r'local\.function_services\["(\w+)"\]', text)
        if match:
            return match.group(1)
        refs = _function_refs(text)
        if len(refs) == 1:
            return next(iter(refs))
    return None


# ---- IAM at project level


def project_role_problems(infra: Infra) -> list[str]:
    """No function account holds a project-level role, except a Firestore role conditioned on this
    stack's database (Firestore has no finer IAM); any other project-level grant is on the allowlist."""
    problems = []
    for rtype in AUTHORITATIVE_IAM_TYPES:
        for name in infra.of_type(rtype):
            problems.append(
                f"{rtype}.{name}: authoritative or above-project IAM is not allowed (it can remove others' grants)"
            )
    for rtype in PROJECT_IAM_TYPES:
        for name, body in infra.of_type(rtype).items():
            for key, inst in instances(infra, body):
                where = f"{rtype}.{name}" + (f"[{key}]" if key else "")
                role = inst.get("role")
                members = inst.get("members") or [inst.get("member")]
                for member in members:
                    member = resolve_locals(infra, str(member))
                    functions = _function_account(member)
                    if "google_service_account.function[" in member and not functions:
                        functions = {"?"}  # for_each that could not be expanded: treat as a function account
                    if functions:
                        if all((f, role) in FUNCTION_PROJECT_ROLES for f in functions):
                            continue
                        problems += _function_grant_problems(infra, where, role, inst)
                        continue
                    grantee = _grantee(member)
                    if (grantee, role) not in ALLOWED_PROJECT_GRANTS:
                        problems.append(f"{where}: project-level {role} for {member} is not on the allowlist")
    return problems


def _function_grant_problems(infra: Infra, where: str, role: Any, inst: dict) -> list[str]:
    if role not in FIRESTORE_ROLES:
        return [f"{where}: a function account holds project-level role {role!r}"]
    condition = block(inst, "condition")
    expression = resolve_locals(infra, str((condition or {}).get("expression", "")))
    if not FIRESTORE_CONDITION.fullmatch(expression.strip()):
        return [
            f"{where}: project-level {role} for a function account must be conditioned on exactly this Firestore database"
        ]
    return []


def _grantee(member: str) -> str:
    for prefix in ("data.google_storage_project_service_account", "google_service_account"):
        refs = _refs(member, prefix)
        if refs:
            return f"{prefix}.{sorted(refs)[0]}"
    return member


# ---- Pub/Sub


def subscription_problems(infra: Infra) -> list[str]:
    """Every subscription that delivers somewhere (push, BigQuery, Cloud Storage) has a dead-letter
    policy to another topic, retry backoff, and the Pub/Sub agent's grants to dead-letter. The one
    exception is a subscription that carries only Cloud Scheduler ticks (see _tick_problems)."""
    problems = []
    ticks = scheduler_topics(infra)
    agent_publishes = _agent_grants(infra, "google_pubsub_topic_iam_member", "topic", "google_pubsub_topic")
    agent_subscribes = _agent_grants(
        infra, "google_pubsub_subscription_iam_member", "subscription", "google_pubsub_subscription"
    )
    for name, body in sorted(infra.of_type("google_pubsub_subscription").items()):
        where = f"google_pubsub_subscription.{name}"
        delivers = any(block(body, b) for b in ("push_config", "bigquery_config", "cloud_storage_config"))
        if not delivers:
            continue
        push = block(body, "push_config")
        if push and not block(push, "oidc_token"):
            problems.append(f"{where}: push without an OIDC token cannot call a private function")
        dead = block(body, "dead_letter_policy")
        topic = _refs(body.get("topic"), "google_pubsub_topic")
        if not dead or not dead.get("dead_letter_topic"):
            if topic and topic <= set(ticks):
                problems += _tick_problems(infra, where, body, topic)
            else:
                problems.append(f"{where}: no dead-letter policy")
        else:
            target = _refs(dead.get("dead_letter_topic"), "google_pubsub_topic")
            if not target or target == _refs(body.get("topic"), "google_pubsub_topic"):
                problems.append(f"{where}: dead-letters to its own topic or to no managed topic")
            attempts = dead.get("max_delivery_attempts")
            if not isinstance(attempts, int) or not 5 <= attempts <= 100:
                problems.append(f"{where}: max_delivery_attempts must be 5-100, is {attempts!r}")
            for topic in target - agent_publishes:
                problems.append(
                    f"{where}: the Pub/Sub service agent may not publish to dead-letter topic {topic}"
                )
            if name not in agent_subscribes:
                problems.append(
                    f"{where}: the Pub/Sub service agent needs roles/pubsub.subscriber on it to dead-letter"
                )
        retry = block(body, "retry_policy")
        if not retry or not retry.get("minimum_backoff") or not retry.get("maximum_backoff"):
            problems.append(f"{where}: no retry backoff (retry_policy)")
    return problems


def _tick_problems(infra: Infra, where: str, body: dict, topics: set[str]) -> list[str]:
    """A subscription without dead-lettering is fine when its topic carries nothing but scheduler
    ticks: a tick that fails is redone by the next one. So nothing else may publish to that topic
    (that work would be lost), and an undeliverable tick must expire soon rather than pile up."""
    problems = []
    retention = _seconds(body.get("message_retention_duration", "604800s"))
    if retention is None or retention > TICK_RETENTION_MAX_SECONDS:
        problems.append(
            f"{where}: no dead-letter policy, so it must keep ticks at most {TICK_RETENTION_MAX_SECONDS}s, "
            f"not {body.get('message_retention_duration', '604800s (the default)')!r}"
        )
    for topic, grantees in sorted(_topic_publishers(infra).items()):
        if topic in topics:
            for grantee in sorted(grantees):
                problems.append(
                    f"{where}: no dead-letter policy, but {grantee} may publish to its tick topic {topic} (its messages would be lost)"
                )
    return problems


def _seconds(duration: Any) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(duration).strip())
    return float(match.group(1)) if match else None


def _topics_named(infra: Infra, text: Any) -> set[str]:
    """Managed topics a string names: `google_pubsub_topic.<name>` or `local.topics["<key>"]`."""
    text = resolve_locals(infra, str(text))
    names = _refs(text, "google_pubsub_topic")
    for key in re.findall(r'local\.topics\["(\w+)"\]', text):
        names |= _refs(str((infra.locals.get("topics") or {}).get(key)), "google_pubsub_topic")
    return names


def _topic_publishers(infra: Infra) -> dict[str, set[str]]:
    """{topic: members that a topic-level grant lets publish}, the Cloud Scheduler agent aside."""
    found: dict[str, set[str]] = {}
    for rtype in ("google_pubsub_topic_iam_member", "google_pubsub_topic_iam_binding"):
        for body in infra.of_type(rtype).values():
            for _, inst in instances(infra, body):
                if inst.get("role") not in PUBLISHING_ROLES:
                    continue
                members = [
                    resolve_locals(infra, str(m)) for m in (inst.get("members") or [inst.get("member")])
                ]
                members = [m for m in members if "gcp-sa-cloudscheduler" not in m]
                for topic in _topics_named(infra, inst.get("topic")):
                    found.setdefault(topic, set()).update(members)
    return found


def scheduler_topics(infra: Infra) -> dict[str, str]:
    """{topic: scheduler job} for every managed topic a Cloud Scheduler job publishes to."""
    found = {}
    for jname, body in sorted(infra.of_type(SCHEDULER).items()):
        for topic in _refs((block(body, "pubsub_target") or {}).get("topic_name"), "google_pubsub_topic"):
            found[topic] = jname
    return found


def scheduler_problems(infra: Infra) -> list[str]:
    """Every Cloud Scheduler job publishes to a managed topic by its full name, in the stack's region,
    a topic some subscription reads; and every scheduled function is fed by one."""
    problems = []
    read = {
        topic
        for body in infra.of_type("google_pubsub_subscription").values()
        for topic in _refs(body.get("topic"), "google_pubsub_topic")
    }
    for jname, body in sorted(infra.of_type(SCHEDULER).items()):
        where = f"{SCHEDULER}.{jname}"
        target = block(body, "pubsub_target")
        if target is None:
            problems.append(f"{where}: has no pubsub_target (the design's ticks go through Pub/Sub)")
            continue
        topic_name = str(target.get("topic_name"))
        if not re.fullmatch(r"\$\{google_pubsub_topic\.\w+\.id\}", topic_name):
            problems.append(
                f"{where}: topic_name must be a managed topic's full name (google_pubsub_topic.<name>.id), got {topic_name!r}"
            )
        if body.get("region") != "${var.region}":
            problems.append(f"{where}: region must be var.region, got {body.get('region')!r}")
        if not target.get("data") and not target.get("attributes"):
            problems.append(f"{where}: Pub/Sub needs a message with data or attributes")
        for topic in sorted(_refs(topic_name, "google_pubsub_topic") - read):
            problems.append(f"{where}: publishes to {topic}, which no subscription reads")
    ticks = scheduler_topics(infra)
    subscriptions = _push_subscriptions(infra)
    for function in sorted(SCHEDULED_FUNCTIONS):
        fed = [
            sname
            for sname, body in subscriptions.get(function, [])
            if _refs(body.get("topic"), "google_pubsub_topic") & set(ticks)
        ]
        if not fed:
            problems.append(
                f"{function} is not fed by a Cloud Scheduler job (a push subscription on a topic a {SCHEDULER} publishes to)"
            )
    return problems


def _agent_grants(infra: Infra, rtype: str, attribute: str, target_type: str) -> set[str]:
    agent = str(infra.locals.get("pubsub_agent", ""))
    granted = set()
    for body in infra.of_type(rtype).values():
        for _, inst in instances(infra, body):
            member = resolve_locals(infra, str(inst.get("member")))
            role = (
                "roles/pubsub.publisher"
                if target_type == "google_pubsub_topic"
                else "roles/pubsub.subscriber"
            )
            if "gcp-sa-pubsub" in member and member == agent and inst.get("role") == role:
                granted |= _refs(inst.get(attribute), target_type)
    return granted


def dead_letter_wiring_problems(infra: Infra) -> list[str]:
    """The worker's chunks that die go to the topic the dead_letter function is pushed from."""
    subs = infra.of_type("google_pubsub_subscription")
    worker = subs.get("worker") or {}
    dead_letter = subs.get("dead_letter") or {}
    worker_dead = _refs(
        (block(worker, "dead_letter_policy") or {}).get("dead_letter_topic"), "google_pubsub_topic"
    )
    handler_topic = _refs(dead_letter.get("topic"), "google_pubsub_topic")
    problems = []
    if _function_refs((block(worker, "push_config") or {}).get("push_endpoint")) != {"worker"}:
        problems.append("google_pubsub_subscription.worker does not push to the worker function")
    if _function_refs((block(dead_letter, "push_config") or {}).get("push_endpoint")) != {"dead_letter"}:
        problems.append("google_pubsub_subscription.dead_letter does not push to the dead_letter function")
    if not worker_dead or worker_dead != handler_topic:
        problems.append(
            f"worker dead-letters to {sorted(worker_dead)} but dead_letter reads {sorted(handler_topic)}"
        )
    return problems


# ---- storage


def bucket_problems(infra: Infra) -> list[str]:
    """No bucket can be public: uniform access, public access prevention enforced, no ACL resources,
    no public IAM members. The uploads bucket also expires old uploads and allows browser PUTs."""
    problems = []
    for rtype in BUCKET_ACL_TYPES:
        for name in infra.of_type(rtype):
            problems.append(f"{rtype}.{name}: object/bucket ACLs are not used (uniform bucket-level access)")
    for name, body in sorted(infra.of_type("google_storage_bucket").items()):
        where = f"google_storage_bucket.{name}"
        if body.get("uniform_bucket_level_access") is not True:
            problems.append(f"{where}: uniform_bucket_level_access must be true")
        if body.get("public_access_prevention") != "enforced":
            problems.append(f'{where}: public_access_prevention must be "enforced"')
    for rtype in (
        "google_storage_bucket_iam_member",
        "google_storage_bucket_iam_binding",
        "google_storage_bucket_iam_policy",
    ):
        for name, body in infra.of_type(rtype).items():
            text = str(body)
            for public in PUBLIC_MEMBERS:
                if public in text:
                    problems.append(f"{rtype}.{name}: grants to {public}")
    uploads = infra.of_type("google_storage_bucket").get("uploads")
    if uploads is None:
        problems.append("no google_storage_bucket.uploads")
    else:
        rules = uploads.get("lifecycle_rule") or []
        if not any(
            (block(r, "action") or {}).get("type") == "Delete" and (block(r, "condition") or {}).get("age")
            for r in rules
        ):
            problems.append("google_storage_bucket.uploads: no lifecycle rule deleting old uploads")
        problems += _upload_cors_problems(infra, uploads)
    return problems


def _upload_cors_problems(infra: Infra, uploads: dict) -> list[str]:
    """Browser PUTs to signed URLs are allowed from the console's origins only (issue 20): a dynamic
    cors block over var.upload_cors_origins, whose default is empty and which takes no wildcard."""
    dynamic = [d["cors"] for d in uploads.get("dynamic") or [] if "cors" in d]
    if block(uploads, "cors") is not None or len(dynamic) != 1:
        return [
            "google_storage_bucket.uploads: CORS must be one dynamic cors block over var.upload_cors_origins"
        ]
    problems = []
    content = (dynamic[0].get("content") or [{}])[0]
    if (
        "var.upload_cors_origins" not in str(dynamic[0].get("for_each"))
        or content.get("origin") != "${cors.value}"
    ):
        problems.append("google_storage_bucket.uploads: CORS origins must be var.upload_cors_origins")
    if "PUT" not in (content.get("method") or []):
        problems.append("google_storage_bucket.uploads: CORS does not allow browser PUT uploads")
    variable = infra.variables.get("upload_cors_origins") or {}
    if variable.get("default") != [] or "https://" not in str(variable.get("validation")):
        problems.append(
            "var.upload_cors_origins must default to no origin and accept https origins only (no *)"
        )
    return problems


# ---- function settings


def _environment(infra: Infra, env: Any, name: str) -> dict[str, Any]:
    """The variables a function instance gets: `local.function_env`, the entry for it in
    `local.function_extra_env` when the expression looks it up, and `NAME = value` pairs written inline."""
    text = str(env)
    names: dict[str, Any] = {}
    if "local.function_env" in text:
        names.update(infra.locals.get("function_env") or {})
    if "local.function_extra_env" in text:
        names.update((infra.locals.get("function_extra_env") or {}).get(name) or {})
    names.update(dict(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=\s*([^,}\n]+)", text)))
    return names


def environment_problems(infra: Infra, setting_names: set[str]) -> list[str]:
    """Every environment variable given to a function is one shared/settings.py reads (a typo there
    would silently fall back to the local default), and upload_url signs as its own account."""
    problems = []
    deployed, _ = deployed_functions(infra)
    for name, (where, body) in sorted(deployed.items()):
        env = _environment(infra, (block(body, "service_config") or {}).get("environment_variables"), name)
        for variable in sorted(set(env) - setting_names - {"LOG_EXECUTION_ID"}):
            problems.append(f"{where}: {variable} is not a setting shared/settings.py reads")
        for variable in (
            "GOOGLE_CLOUD_PROJECT",
            "COATRO_EVENTS_TOPIC",
            "COATRO_CHUNKS_TOPIC",
            "COATRO_UPLOADS_BUCKET",
        ):
            if variable not in env:
                problems.append(f"{where}: {variable} is not set")
        if name == "upload_url":
            signer = str(env.get("COATRO_SIGNING_SERVICE_ACCOUNT"))
            if not re.fullmatch(
                r'(\$\{)?google_service_account\.function\["upload_url"\]\.email\}?', signer.strip()
            ):
                problems.append(f"{where}: COATRO_SIGNING_SERVICE_ACCOUNT must be its own account")
        if name == "token":
            for variable in ("COATRO_SIGNING_SERVICE_ACCOUNT", "COATRO_TOKEN_ISSUER"):
                if not re.fullmatch(
                    r'(\$\{)?google_service_account\.function\["token"\]\.email\}?',
                    str(env.get(variable)).strip(),
                ):
                    problems.append(f"{where}: {variable} must be its own account")
            if str(env.get("COATRO_TOKEN_AUDIENCE")).strip() not in (
                "var.token_audience",
                "${var.token_audience}",
            ):
                problems.append(
                    f"{where}: COATRO_TOKEN_AUDIENCE must be var.token_audience (what the gateway checks)"
                )
    grants = infra.of_type("google_service_account_iam_member")
    for function, resource, what in (
        ("upload_url", "upload_url_signs_as_itself", "sign blobs"),
        ("token", "token_signs_jwt_as_itself", "sign JWTs"),
    ):
        if function not in deployed:
            continue
        signer = grants.get(resource) or {}
        if not (
            signer.get("role") == "roles/iam.serviceAccountTokenCreator"
            and _function_account(str(signer.get("service_account_id"))) == {function}
            and _function_account(str(signer.get("member"))) == {function}
        ):
            problems.append(
                f"{function} cannot {what} as itself (serviceAccountTokenCreator on its own account)"
            )
    # No function account may hold a token-creating role on any account but its own.
    for name, body in grants.items():
        member, target = (
            _function_account(str(body.get("member"))),
            _function_account(str(body.get("service_account_id"))),
        )
        if member and member != target:
            problems.append(
                f"google_service_account_iam_member.{name}: a function account acts as another account"
            )
    return problems


# ---- conventions


def convention_problems(infra: Infra) -> list[str]:
    """Providers pinned, GCS backend set at init, variables and outputs sorted and documented."""
    problems = []
    terraform = infra.terraform[0] if infra.terraform else {}
    providers = block(terraform, "required_providers") or {}
    for provider in ("google", "google-beta"):
        version = (providers.get(provider) or {}).get("version")
        if not version or not re.search(r"\d+\.\d+", version) or version.strip().startswith(">="):
            problems.append(f"provider {provider} is not pinned to a major version (got {version!r})")
    backend = block(terraform, "backend") or {}
    if backend != {"gcs": {}}:
        problems.append(f"backend must be an empty gcs block configured at init time, got {backend!r}")
    if infra.variable_order != sorted(infra.variable_order):
        problems.append("variables.tf: variables are not in alphabetical order")
    if infra.output_order != sorted(infra.output_order):
        problems.append("outputs.tf: outputs are not in alphabetical order")
    for name, body in infra.variables.items():
        for attribute in ("type", "description"):
            if not body.get(attribute):
                problems.append(f"variable {name} has no {attribute}")
    for name, body in infra.outputs.items():
        if not body.get("description"):
            problems.append(f"output {name} has no description")
    return problems


# ---- the code side of each function


def entry_point_problems(functions_root, infra: Infra) -> list[str]:
    """functions/<name>/main.py defines `<name>` with the functions-framework signature its trigger
    delivers: @functions_framework.http for HTTP, @functions_framework.cloud_event for storage and
    push (functions-framework turns a raw Pub/Sub push envelope into a CloudEvent)."""
    import ast
    from pathlib import Path

    problems = []
    declared = infra.locals.get("functions") or {}
    from functions import function_names

    for name in function_names(Path(functions_root)):
        main = Path(functions_root) / name / "main.py"
        trigger = (declared.get(name) or {}).get("trigger")
        if trigger is None:
            continue  # function_problems reports an undeclared directory
        wanted = "http" if trigger == "http" else "cloud_event"
        tree = ast.parse(main.read_text(), filename=str(main))
        entry = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
        if entry is None:
            problems.append(f"functions/{name}/main.py has no top-level def {name}() (the entry point)")
            continue
        decorators = {ast.unparse(d) for d in entry.decorator_list}
        if f"functions_framework.{wanted}" not in decorators:
            problems.append(
                f"functions/{name}/main.py: {name}() is not @functions_framework.{wanted} ({trigger} trigger)"
            )
    return problems
