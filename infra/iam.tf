# One service account per function, each granted only what its code does, on the resource it does
# it to. The one exception is Firestore, which has no per-collection IAM: function accounts get a
# Firestore role on the project, bound by an IAM condition to this stack's database. tests/infra
# enforces that no function account holds any other project-level role.

resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  display_name = "Coatro function ${each.key}"
  description  = "Runtime identity of the ${each.key} Cloud Function."
}

locals {
  # Firestore: viewers only look up API keys and jobs; the others write files, jobs and chunk results
  # (schemas: tenants' schema mappings; screens: tenants' screens and their versions; both touch
  # nothing but Firestore).
  firestore_roles = {
    bookings    = "roles/datastore.user"
    dead_letter = "roles/datastore.user"
    events      = "roles/datastore.viewer"
    exporter    = "roles/datastore.user" # records an export's parts and state
    ingest      = "roles/datastore.user"
    job_status  = "roles/datastore.viewer"
    schemas     = "roles/datastore.user"
    reports     = "roles/datastore.user" # creates play export records (exports.tf), reads bookings
    rollups     = "roles/datastore.user" # the watermark document (shared/storage/rollups.py)
    # report_drops claims and records runs; report_schedules writes tenants' schedules.
    report_drops     = "roles/datastore.user"
    report_schedules = "roles/datastore.user"
    screens          = "roles/datastore.user"
    splitter         = "roles/datastore.user"
    sweeper          = "roles/datastore.user"
    token            = "roles/datastore.viewer" # looks up OAuth2 clients
    upload_url       = "roles/datastore.user"
    worker           = "roles/datastore.user"
    # webhooks: tenants' endpoints (with their signing secrets); webhook_sender: deliveries and their
    # attempts, reading the endpoints' secrets to sign.
    webhooks        = "roles/datastore.user"
    webhook_sender  = "roles/datastore.user"
    webhook_retries = "roles/datastore.user"
  }

  topics = {
    chunks         = google_pubsub_topic.chunks.id
    events         = google_pubsub_topic.events.id
    webhook_events = google_pubsub_topic.webhook_events.id
  }

  # function -> topic it publishes to
  topic_publishers = {
    "events:events"   = { function = "events", topic = "events" }
    "ingest:chunks"   = { function = "ingest", topic = "chunks" }   # fan-out when the plan was ready first
    "splitter:chunks" = { function = "splitter", topic = "chunks" } # fan-out when the job existed first
    "sweeper:chunks"  = { function = "sweeper", topic = "chunks" }  # re-runs a fan-out a dead instance left half done
    "worker:events"   = { function = "worker", topic = "events" }
    # job.* webhook events, published by whichever stage ends a job (shared/bulk/pipeline/completion.py)
    "worker:webhook_events"      = { function = "worker", topic = "webhook_events" }
    "dead_letter:webhook_events" = { function = "dead_letter", topic = "webhook_events" }
    "splitter:webhook_events"    = { function = "splitter", topic = "webhook_events" }
    "ingest:webhook_events"      = { function = "ingest", topic = "webhook_events" }
    "sweeper:webhook_events"     = { function = "sweeper", topic = "webhook_events" } # events a finisher failed to publish; booking checks
    # report.ready, once a run's files are written (shared.storage.notices)
    "report_drops:webhook_events" = { function = "report_drops", topic = "webhook_events" }
  }

  # function -> role on the uploads bucket
  upload_bucket_roles = {
    # A V4 signed URL acts with the signer's permissions: the client's PUT is a create by upload_url's account.
    "upload_url" = "roles/storage.objectCreator"
    "ingest"     = "roles/storage.objectViewer" # checks that the object arrived
    "splitter"   = "roles/storage.objectViewer" # streams the file once to plan chunks
    "sweeper"    = "roles/storage.objectViewer" # re-plans a file whose planning never finished
    "worker"     = "roles/storage.objectViewer" # reads its chunk's byte range
  }

  # Who may call which function: the gateway the HTTP ones, the trigger/push accounts the others.
  invokers = {
    "gateway:bookings"         = { function = "bookings", account = "gateway" }
    "gateway:console"          = { function = "console", account = "gateway" }
    "gateway:events"           = { function = "events", account = "gateway" }
    "gateway:ingest"           = { function = "ingest", account = "gateway" }
    "gateway:job_status"       = { function = "job_status", account = "gateway" }
    "gateway:token"            = { function = "token", account = "gateway" }
    "gateway:schemas"          = { function = "schemas", account = "gateway" }
    "gateway:reports"          = { function = "reports", account = "gateway" }
    "gateway:report_schedules" = { function = "report_schedules", account = "gateway" }
    "gateway:screens"          = { function = "screens", account = "gateway" }
    "gateway:webhooks"         = { function = "webhooks", account = "gateway" }
    "gateway:upload_url"       = { function = "upload_url", account = "gateway" }
    "push:dead_letter"         = { function = "dead_letter", account = "push" }
    "push:sweeper"             = { function = "sweeper", account = "push" }
    "push:worker"              = { function = "worker", account = "push" }
    "push:webhook_sender"      = { function = "webhook_sender", account = "push" }
    "push:webhook_retries"     = { function = "webhook_retries", account = "push" }
    "push:rollups"             = { function = "rollups", account = "push" }
    "push:report_drops"        = { function = "report_drops", account = "push" }
    "eventarc:splitter"        = { function = "splitter", account = "splitter_trigger" }
  }
  invoker_accounts = {
    gateway          = google_service_account.gateway.email
    push             = google_service_account.push.email
    splitter_trigger = google_service_account.splitter_trigger.email
  }

  pubsub_agent   = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  firestore_name = "projects/${var.project_id}/databases/${google_firestore_database.main.name}"
}

