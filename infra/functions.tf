locals {
  runtime = "python311"

  # Every Cloud Function, keyed by its functions/<name> directory, which is also its entry point and
  # (with "-" for "_") the suffix of its name and runtime account. tests/infra checks this map against
  # the directories, the design's triggers and the resources it drives.
  #
  # trigger: http (behind API Gateway), storage (Eventarc, uploads bucket finalize) or push (a Pub/Sub
  # push subscription in pubsub.tf).
  # ingress: HTTP functions allow all, because API Gateway calls from outside Google's internal
  # network; they are still reachable only as far as IAM lets them, and the one invoker is the
  # gateway's account (iam.tf). Event-driven functions take internal traffic only (Eventarc and
  # Pub/Sub push from this project count as internal) and are invokable only by their trigger's
  # account. Both kinds retry: `splitter` through its trigger's retry policy, `worker` and
  # `dead_letter` through their subscription's redelivery with backoff and a dead-letter topic,
  # `sweeper` through its subscription's backoff and, past that, the next scheduled tick.
  # memory, concurrency (requests per instance), timeout (seconds): sized per function.
  # min_instances: only HTTP functions keep warm instances; max_instances: var.max_instances unless set.
  # event_trigger: the Eventarc trigger, for storage functions only.
  functions = {
    console = {
      trigger       = "http"
      description   = "GET /console/ and its files: the web console (static, same origin as the API; docs/console.md)."
      ingress       = "ALLOW_ALL"
      memory        = "256Mi"
      concurrency   = 80 # a request copies a file already in memory
      timeout       = 30
      min_instances = var.min_instances
    }
    bookings = {
      trigger       = "http"
      description   = "/coatro/v1/pop/bookings[/{bookingId}[/history]]: a tenant's bookings (what was sold) with type-2 history."
      ingress       = "ALLOW_ALL"
      memory        = "512Mi"
      concurrency   = 40 # a request is one Firestore read or transaction
      timeout       = 60
      min_instances = var.min_instances
    }
    dead_letter = {
      trigger       = "push"
      description   = "Records the rows of a chunk that kept failing as failed, so its job ends."
      ingress       = "ALLOW_INTERNAL_ONLY"
      memory        = "512Mi"
      concurrency   = 10
      timeout       = 240 # below the subscription's 300 s ack deadline
      max_instances = 10
    }
    events = {
      trigger       = "http"
      description   = "POST /coatro/v1/pop/events: validates a batch and publishes it to pop-events."
      ingress       = "ALLOW_ALL"
      memory        = "1Gi" # 10 MiB bodies (after gunzip) x concurrent requests
      concurrency   = 20
      timeout       = 60
      min_instances = var.min_instances
    }
    exporter = {
      trigger       = "push"
      description   = "Writes a play export's next parts (gzipped NDJSON or CSV) from BigQuery to the exports bucket, one pop-exports message per call."
      ingress       = "ALLOW_INTERNAL_ONLY"
      memory        = "1Gi" # one results page (10,000 plays) and one 8 MiB upload chunk at a time
      concurrency   = 1     # a call streams one export
      timeout       = 540   # below the subscription's 600 s ack deadline; a call stops after ~420 s (export_time_budget_seconds)
      max_instances = 10
    }
    ingest = {
      trigger       = "http"
      description   = "POST /coatro/v1/pop/{dynamic/bulk,bulk}/ingest: creates (or returns) the job for an uploaded file."
      ingress       = "ALLOW_ALL"
      memory        = "512Mi"
      concurrency   = 40
      timeout       = 60
      min_instances = var.min_instances
    }
    job_status = {
      trigger       = "http"
      description   = "GET /coatro/v1/pop/{dynamic/bulk,bulk}/jobs/{jobId}[/errors]: status, counters, per-row errors."
      ingress       = "ALLOW_ALL"
      memory        = "512Mi"
      concurrency   = 40
      timeout       = 60
      min_instances = var.min_instances
    }
    schemas = {
      trigger       = "http"
      description   = "/coatro/v1/pop/dynamic/schemas[/{version}[/preview]]: tenants register, list, read and preview schema mappings."
      ingress       = "ALLOW_ALL"
      memory        = "1Gi" # a preview of 1 MiB of tiny rows holds ~500k events: ~200 MB at worst
      concurrency   = 4
      timeout       = 60
      min_instances = var.min_instances
    }
    report_drops = {
      trigger       = "push" # ticks from Cloud Scheduler through pop-report-ticks (pubsub.tf)
      description   = "On each scheduled tick, runs the report schedules due and writes their files to the drops bucket, retrying a failed run on later ticks."
      ingress       = "ALLOW_INTERNAL_ONLY"
      memory        = "1Gi" # a run's files spool to /tmp (memory) past 8 MiB; at most report_drop_max_rows rows
      concurrency   = 1
      timeout       = 540 # below the subscription's 600 s ack deadline; a tick starts no run after 300 s
      max_instances = 1   # one tick at a time: overlapping ticks would only race for the same runs
    }
    report_schedules = {
      trigger       = "http"
      description   = "/coatro/v1/pop/report-schedules[/{scheduleId}[/files|/runs]]: a tenant's scheduled report drops and signed URLs to their files."
      ingress       = "ALLOW_ALL"
      memory        = "256Mi"
      concurrency   = 40
      timeout       = 60
      min_instances = var.min_instances
    }
    reports = {
      trigger       = "http"
      description   = "GET /coatro/v1/pop/reports/{delivery,performance,plays}, POST /coatro/v1/pop/exports/plays, GET /coatro/v1/pop/exports/{exportId}: reports, delivery against bookings, raw plays by cursor, play exports."
      ingress       = "ALLOW_ALL"
      memory        = "512Mi"
      concurrency   = 40 # each request waits on one BigQuery query
      timeout       = 60
      min_instances = var.min_instances
    }
    rollups = {
      trigger       = "push" # ticks from Cloud Scheduler through pop-rollups (pubsub.tf)
      description   = "On each scheduled tick, re-rolls the hourly rollups of every hour that received events (or whose screen changed) since its watermark."
      ingress       = "ALLOW_INTERNAL_ONLY"
      memory        = "512Mi" # waits on BigQuery; holds only the list of dirty hours
      concurrency   = 1
      timeout       = 540 # below the subscription's 600 s ack deadline
      max_instances = 1   # one roll at a time: the watermark moves from the value a roll started from
    }
    screens = {
      trigger       = "http"
      description   = "/coatro/v1/pop/screens[/{screenId}[/history]] and /screens/import: a tenant's screen registry with type-2 history."
      ingress       = "ALLOW_ALL"
      memory        = "1Gi" # an import holds its body (up to 32 MiB) and the screens being written
      concurrency   = 40    # a request is a few Firestore reads and one transaction; an import, batches of them
      timeout       = 540   # an import of 100,000 screens (POST /screens/import; its gateway deadline is 540 s too)
      min_instances = var.min_instances
    }
    splitter = {
      trigger     = "storage"
      description = "Streams an uploaded file once and cuts it into chunks."
      ingress     = "ALLOW_INTERNAL_ONLY"
      memory      = "1Gi"
      concurrency = 1 # one file streamed at a time per instance
      timeout     = 540
      event_trigger = {
        event_type            = "google.cloud.storage.object.v1.finalized"
        retry_policy          = "RETRY_POLICY_RETRY"
        bucket                = google_storage_bucket.uploads.name
        service_account_email = google_service_account.splitter_trigger.email
      }
    }
    sweeper = {
      trigger       = "push" # ticks from Cloud Scheduler through pop-sweeps (pubsub.tf)
      description   = "On each scheduled tick, finishes bulk jobs stuck in queued (a lost fan-out, a file never planned) or in processing with every chunk recorded, then exports to BigQuery the screen versions not yet there; once an hour, checks the bookings in flight (underdelivery, dark screens) and publishes webhook events."
      ingress       = "ALLOW_INTERNAL_ONLY"
      memory        = "1Gi" # may re-plan an uploaded file, as splitter does
      concurrency   = 1
      timeout       = 540 # below the subscription's 600 s ack deadline
      max_instances = 1   # one sweep at a time: overlapping sweeps would only race for the same jobs
    }
    token = {
      trigger       = "http"
      description   = "POST /coatro/v1/oauth/token: OAuth2 client credentials; RS256 access tokens signed through IAM signJwt."
      ingress       = "ALLOW_ALL"
      memory        = "256Mi"
      concurrency   = 40
      timeout       = 30
      min_instances = var.min_instances
    }
    upload_url = {
      trigger       = "http"
      description   = "POST /coatro/v1/pop/{dynamic/bulk,bulk}/upload-url: creates the file record and a V4 signed PUT URL."
      ingress       = "ALLOW_ALL"
      memory        = "512Mi"
      concurrency   = 40
      timeout       = 60
      min_instances = var.min_instances
    }
    webhook_retries = {
      trigger       = "push" # ticks from Cloud Scheduler through pop-webhook-ticks (pubsub.tf)
      description   = "On each scheduled tick, attempts the webhook deliveries whose retry is due (backoff over more than 24 hours, then failed)."
      ingress       = "ALLOW_INTERNAL_ONLY"
      memory        = "512Mi"
      concurrency   = 1
      timeout       = 300 # a tick's batch of 200 attempts, 10 at a time, 10 s each: 200 s at worst; below the 310 s ack deadline
      max_instances = 1   # one tick at a time; a claim (lease) keeps even overlapping ticks from sending twice
    }
    webhook_sender = {
      trigger       = "push" # pop-webhook-events (pubsub.tf)
      description   = "Fans a webhook event out to the tenant's endpoints (one delivery each, created once) and makes the first attempt, signed as Standard Webhooks says."
      ingress       = "ALLOW_INTERNAL_ONLY"
      memory        = "512Mi"
      concurrency   = 4   # each request waits on up to 20 receivers, 10 in parallel (10 s timeout each)
      timeout       = 300 # below the subscription's 310 s ack deadline
      max_instances = 20
    }
    webhooks = {
      trigger       = "http"
      description   = "/coatro/v1/pop/webhooks[/{webhookId}[/rotate-secret|/deliveries]]: a tenant's webhook endpoints and their deliveries."
      ingress       = "ALLOW_ALL"
      memory        = "256Mi"
      concurrency   = 40
      timeout       = 30
      min_instances = var.min_instances
    }
    worker = {
      trigger     = "push"
      description = "Maps, validates and publishes one chunk of a bulk file."
      ingress     = "ALLOW_INTERNAL_ONLY"
      memory      = "1Gi"
      concurrency = 1   # a chunk is CPU-bound mapping and validation
      timeout     = 540 # below the subscription's 600 s ack deadline
    }
  }

  # What every function reads through shared/platform/settings.py.
  function_env = {
    GOOGLE_CLOUD_PROJECT  = var.project_id
    COATRO_EVENTS_TOPIC   = google_pubsub_topic.events.name
    COATRO_CHUNKS_TOPIC   = google_pubsub_topic.chunks.name
    COATRO_SWEEPS_TOPIC   = google_pubsub_topic.sweeps.name
    COATRO_UPLOADS_BUCKET = google_storage_bucket.uploads.name
    COATRO_CHUNK_ROWS     = tostring(var.chunk_rows)
    COATRO_MAX_FILE_BYTES = tostring(var.max_file_bytes)
    COATRO_RETENTION_DAYS = tostring(var.record_retention_days)
    LOG_EXECUTION_ID      = "true" # ties every log line to its request in Cloud Logging

    # job.* events are published by whichever stage ends a job (worker, splitter, sweeper, ingest, dead_letter)
    COATRO_WEBHOOK_EVENTS_TOPIC = google_pubsub_topic.webhook_events.name
    COATRO_WEBHOOK_TICKS_TOPIC  = google_pubsub_topic.webhook_ticks.name
  }

  # What some functions read on top of function_env. Not in local.functions: that map is also the
  # for_each of the runtime accounts (iam.tf), so naming an account in it would be a dependency cycle.
  function_extra_env = {
    # Upload URLs are signed through IAM signBlob as the function's own account (no key files).
    upload_url = { COATRO_SIGNING_SERVICE_ACCOUNT = google_service_account.function["upload_url"].email }
    # Access tokens are signed through IAM signJwt as the function's own account, which is also their
    # issuer: API Gateway checks them against that account's public keys (api_gateway.tf).
    token = {
      COATRO_SIGNING_SERVICE_ACCOUNT = google_service_account.function["token"].email
      COATRO_TOKEN_ISSUER            = google_service_account.function["token"].email
      COATRO_TOKEN_AUDIENCE          = var.token_audience
    }
    # The tables reports read (read-only grants in iam.tf); the exports it starts and signs (exports.tf).
    reports = {
      COATRO_BIGQUERY_DATASET        = google_bigquery_dataset.pop.dataset_id
      COATRO_EVENTS_TABLE            = google_bigquery_table.events.table_id
      COATRO_SCREENS_TABLE           = google_bigquery_table.screens.table_id
      COATRO_ROLLUPS_TABLE           = google_bigquery_table.rollups.table_id
      COATRO_DEDUP_HORIZON_DAYS      = tostring(var.dedup_horizon_days) # the same as rollups': the two paths count alike
      COATRO_EXPORTS_BUCKET          = google_storage_bucket.exports.name
      COATRO_EXPORTS_TOPIC           = google_pubsub_topic.exports.name
      COATRO_SIGNING_SERVICE_ACCOUNT = google_service_account.function["reports"].email
      COATRO_EXPORT_RETENTION_DAYS   = tostring(var.export_retention_days)
    }
    # Exports write the plays endpoint's rows, deduplicated as reports count (the same horizon).
    exporter = {
      COATRO_BIGQUERY_DATASET   = google_bigquery_dataset.pop.dataset_id
      COATRO_EVENTS_TABLE       = google_bigquery_table.events.table_id
      COATRO_EXPORTS_BUCKET     = google_storage_bucket.exports.name
      COATRO_EXPORTS_TOPIC      = google_pubsub_topic.exports.name
      COATRO_DEDUP_HORIZON_DAYS = tostring(var.dedup_horizon_days)
    }
    # The hourly rollups' writer (shared/reports/rollups.py; its grants in iam.tf).
    rollups = {
      COATRO_BIGQUERY_DATASET     = google_bigquery_dataset.pop.dataset_id
      COATRO_EVENTS_TABLE         = google_bigquery_table.events.table_id
      COATRO_SCREENS_TABLE        = google_bigquery_table.screens.table_id
      COATRO_ROLLUPS_TABLE        = google_bigquery_table.rollups.table_id
      COATRO_DEDUP_HORIZON_DAYS   = tostring(var.dedup_horizon_days)
      COATRO_ROLLUP_LAG_SECONDS   = tostring(var.rollup_lag_seconds)
      COATRO_EVENT_RETENTION_DAYS = tostring(var.event_retention_days) # no re-roll of hours whose raw events expired
    }
    # The screens table's two writers (shared/screens/sync.py; their grants in iam.tf).
    screens = {
      COATRO_BIGQUERY_DATASET = google_bigquery_dataset.pop.dataset_id
      COATRO_SCREENS_TABLE    = google_bigquery_table.screens.table_id
    }
    # The sweeper also reads both tables for the hourly booking checks (shared/reports/checks.py).
    sweeper = {
      COATRO_BIGQUERY_DATASET     = google_bigquery_dataset.pop.dataset_id
      COATRO_EVENTS_TABLE         = google_bigquery_table.events.table_id
      COATRO_SCREENS_TABLE        = google_bigquery_table.screens.table_id
      COATRO_WEBHOOK_EVENTS_TOPIC = google_pubsub_topic.webhook_events.name
    }
    # Scheduled report drops: report_drops reads the report tables (as reports does), writes the drops
    # bucket and publishes report.ready; report_schedules signs download URLs as its own account.
    report_drops = {
      COATRO_BIGQUERY_DATASET           = google_bigquery_dataset.pop.dataset_id
      COATRO_EVENTS_TABLE               = google_bigquery_table.events.table_id
      COATRO_SCREENS_TABLE              = google_bigquery_table.screens.table_id
      COATRO_ROLLUPS_TABLE              = google_bigquery_table.rollups.table_id
      COATRO_DEDUP_HORIZON_DAYS         = tostring(var.dedup_horizon_days) # as reports': a drop counts as the endpoint does
      COATRO_DROPS_BUCKET               = google_storage_bucket.drops.name
      COATRO_WEBHOOK_EVENTS_TOPIC       = google_pubsub_topic.webhook_events.name
      COATRO_REPORT_DROP_RETENTION_DAYS = tostring(var.drop_retention_days)
      COATRO_REPORT_TICK_BUDGET_SECONDS = "300"
    }
    report_schedules = {
      COATRO_DROPS_BUCKET            = google_storage_bucket.drops.name
      COATRO_SIGNING_SERVICE_ACCOUNT = google_service_account.function["report_schedules"].email
    }
  }

  # Cloud Run services behind the functions, for the invoker grants (iam.tf).
  function_services = { for name, function in google_cloudfunctions2_function.function : name => function.service_config[0].service }
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  location    = var.region
  project     = var.project_id
  description = each.value.description

  build_config {
    runtime           = local.runtime
    entry_point       = each.key
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle[each.key].name
      }
    }
  }

  service_config {
    # checkov:skip=CKV_GCP_124: The HTTP functions must allow all ingress because API Gateway calls from outside Google's internal network; only the gateway's account may invoke them (iam.tf). Event-driven ones are ALLOW_INTERNAL_ONLY (local.functions, enforced by tests/infra).
    service_account_email            = google_service_account.function[each.key].email
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    available_memory                 = each.value.memory
    available_cpu                    = "1"
    max_instance_request_concurrency = each.value.concurrency
    timeout_seconds                  = each.value.timeout
    min_instance_count               = try(each.value.min_instances, null)
    max_instance_count               = try(each.value.max_instances, var.max_instances)
    environment_variables            = merge(local.function_env, lookup(local.function_extra_env, each.key, {}))

    # The plays cursor's HMAC key, for reports only (exports.tf).
    dynamic "secret_environment_variables" {
      for_each = each.key == "reports" ? [google_secret_manager_secret.cursor.secret_id] : []
      content {
        key        = "COATRO_CURSOR_SECRET"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  dynamic "event_trigger" {
    for_each = try([each.value.event_trigger], [])
    content {
      trigger_region        = var.region # the bucket's region
      event_type            = event_trigger.value.event_type
      retry_policy          = event_trigger.value.retry_policy
      service_account_email = event_trigger.value.service_account_email
      event_filters {
        attribute = "bucket"
        value     = event_trigger.value.bucket
      }
    }
  }

  # One list for every instance (depends_on cannot vary with each.key): the two grants are what
  # splitter's Eventarc trigger needs before it can be created.
  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.gcs_agent_publishes,
    google_project_iam_member.splitter_trigger_receives_events,
  ]
}

# Function images go to a repository we own (not the implicit gcf-artifacts), so the build account
# can be granted write access on it alone.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84: Google-managed encryption is the accepted baseline; images contain only our code and public dependencies.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-functions"
  description   = "Images built from the Coatro function bundles."
  format        = "DOCKER"

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}
