"""The webhooks' Terraform (infra/pubsub.tf, iam.tf, firestore.tf): who may publish job events, what
the webhook functions may touch, and the Firestore settings their queries and secrets need."""

from __future__ import annotations

from tests.infra.hcl import block

JOB_FINISHERS = {"worker", "dead_letter", "splitter", "ingest", "sweeper"}  # every stage that ends a job
OTHER_PUBLISHERS = {"report_drops"}  # report.ready (shared/reports/drops.py)


def test_every_stage_that_ends_a_job_may_publish_job_events_and_the_webhook_functions_publish_nothing(infra):
    publishers = infra.locals["topic_publishers"]
    to_events = {grant["function"] for grant in publishers.values() if grant["topic"] == "webhook_events"}
    assert to_events == JOB_FINISHERS | OTHER_PUBLISHERS
    assert not {g["function"] for g in publishers.values()} & {
        "webhooks",
        "webhook_sender",
        "webhook_retries",
    }
    roles = infra.locals["firestore_roles"]
    assert {name: roles[name] for name in ("webhooks", "webhook_sender", "webhook_retries")} == {
        "webhooks": "roles/datastore.user",
        "webhook_sender": "roles/datastore.user",
        "webhook_retries": "roles/datastore.user",
    }
    assert not {"webhooks", "webhook_sender", "webhook_retries"} & set(infra.locals["upload_bucket_roles"])


def test_events_reach_the_sender_with_a_dead_letter_and_ticks_reach_the_retries_every_minute(infra):
    subscriptions = infra.of_type("google_pubsub_subscription")
    events = subscriptions["webhook_sender_events"]
    assert events["topic"] == "${google_pubsub_topic.webhook_events.id}"
    assert (
        block(events, "dead_letter_policy")["dead_letter_topic"]
        == "${google_pubsub_topic.webhook_events_dead.id}"
    )
    ticks = subscriptions["webhook_retries"]
    assert ticks["topic"] == "${google_pubsub_topic.webhook_ticks.id}"
    job = infra.of_type("google_cloud_scheduler_job")["webhook_tick"]
    assert job["schedule"] == "* * * * *"
    assert block(job, "pubsub_target")["topic_name"] == "${google_pubsub_topic.webhook_ticks.id}"


def test_firestore_indexes_the_due_deliveries_expires_them_and_never_indexes_secrets(infra):
    fields = infra.of_type("google_firestore_field")
    due = fields["deliveries_next_attempt"]
    assert (due["collection"], due["field"]) == ("webhookDeliveries", "nextAttemptAt")
    assert block(block(due, "index_config"), "indexes")["query_scope"] == "COLLECTION_GROUP"
    assert "webhookDeliveries" in str(infra.locals["ttl_collections"])
    unindexed = infra.locals["unindexed_fields"]
    assert {"collection": "webhooks", "field": "secrets"} in unindexed.values()
