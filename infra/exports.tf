# Raw play exports (docs/plays-export.md): the exports bucket, the pop-exports topic and its push
# subscription to `exporter`, the cursor secret, and the grants the two functions need for them.
# Grants of the same kinds as iam.tf's (one account, one resource, one role), kept here beside what
# they are on.

# exports/<tenantId>/<exportId>/plays-NNNNN.{ndjson,csv}[.gz], written by exporter, read through
# V4 signed GET URLs that reports signs as itself. Deleted after var.export_retention_days.
resource "google_storage_bucket" "exports" {
  # checkov:skip=CKV_GCP_62: Object access is recorded by Cloud Audit Logs (data access) where needed; usage-log buckets would be a second store of tenant object names to secure.
  # checkov:skip=CKV_GCP_78: An export part is rewritten only with the same plays (a resumed call); older versions would keep tenant data past the retention rule below.
  name                        = "${var.project_id}-${var.name_prefix}-exports"
  project                     = var.project_id
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age = var.export_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    # A call cut off in the middle of a part leaves a resumable upload unfinished.
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.enabled]
}

# One message per exporter call: {"exportId"}; a call that runs out of time publishes the next.
resource "google_pubsub_topic" "exports" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-exports"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# An export message exporter failed on max_delivery_attempts times. Nothing consumes it: the export's
# deadline fails the export (shared/reports/exports.py); the message is kept for an operator.
resource "google_pubsub_topic" "exports_dead" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption is the accepted baseline (see pop-events).
  name    = "pop-exports-dead"
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription" "exporter" {
  name    = "pop-exports-exporter"
  project = var.project_id
  topic   = google_pubsub_topic.exports.id

  # Longer than exporter's timeout, so Pub/Sub does not redeliver a call still writing.
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["exporter"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.function["exporter"].service_config[0].uri
    }
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.exports_dead.id
    max_delivery_attempts = 5
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = "" # never expire for inactivity
  }
}

resource "google_pubsub_topic_iam_member" "pubsub_dead_letters_exports" {
  project = var.project_id
  topic   = google_pubsub_topic.exports_dead.id
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_acks_dead_letters_exporter" {
  project      = var.project_id
  subscription = google_pubsub_subscription.exporter.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes_exporter" {
  project  = var.project_id
  location = var.region
  name     = local.function_services["exporter"]
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

# reports publishes an export's first message; exporter its continuations.
resource "google_pubsub_topic_iam_member" "publishes_exports" {
  for_each = {
    reports  = "an export's first message"
    exporter = "the message that continues an export past a call's time budget"
  }

  project = var.project_id
  topic   = google_pubsub_topic.exports.id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

# exporter writes the parts, and rewrites one when a call resumes (objectUser: create, get, delete;
# no IAM or ACL changes).
resource "google_storage_bucket_iam_member" "exporter_writes_exports" {
  bucket = google_storage_bucket.exports.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.function["exporter"].email}"
}

# A V4 signed URL acts with the signer's permissions: the caller's GET is a read by reports' account.
resource "google_storage_bucket_iam_member" "reports_reads_exports" {
  bucket = google_storage_bucket.exports.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function["reports"].email}"
}

# reports signs download URLs with signBlob as itself, on its own account only.
resource "google_service_account_iam_member" "reports_signs_as_itself" {
  service_account_id = google_service_account.function["reports"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function["reports"].email}"
}

# exporter reads the events table only (not the dataset), and runs query jobs (project-level only).
resource "google_bigquery_table_iam_member" "exporter_reads_events" {
  project    = var.project_id
  dataset_id = google_bigquery_table.events.dataset_id
  table_id   = google_bigquery_table.events.table_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.function["exporter"].email}"
}

resource "google_project_iam_member" "exporter_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.function["exporter"].email}"
}

# The plays cursor's HMAC key. Terraform makes the secret and grants reports access to it; its value
# is generated once, out of band, so it is in no file and no Terraform state (docs/plays-export.md):
#   openssl rand -hex 32 | tr -d '\n' | gcloud secrets versions add <prefix>-cursor-secret --data-file=-
resource "google_secret_manager_secret" "cursor" {
  # checkov:skip=CKV2_GCP_5: Google-managed encryption is the accepted baseline (see pop-events).
  project   = var.project_id
  secret_id = "${var.name_prefix}-cursor-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_iam_member" "reports_reads_cursor_secret" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.cursor.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function["reports"].email}"
}
