"""The play export's Terraform (infra/exports.tf): the bucket expires what it holds, the exporter's
messages are dead-lettered, and each account holds only what its code does with exports."""

from __future__ import annotations

import re

from tests.infra.hcl import block, instances


def _accounts(infra, rtype: str, where: str) -> dict[str, str]:
    """function account -> role, over the grants of `rtype` whose body mentions `where`."""
    out = {}
    for body in infra.of_type(rtype).values():
        if where not in str(body):
            continue
        for key, grant in instances(infra, body):
            member = str(grant.get("member"))
            names = re.findall(r'google_service_account\.function\["(\w+)"\]', member)
            name = key if key and "function[each.key]" in member else (names[0] if names else member)
            out[name] = grant.get("role")
    return out


def test_the_exports_bucket_is_private_and_deletes_exports_after_their_retention(infra):
    bucket = infra.of_type("google_storage_bucket")["exports"]
    assert bucket["public_access_prevention"] == "enforced" and bucket["uniform_bucket_level_access"] is True
    rules = bucket["lifecycle_rule"]
    deletes = [r for r in rules if block(r, "action")["type"] == "Delete"]
    assert [block(r, "condition")["age"] for r in deletes] == ["${var.export_retention_days}"]
    assert infra.variables["export_retention_days"]["default"] == 7


def test_exporter_messages_are_pushed_with_backoff_and_dead_lettered(infra):
    sub = infra.of_type("google_pubsub_subscription")["exporter"]
    assert "google_pubsub_topic.exports.id" in str(sub["topic"])
    assert 'function["exporter"]' in str(block(sub, "push_config")["push_endpoint"])
    assert "google_pubsub_topic.exports_dead.id" in str(block(sub, "dead_letter_policy")["dead_letter_topic"])
    assert block(sub, "retry_policy")["minimum_backoff"] == "10s"


def test_each_account_holds_only_what_it_does_with_exports(infra):
    assert _accounts(infra, "google_storage_bucket_iam_member", "google_storage_bucket.exports") == {
        "exporter": "roles/storage.objectUser",  # writes and rewrites parts
        "reports": "roles/storage.objectViewer",  # signs the download URLs
    }
    assert _accounts(infra, "google_pubsub_topic_iam_member", "google_pubsub_topic.exports.id") == {
        "reports": "roles/pubsub.publisher",
        "exporter": "roles/pubsub.publisher",
    }
    assert _accounts(infra, "google_secret_manager_secret_iam_member", "cursor") == {
        "reports": "roles/secretmanager.secretAccessor"
    }
    # exporter reads the events table only, not the dataset.
    assert (
        _accounts(infra, "google_bigquery_table_iam_member", "google_bigquery_table.events").get("exporter")
        == "roles/bigquery.dataViewer"
    )
    assert "exporter" not in _accounts(infra, "google_bigquery_dataset_iam_member", "")


def test_an_export_record_expires_with_its_files(infra):
    assert "exports" in str(infra.locals["ttl_collections"])
    env = infra.locals["function_extra_env"]["reports"]
    assert env["COATRO_EXPORT_RETENTION_DAYS"] == "${tostring(var.export_retention_days)}"
