# Topic names are part of the design (shared/platform/settings.py defaults) and are passed to the functions.
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
# them automatically; they are kept for an operator to inspect and replay (see README.md, "Operating Coatro").
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

# Ticks for `sweeper`, published by the Cloud Scheduler job below. A tick carries no data of its own:
# each one makes the sweeper look for bulk jobs stuck in queued or processing and finish them.
resource "google_pubsub_topic" "sweeps" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-sweeps"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# Every var.sweep_schedule (each minute by default), one tick on pop-sweeps. The Cloud Scheduler
# service agent (service-PROJECT_NUMBER@gcp-sa-cloudscheduler.iam.gserviceaccount.com) publishes it:
# Google grants that agent roles/cloudscheduler.serviceAgent on the project when the API is enabled,
# and that role includes pubsub.topics.publish, so this stack grants nothing for it (a grant on the
# topic would add no access the agent lacks). See "Cloud Scheduler Service Agent" in
# https://cloud.google.com/iam/docs/roles-permissions/cloudscheduler and
# https://cloud.google.com/scheduler/docs/access-control. No retry_config: a tick that fails to
# publish is made up for by the next one.
resource "google_cloud_scheduler_job" "sweep" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-sweep"
  description = "Publishes a tick to pop-sweeps; the sweeper finishes bulk jobs left stuck in queued or processing."
  schedule    = var.sweep_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.sweeps.id # the full name, projects/<project>/topics/pop-sweeps
    data       = base64encode("{}")
  }

  depends_on = [google_project_service.enabled]
}

# Ticks for `rollups`, published by the Cloud Scheduler job below (every var.rollup_schedule): each
# one makes the function re-roll the hours that received events since its watermark.
resource "google_pubsub_topic" "rollups" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-rollups"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# Published by the Cloud Scheduler service agent, as the sweep job's ticks are (no grant needed). No
# retry_config: a tick that fails to publish is made up for by the next one, which rolls from the
# same watermark.
resource "google_cloud_scheduler_job" "rollup" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-rollup"
  description = "Publishes a tick to pop-rollups; the rollups function re-rolls the hours with new events."
  schedule    = var.rollup_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.rollups.id
    data       = base64encode("{}")
  }

  depends_on = [google_project_service.enabled]
}

# Why explicit push subscriptions rather than Eventarc Pub/Sub triggers for `worker`, `dead_letter`
# and `sweeper`: Eventarc creates and owns its subscription, so its dead-letter policy, retry backoff,
# ack deadline and retention cannot be set in Terraform. Here they are ours. functions-framework
# turns the raw push envelope into the same CloudEvent an Eventarc trigger would deliver, so the
# function code is the same either way. The OIDC token makes Pub/Sub call the private function as
# the push account.
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

resource "google_pubsub_subscription" "sweeper" {
  name    = "pop-sweeps-sweeper"
  project = var.project_id
  topic   = google_pubsub_topic.sweeps.id

  # Longer than the sweeper's timeout, so Pub/Sub does not redeliver a tick still being swept.
  ack_deadline_seconds = 600
  # The shortest Pub/Sub allows. A tick that cannot be delivered in ten minutes is worth nothing:
  # newer ticks have arrived by then.
  message_retention_duration = "600s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["sweeper"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.function["sweeper"].service_config[0].uri
    }
  }

  # No dead_letter_policy, unlike the other push subscriptions: a tick names no work of its own. If a
  # sweep keeps failing, the next tick (a minute later) redoes the same work from Firestore, so a
  # parked tick would hold nothing to inspect or replay; it just expires with the retention above.
  # The sweeper runs one sweep at a time (max_instances = 1, concurrency 1): ticks that arrive while
  # one runs are refused and retried with this backoff until they expire.
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "60s"
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "rollups" {
  name    = "pop-rollups-rollups"
  project = var.project_id
  topic   = google_pubsub_topic.rollups.id

  # Longer than the function's timeout, so Pub/Sub does not redeliver a tick still being rolled.
  ack_deadline_seconds = 600
  # The shortest Pub/Sub allows: a tick undelivered for ten minutes is worth nothing.
  message_retention_duration = "600s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["rollups"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.function["rollups"].service_config[0].uri
    }
  }

  # No dead_letter_policy, as for the sweeper: a tick names no work; a failed roll leaves the
  # watermark where it was and the next tick repeats it.
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "60s"
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

