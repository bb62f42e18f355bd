resource "google_bigquery_dataset" "pop" {
  # checkov:skip=CKV_GCP_81: Google-managed encryption is the accepted baseline; a CMEK would add KMS key management for no requirement we have.
  dataset_id    = replace("${var.name_prefix}_pop", "-", "_")
  project       = var.project_id
  location      = var.region
  friendly_name = "Coatro proof-of-play"
  description   = "Proof-of-play events written by the pop-events BigQuery subscription."

  depends_on = [google_project_service.enabled]
}

# One row per message on pop-events. Column names match the message JSON (shared/events/publishing.py);
# the last four columns are the subscription's metadata (write_metadata). A redelivered or retried
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

  schema = jsonencode([
    { name = "tenantId", type = "STRING", mode = "REQUIRED" },
    { name = "eventId", type = "STRING", mode = "REQUIRED" },
    { name = "source", type = "STRING", mode = "NULLABLE", description = "api or bulk" },
    { name = "screenId", type = "STRING", mode = "NULLABLE" },
    { name = "siteId", type = "STRING", mode = "NULLABLE" },
    { name = "campaignId", type = "STRING", mode = "NULLABLE" },
    { name = "creativeId", type = "STRING", mode = "NULLABLE" },
    { name = "playedAt", type = "TIMESTAMP", mode = "NULLABLE" },
    { name = "durationMs", type = "INT64", mode = "NULLABLE" },
    { name = "playCount", type = "INT64", mode = "NULLABLE" }, # plays an aggregated row stands for; null means 1
    {
      name = "impressions", type = "RECORD", mode = "NULLABLE",
      fields = [{
        name = "ageBuckets", type = "RECORD", mode = "NULLABLE",
        fields = [
          { name = "total", type = "FLOAT64", mode = "NULLABLE" },
          { name = "male", type = "FLOAT64", mode = "NULLABLE" },
          { name = "female", type = "FLOAT64", mode = "NULLABLE" },
        ]
      }]
    },
    { name = "context", type = "JSON", mode = "NULLABLE", description = "Free-form key-value pairs" },
    { name = "device", type = "JSON", mode = "NULLABLE", description = "Free-form key-value pairs" },
    { name = "jobId", type = "STRING", mode = "NULLABLE", description = "Bulk job (source = bulk)" },
    { name = "row", type = "INT64", mode = "NULLABLE", description = "Row in the bulk file, as a person counts it" },
    { name = "ingestedAt", type = "TIMESTAMP", mode = "NULLABLE" },
    { name = "subscription_name", type = "STRING", mode = "NULLABLE" },
    { name = "message_id", type = "STRING", mode = "NULLABLE" },
    { name = "publish_time", type = "TIMESTAMP", mode = "NULLABLE" },
    { name = "attributes", type = "JSON", mode = "NULLABLE" },
  ])
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
