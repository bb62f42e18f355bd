# Topic names are part of the design (shared/settings.py defaults) and are passed to the functions.
resource "google_pubsub_topic" "events" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline for this data; a CMEK would add a KMS key ring and key rotation ops for no requirement we have.
  name                       = "pop-events"
  project                    = var.project_id
  message_retention_duration = "86400s"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "chunks" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-chunks"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# A chunk the worker failed on max_delivery_attempts times; `dead_letter` records its rows as failed.
resource "google_pubsub_topic" "chunks_dead" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-chunks-dead"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# Parking lots: messages that even their last-resort consumer could not handle. Nothing consumes
# them automatically; they are kept for an operator to inspect and replay (see README.md, "Deploy").
resource "google_pubsub_topic" "chunks_parked" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-chunks-parked"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "events_dead" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-events-dead"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# Why explicit push subscriptions rather than Eventarc Pub/Sub triggers for `worker` and `dead_letter`:
# Eventarc creates and owns its subscription, so its dead-letter policy, retry backoff and ack
# deadline cannot be set in Terraform. Here they are ours. functions-framework turns the raw push
# envelope into the same CloudEvent an Eventarc trigger would deliver, so the function code is the
# same either way. The OIDC token makes Pub/Sub call the private function as the push account.
resource "google_pubsub_subscription" "worker" {
  name    = "pop-chunks-worker"
  project = var.project_id
  topic   = google_pubsub_topic.chunks.id

  # Longer than the worker's timeout, so Pub/Sub does not redeliver a chunk still being processed.
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["worker"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.function["worker"].service_config[0].uri
    }
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.chunks_dead.id
    max_delivery_attempts = 5
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = "" # never expire for inactivity: a quiet week must not delete the pipeline
  }
}

resource "google_pubsub_subscription" "dead_letter" {
  name    = "pop-chunks-dead-handler"
  project = var.project_id
  topic   = google_pubsub_topic.chunks_dead.id

  ack_deadline_seconds       = 300
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["dead_letter"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.function["dead_letter"].service_config[0].uri
    }
  }

  # If recording the failure itself keeps failing (say Firestore is down for hours), the message is
  # parked rather than lost after the retention period.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.chunks_parked.id
    max_delivery_attempts = 20
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }
}

# Canonical events straight into BigQuery, columns matched by name (bigquery.tf).
resource "google_pubsub_subscription" "events_bigquery" {
  name    = "pop-events-bigquery"
  project = var.project_id
  topic   = google_pubsub_topic.events.id

  bigquery_config {
    table               = "${google_bigquery_table.events.project}.${google_bigquery_table.events.dataset_id}.${google_bigquery_table.events.table_id}"
    use_table_schema    = true
    write_metadata      = true
    drop_unknown_fields = true
  }

  # A message BigQuery rejects (say a value that does not fit its column) is set aside, not retried for a week.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.events_dead.id
    max_delivery_attempts = 5
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_bigquery_table_iam_member.pubsub_writes_events,
    google_bigquery_table_iam_member.pubsub_reads_events_metadata,
  ]
}

# Pull subscriptions that hold parked messages for inspection.
resource "google_pubsub_subscription" "chunks_parked" {
  name                       = "pop-chunks-parked-inspect"
  project                    = var.project_id
  topic                      = google_pubsub_topic.chunks_parked.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "events_dead" {
  name                       = "pop-events-dead-inspect"
  project                    = var.project_id
  topic                      = google_pubsub_topic.events_dead.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}