resource "google_project_iam_member" "function_firestore" {
  for_each = local.firestore_roles

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.function[each.key].email}"

  condition {
    title       = "coatro-firestore-only"
    description = "Only this stack's Firestore database."
    expression  = "resource.name == \"${local.firestore_name}\""
  }
}

resource "google_pubsub_topic_iam_member" "function_publishes" {
  for_each = local.topic_publishers

  project = var.project_id
  topic   = local.topics[each.value.topic]
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_storage_bucket_iam_member" "function_uploads" {
  for_each = local.upload_bucket_roles

  bucket = google_storage_bucket.uploads.name
  role   = each.value
  member = "serviceAccount:${google_service_account.function[each.key].email}"
}

# The drops bucket: report_drops creates each file once and reads an existing one's metadata (a retried
# run keeps what an earlier attempt wrote): it never overwrites or deletes. A V4 signed URL acts with
# the signer's permissions, so report_schedules, which signs the download URLs, may read objects.
locals {
  drops_bucket_roles = {
    "report_drops:creator"    = { function = "report_drops", role = "roles/storage.objectCreator" }
    "report_drops:viewer"     = { function = "report_drops", role = "roles/storage.objectViewer" }
    "report_schedules:viewer" = { function = "report_schedules", role = "roles/storage.objectViewer" }
  }
}

resource "google_storage_bucket_iam_member" "function_drops" {
  for_each = local.drops_bucket_roles

  bucket = google_storage_bucket.drops.name
  role   = each.value.role
  member = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# report_schedules signs download URLs with signBlob as itself, on its own account only.
resource "google_service_account_iam_member" "report_schedules_signs_as_itself" {
  service_account_id = google_service_account.function["report_schedules"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function["report_schedules"].email}"
}

# upload_url signs URLs with signBlob as itself; the grant is on its own account, so it can sign as
# nothing else.
resource "google_service_account_iam_member" "upload_url_signs_as_itself" {
  service_account_id = google_service_account.function["upload_url"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function["upload_url"].email}"
}

# token signs access tokens with signJwt as itself (iam.serviceAccounts.signJwt, in this role), on its
# own account only: it can issue tokens as nothing else, and nothing else can issue them as it.
resource "google_service_account_iam_member" "token_signs_jwt_as_itself" {
  service_account_id = google_service_account.function["token"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function["token"].email}"
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.invokers

  project  = var.project_id
  location = var.region
  name     = local.function_services[each.value.function]
  role     = "roles/run.invoker"
  member   = "serviceAccount:${local.invoker_accounts[each.value.account]}"
}

# reports reads the events and screens tables and nothing else: data of this one dataset, and running
# query jobs, which BigQuery grants only on a project (a job is billed to one). jobUser holds no data
# access.
resource "google_bigquery_dataset_iam_member" "reports_reads_events" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.pop.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.function["reports"].email}"
}

# report_drops runs the same report queries for scheduled drops, with the same grants.
resource "google_bigquery_dataset_iam_member" "report_drops_reads_events" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.pop.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.function["report_drops"].email}"
}

# The sweeper's hourly booking checks run the performance report's query (shared/reports/checks.py):
# the same read grants as reports.
resource "google_bigquery_dataset_iam_member" "sweeper_reads_events" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.pop.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.function["sweeper"].email}"
}

# The screens table's writers (shared/screens/sync.py), and nobody else: insertAll needs
# bigquery.tables.updateData on the table only.
locals {
  screens_table_writers = {
    screens = "appends each new version's row after its commit"
    sweeper = "appends the rows whose write failed, every minute"
  }
}

