output "bundle_bucket" {
  description = "Bucket holding the function source bundles, one object per content hash."
  value       = google_storage_bucket.sources.name
}

output "events_table" {
  description = "BigQuery table the pop-events subscription writes to (duplicates included)."
  value       = "${google_bigquery_table.events.project}.${google_bigquery_table.events.dataset_id}.${google_bigquery_table.events.table_id}"
}

output "events_view" {
  description = "BigQuery view of the events, one row per (tenantId, eventId). Query this one."
  value       = "${google_bigquery_table.events_view.project}.${google_bigquery_table.events_view.dataset_id}.${google_bigquery_table.events_view.table_id}"
}

output "functions" {
  description = "Cloud Function name of each functions/<name> entry point."
  value       = { for name, function in google_cloudfunctions2_function.function : name => function.name }
}

output "gateway_url" {
  description = "Base URL of the API; the contract's paths go after it (https://<host>/coatro/v1/pop/events)."
  value       = "https://${google_api_gateway_gateway.coatro.default_hostname}"
}

output "token_url" {
  description = "OAuth2 token endpoint (client credentials) for API clients."
  value       = "https://${google_api_gateway_gateway.coatro.default_hostname}/coatro/v1/oauth/token"
}

output "topics" {
  description = "Pub/Sub topic names."
  value = {
    chunks        = google_pubsub_topic.chunks.name
    chunks_dead   = google_pubsub_topic.chunks_dead.name
    chunks_parked = google_pubsub_topic.chunks_parked.name
    events        = google_pubsub_topic.events.name
    events_dead   = google_pubsub_topic.events_dead.name
    sweeps        = google_pubsub_topic.sweeps.name
  }
}

output "uploads_bucket" {
  description = "Bucket that receives bulk uploads through signed URLs."
  value       = google_storage_bucket.uploads.name
}
