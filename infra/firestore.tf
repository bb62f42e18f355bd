# The functions use the project's (default) database (shared/platform/clients.py). If it already exists, import it:
#   terraform import google_firestore_database.main "projects/<project>/databases/(default)"
resource "google_firestore_database" "main" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}

locals {
  # Firestore TTL deletes a document but not its subcollections, so a job's chunk results
  # (jobs/{jobId}/chunks) need an expireAt of their own to expire with it. tokenThrottles: the token
  # endpoint's failed-authentication records (shared/auth/throttle.py), one per client id tried, known
  # or not; each expires a window after its last failure.
  # exports: play export records (shared/storage/exports.py), which expire with their files.
  # webhookDeliveries: one event for one endpoint with its attempts (shared/storage/notify.py), kept
  # record_retention_days after the event.
  # reportRuns: scheduled report runs (shared/storage/report_schedules.py), kept as long as their files.
  ttl_collections = toset(["files", "jobs", "chunks", "tokenThrottles", "exports", "webhookDeliveries", "reportRuns"])
}

resource "google_firestore_field" "expire_at" {
  for_each = local.ttl_collections

  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = each.value
  field      = "expireAt"

  ttl_config {}

  # A TTL timestamp is never queried; indexing a monotonically increasing field only adds hotspots.
  index_config {}
}

# Values read with their document and never filtered on; indexed, each of their keys or elements would
# be an index entry, and a large one would pass the 40,000 a document may have:
# - chunks.errors: a chunk result keeps up to thousands of per-row errors;
# - files.plan: the chunk plan (a map holding up to 5,000 chunk specs);
# - schemas.mapping: a tenant's schema mapping (shared/store.py create_schema), up to 256 KiB of the
#   tenant's keys and values (a timezone_lookup alone may hold 10,000 zones), read whole by version;
# - screens.fields, versions.fields: a screen as registered (a 7 x 24 impression schedule among it),
#   read whole; the listing filters on copies of venueType, market, country and active beside it;
# - bookings.fields (and its versions, the same `versions` collection group): a booking, up to 5,000
#   target screen ids, read whole; the listing and the checks filter on campaignId and active beside it.
locals {
  unindexed_fields = {
    booking_fields = { collection = "bookings", field = "fields" }
    chunk_errors   = { collection = "chunks", field = "errors" }
    file_plan      = { collection = "files", field = "plan" }
    schema_mapping = { collection = "schemas", field = "mapping" }
    screen_fields  = { collection = "screens", field = "fields" }
    version_fields = { collection = "versions", field = "fields" }
    # Webhooks: an endpoint's signing secrets are never queried (and an index would copy them); a
    # delivery's body (up to ~20 KB) and its attempts are read with the delivery only.
    webhook_secrets   = { collection = "webhooks", field = "secrets" }
    delivery_body     = { collection = "webhookDeliveries", field = "body" }
    delivery_attempts = { collection = "webhookDeliveries", field = "attempts" }
  }
}

resource "google_firestore_field" "unindexed" {
  for_each   = local.unindexed_fields
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = each.value.collection
  field      = each.value.field

  index_config {}
}

moved {
  from = google_firestore_field.chunk_errors_unindexed
  to   = google_firestore_field.unindexed["chunk_errors"]
}

moved {
  from = google_firestore_field.file_plan_unindexed
  to   = google_firestore_field.unindexed["file_plan"]
}

# The sweeper's query for screen versions not yet in BigQuery (shared/storage/firestore.py,
# screen_versions_to_export: exportPending == true over every tenant's versions, in document order) is
# a collection-group query, which the automatic indexes (collection scope only) do not serve: it needs
# this collection-group single-field index. The field exists only while a version awaits its export,
# so the index stays small. Listing an index here replaces the field's automatic ones, which no query
# uses.
resource "google_firestore_field" "versions_export_pending" {
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "versions"
  field      = "exportPending"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# The webhook tick's query for deliveries whose retry is due (shared/storage/notify.py, due_deliveries:
# nextAttemptAt <= now over every endpoint's webhookDeliveries, ordered by it) is a collection-group
# range query: it needs this collection-group single-field index. The field is set only while a
# delivery is pending, so the index holds only the deliveries still to be attempted.
resource "google_firestore_field" "deliveries_next_attempt" {
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "webhookDeliveries"
  field      = "nextAttemptAt"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# The queries in shared/store.py (schemas by tenantId, unfinished jobs by status for the sweep, a
# job's chunks summed by aggregation, a job's chunks with errors in document order, a tenant's screens
# by equality on tenantId, venueType, market, country and active in document order, merged from
# single-field indexes; a screen's versions in document order) are served by
# Firestore's automatic single-field indexes. A query that filters on one field and orders by
# another would need a google_firestore_index here.

# A tenant's jobs newest first (GET .../bulk/jobs, the console's Jobs page; shared/storage/job_listing.py):
# equality on tenantId (and status when the list is filtered), ordered by createdAt then document name,
# both descending. Each needs a composite index.
locals {
  job_list_indexes = {
    all       = ["tenantId"]
    by_status = ["tenantId", "status"]
  }
}

resource "google_firestore_index" "jobs_newest_first" {
  for_each = local.job_list_indexes

  project     = var.project_id
  database    = google_firestore_database.main.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }

  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }

  fields {
    field_path = "__name__"
    order      = "DESCENDING"
  }
}

# A report schedule's runs, newest first (shared/storage/report_schedules.py, list_runs: tenantId ==
# and scheduleId ==, ordered by document name descending). The tick's queries (schedules by
# nextRunAt <= now, runs by retryAt <= now, each ordered by that same field) and a tenant's
# schedules in document order are served by the automatic single-field indexes.
resource "google_firestore_index" "report_runs_newest_first" {
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "reportRuns"

  fields {
    field_path = "tenantId"
    order      = "ASCENDING"
  }

  fields {
    field_path = "scheduleId"
    order      = "ASCENDING"
  }

  fields {
    field_path = "__name__"
    order      = "DESCENDING"
  }
}