resource "google_bigquery_table_iam_member" "writes_screens" {
  for_each = local.screens_table_writers

  project    = var.project_id
  dataset_id = google_bigquery_table.screens.dataset_id
  table_id   = google_bigquery_table.screens.table_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_project_iam_member" "reports_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.function["reports"].email}"
}

# rollups reads the events and screens tables (and the rollups table, which it writes): read grants on
# those two tables only, write on the rollups table only, and running query jobs (project-level only,
# as for reports). Its MERGE deletes and inserts rollup rows: bigquery.tables.updateData.
resource "google_bigquery_table_iam_member" "rollups_reads" {
  for_each = {
    events  = google_bigquery_table.events.table_id
    screens = google_bigquery_table.screens.table_id
  }

  project    = var.project_id
  dataset_id = google_bigquery_dataset.pop.dataset_id
  table_id   = each.value
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.function["rollups"].email}"
}

resource "google_bigquery_table_iam_member" "rollups_writes_rollups" {
  project    = var.project_id
  dataset_id = google_bigquery_table.rollups.dataset_id
  table_id   = google_bigquery_table.rollups.table_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.function["rollups"].email}"
}

resource "google_project_iam_member" "rollups_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.function["rollups"].email}"
}

resource "google_project_iam_member" "report_drops_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.function["report_drops"].email}"
}

resource "google_project_iam_member" "sweeper_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.function["sweeper"].email}"
}

# ---- Accounts that run no code: they only carry requests to the functions.

resource "google_service_account" "gateway" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-gateway"
  display_name = "Coatro API Gateway backend"
  description  = "API Gateway calls the HTTP functions as this account."
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-push"
  display_name = "Coatro Pub/Sub push"
  description  = "Identity in the OIDC tokens of the worker, dead_letter, sweeper, webhook_sender, webhook_retries, rollups and report_drops push subscriptions."
}

resource "google_service_account" "splitter_trigger" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-eventarc"
  display_name = "Coatro splitter trigger"
  description  = "Eventarc delivers upload finalize events to splitter as this account."
}

resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-builder"
  display_name = "Coatro function builds"
  description  = "Cloud Build builds the function images as this account (instead of the default compute account)."
}

# Eventarc grants exist only at project level. This account receives events and can invoke only
# splitter; it is not the function's runtime account, so splitter's code never holds this role.
resource "google_project_iam_member" "splitter_trigger_receives_events" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.splitter_trigger.email}"
}

# Cloud Storage events reach Eventarc through Pub/Sub topics the storage service agent creates and
# publishes to; Eventarc requires this project-level grant for storage triggers.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_agent_publishes" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# Build logs: there is no narrower resource to grant log writing on.
resource "google_project_iam_member" "builder_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.builder.email}"
}

resource "google_artifact_registry_repository_iam_member" "builder_pushes_images" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.builder.email}"
}

resource "google_storage_bucket_iam_member" "builder_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.builder.email}"
}

# ---- The Pub/Sub service agent: OIDC tokens for push, dead-lettering, BigQuery writes.

resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_pubsub_topic_iam_member" "pubsub_dead_letters" {
  for_each = {
    chunks_dead         = google_pubsub_topic.chunks_dead.id
    chunks_parked       = google_pubsub_topic.chunks_parked.id
    events_dead         = google_pubsub_topic.events_dead.id
    webhook_events_dead = google_pubsub_topic.webhook_events_dead.id
  }

  project = var.project_id
  topic   = each.value
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

# To forward a message to a dead-letter topic, the agent must also be able to acknowledge it on the source.
resource "google_pubsub_subscription_iam_member" "pubsub_acks_dead_letters" {
  for_each = {
    dead_letter           = google_pubsub_subscription.dead_letter.id
    events_bigquery       = google_pubsub_subscription.events_bigquery.id
    worker                = google_pubsub_subscription.worker.id
    webhook_sender_events = google_pubsub_subscription.webhook_sender_events.id
  }

  project      = var.project_id
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_bigquery_table_iam_member" "pubsub_writes_events" {
  project    = var.project_id
  dataset_id = google_bigquery_table.events.dataset_id
  table_id   = google_bigquery_table.events.table_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_agent
}

resource "google_bigquery_table_iam_member" "pubsub_reads_events_metadata" {
  project    = var.project_id
  dataset_id = google_bigquery_table.events.dataset_id
  table_id   = google_bigquery_table.events.table_id
  role       = "roles/bigquery.metadataViewer"
  member     = local.pubsub_agent
}
