resource "google_bigquery_dataset" "pop" {
  # checkov:skip=CKV_GCP_81: Google-managed encryption is the accepted baseline; a CMEK would add KMS key management for no requirement we have.
  dataset_id    = replace("${var.name_prefix}_pop", "-", "_")
  project       = var.project_id
  location      = var.region
  friendly_name = "Coatro proof-of-play"
  description   = "Proof-of-play events written by the pop-events BigQuery subscription, and the screen registry's versions."

  depends_on = [google_project_service.enabled]
}

# One row per message on pop-events. Column names match the message JSON (shared/events/publishing.py);
# the last four columns are the subscription's metadata (write_metadata). `playCount` is how many plays
# an aggregated row stands for (absent: 1). A redelivered or retried
# event lands twice; read through the `events` view, which keeps one row per (tenantId, eventId).
resource "google_bigquery_table" "events" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption is the accepted baseline (see the dataset).
  dataset_id          = google_bigquery_dataset.pop.dataset_id
  project             = var.project_id
  table_id            = "events_raw"
  description         = "Every message published to pop-events, duplicates included. Query the events view instead."
  deletion_protection = var.deletion_protection

  time_partitioning {
    type          = "DAY"
    field         = "playedAt"
    expiration_ms = var.event_retention_days > 0 ? var.event_retention_days * 86400000 : null
  }

  clustering = ["tenantId", "campaignId"]

  # The one schema file, also read by the local stack (local/bigquery.py), so the two cannot drift.
  schema = file("${path.module}/bigquery/pop_events.schema.json")
}

# The screen registry's type-2 history, mirrored from Firestore for reports to join: one row per screen
# version, appended once (shared/screens/sync.py: an outbox in the version's own transaction, written
# after the commit, retried by the sweeper). Readers keep one row per (tenantId, screenId, version) and
# compute validTo with LEAD(validFrom). Not partitioned, so no expiry: history is never dropped silently.
resource "google_bigquery_table" "screens" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption is the accepted baseline (see the dataset).
  dataset_id          = google_bigquery_dataset.pop.dataset_id
  project             = var.project_id
  table_id            = "screens"
  description         = "Every version of every tenant's screens (type-2 history), duplicates possible: keep one row per (tenantId, screenId, version)."
  deletion_protection = var.deletion_protection

  clustering = ["tenantId", "screenId"]

  # The one schema file, also read by the local stack (local/bigquery.py), so the two cannot drift.
  schema = file("${path.module}/bigquery/screens.schema.json")
}

# The hourly rollups (shared/reports/rollups.py): the delivery report's sums per tenant, UTC hour,
# screen, campaign, creative and site (and the screen version and screen-local hour they fell in),
# written only by the rollups function, one MERGE per batch of hours it re-rolls. Reports read it for
# the hours before the watermark. Partitioned by day of the hour, clustered on the tenant; no expiry:
# rollups are what stays when raw partitions expire (var.event_retention_days).
resource "google_bigquery_table" "rollups" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption is the accepted baseline (see the dataset).
  dataset_id          = google_bigquery_dataset.pop.dataset_id
  project             = var.project_id
  table_id            = "rollups"
  description         = "Hourly rollups of the deduplicated events, kept by the rollups function; reports read them for closed hours."
  deletion_protection = var.deletion_protection

  time_partitioning {
    type  = "DAY"
    field = "hour"
  }

  clustering = ["tenantId", "screenId"]

  # The one schema file, also read by the local stack (local/bigquery.py), so the two cannot drift.
  schema = file("${path.module}/bigquery/rollups.schema.json")
}

resource "google_bigquery_table" "events_view" {
  # checkov:skip=CKV_GCP_80: A view stores no data of its own.
  # checkov:skip=CKV_GCP_121: A view holds no data; recreating it loses nothing.
  dataset_id          = google_bigquery_dataset.pop.dataset_id
  project             = var.project_id
  table_id            = "events"
  description         = "Proof-of-play events, one row per (tenantId, eventId): the first one published wins."
  deletion_protection = false

  view {
    use_legacy_sql = false
    query          = <<-SQL
      SELECT * EXCEPT (subscription_name, message_id, attributes)
      FROM `${google_bigquery_table.events.project}.${google_bigquery_table.events.dataset_id}.${google_bigquery_table.events.table_id}`
      WHERE TRUE
      QUALIFY ROW_NUMBER() OVER (PARTITION BY tenantId, eventId ORDER BY publish_time, message_id) = 1
    SQL
  }
}