# Webhook events (shared.records.notify.WebhookEvent): published by whatever notices something (a bulk
# job ending, a report drop, a booking's pacing, a dark screen), delivered by shared.notify.
resource "google_pubsub_topic" "webhook_events" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-webhook-events"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# Dead letter of pop-webhook-events: an event whose fan-out (creating its deliveries in Firestore) kept
# failing for 20 deliveries is parked here, kept a week for inspection and replay. (A delivery to a
# tenant's endpoint that keeps failing is not this: it is retried for over 24 hours from Firestore and
# then recorded as failed, shared/notify/delivery.py.)
resource "google_pubsub_topic" "webhook_events_dead" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-webhook-events-dead"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription" "webhook_events_dead" {
  name                       = "pop-webhook-events-dead-inspect"
  project                    = var.project_id
  topic                      = google_pubsub_topic.webhook_events_dead.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

# Events reach webhook_sender by push. Pub/Sub's redelivery covers the fan-out only (creating one
# delivery document per endpoint, then a first attempt); the attempts' own retries span more than 24
# hours, which no subscription's backoff (at most 600 s) can, so they are driven from Firestore by
# the tick below.
resource "google_pubsub_subscription" "webhook_sender_events" {
  name    = "pop-webhook-events-sender"
  project = var.project_id
  topic   = google_pubsub_topic.webhook_events.id

  # Longer than webhook_sender's 300 s timeout, so an event still being fanned out is not redelivered.
  ack_deadline_seconds       = 310
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["webhook_sender"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.function["webhook_sender"].service_config[0].uri
    }
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.webhook_events_dead.id
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

# Ticks for webhook_retries: each one attempts the deliveries whose nextAttemptAt has come.
resource "google_pubsub_topic" "webhook_ticks" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-webhook-ticks"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# Every minute, as the sweep (the same service agent publishes; see google_cloud_scheduler_job.sweep).
# The shortest retry delay that is honoured to the second is thus the first (5 s) only when the first
# attempt's own request makes it; later delays (5 min and up) are met within a minute.
resource "google_cloud_scheduler_job" "webhook_tick" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-webhook-tick"
  description = "Publishes a tick to pop-webhook-ticks; webhook_retries attempts the webhook deliveries that are due."
  schedule    = "* * * * *"
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.webhook_ticks.id
    data       = base64encode("{}")
  }

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription" "webhook_retries" {
  name    = "pop-webhook-ticks-retries"
  project = var.project_id
  topic   = google_pubsub_topic.webhook_ticks.id

  ack_deadline_seconds = 310
  # A tick names no work of its own (the due deliveries are in Firestore): one not delivered within
  # ten minutes is replaced by newer ones, so no dead letter.
  message_retention_duration = "600s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["webhook_retries"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.function["webhook_retries"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "60s"
  }

  expiration_policy {
    ttl = ""
  }
}

# Ticks for `report_drops` (scheduled report drops, docs/report-drops.md), published by the Cloud
# Scheduler job below; the same service agent as the sweep's publishes them (no grant needed, see the
# sweep job). A tick carries no data: each one makes report_drops run the report schedules due.
resource "google_pubsub_topic" "report_ticks" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-report-ticks"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_scheduler_job" "report_ticks" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-report-ticks"
  description = "Publishes a tick to pop-report-ticks; report_drops runs the report schedules due."
  schedule    = var.report_tick_schedule
  time_zone   = "Etc/UTC" # the schedules' own zones are applied by report_drops, per schedule

  pubsub_target {
    topic_name = google_pubsub_topic.report_ticks.id
    data       = base64encode("{}")
  }

  depends_on = [google_project_service.enabled]
}

# Like the sweeper's: no dead-letter topic (a tick names no work; runs live in Firestore and a failed
# one is retaken by a later tick), and a tick older than ten minutes is worth nothing.
resource "google_pubsub_subscription" "report_drops" {
  name    = "pop-report-ticks-drops"
  project = var.project_id
  topic   = google_pubsub_topic.report_ticks.id

  ack_deadline_seconds       = 600 # longer than report_drops' timeout
  message_retention_duration = "600s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["report_drops"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.function["report_drops"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "60s"
  }

  expiration_policy {
    ttl = ""
  }
}
