locals {
  runtime = "python311"

  # Every Cloud Function, keyed by its functions/<name> directory, which is also its entry point.
  # trigger: http (behind API Gateway), storage (Eventarc, uploads bucket finalize) or push (a Pub/Sub
  # push subscription in pubsub.tf). tests/infra checks this against the directories and resources.
  functions = {
    dead_letter = { trigger = "push", description = "Records the rows of a chunk that kept failing as failed, so its job ends." }
    events      = { trigger = "http", description = "POST /coatro/v1/pop/events: validates a batch and publishes it to pop-events." }
    ingest      = { trigger = "http", description = "POST /coatro/v1/pop/dynamic/bulk/ingest: creates (or returns) the job for an uploaded file." }
    job_status  = { trigger = "http", description = "GET /coatro/v1/pop/dynamic/bulk/jobs/{jobId}[/errors]: status, counters, per-row errors." }
    splitter    = { trigger = "storage", description = "Streams an uploaded file once and cuts it into chunks." }
    upload_url  = { trigger = "http", description = "POST /coatro/v1/pop/dynamic/bulk/upload-url: creates the file record and a V4 signed PUT URL." }
    worker      = { trigger = "push", description = "Maps, validates and publishes one chunk of a bulk file." }
  }

  # What every function reads through shared/settings.py.
  function_env = {
    GOOGLE_CLOUD_PROJECT  = var.project_id
    COATRO_EVENTS_TOPIC   = google_pubsub_topic.events.name
    COATRO_CHUNKS_TOPIC   = google_pubsub_topic.chunks.name
    COATRO_UPLOADS_BUCKET = google_storage_bucket.uploads.name
    COATRO_CHUNK_ROWS     = tostring(var.chunk_rows)
    COATRO_MAX_FILE_BYTES = tostring(var.max_file_bytes)
    COATRO_RETENTION_DAYS = tostring(var.record_retention_days)
    LOG_EXECUTION_ID      = "true" # ties every log line to its request in Cloud Logging
  }

  # Cloud Run services behind the functions and their URLs, for IAM (iam.tf), subscriptions and the gateway.
  function_services = {
    dead_letter = google_cloudfunctions2_function.dead_letter.service_config[0].service
    events      = google_cloudfunctions2_function.events.service_config[0].service
    ingest      = google_cloudfunctions2_function.ingest.service_config[0].service
    job_status  = google_cloudfunctions2_function.job_status.service_config[0].service
    splitter    = google_cloudfunctions2_function.splitter.service_config[0].service
    upload_url  = google_cloudfunctions2_function.upload_url.service_config[0].service
    worker      = google_cloudfunctions2_function.worker.service_config[0].service
  }
}

# ---- HTTP functions. Reachable from the internet only as far as IAM lets them: the one invoker is
# the API Gateway's account (iam.tf), so every call goes through the gateway.

resource "google_cloudfunctions2_function" "events" {
  name        = "${var.name_prefix}-events"
  location    = var.region
  project     = var.project_id
  description = local.functions.events.description

  build_config {
    runtime           = local.runtime
    entry_point       = "events"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["events"].name
      }
    }
  }

  service_config {
    # checkov:skip=CKV_GCP_124: API Gateway calls from outside Google's internal network, so ingress must allow all; only the gateway's account may invoke (iam.tf).
    service_account_email            = google_service_account.function["events"].email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    available_memory                 = "1Gi" # 10 MiB bodies (after gunzip) x concurrent requests
    available_cpu                    = "1"
    max_instance_request_concurrency = 20
    timeout_seconds                  = 60
    min_instance_count               = var.min_instances
    max_instance_count               = var.max_instances
    environment_variables            = local.function_env
  }

  depends_on = [google_project_service.enabled]
}

resource "google_cloudfunctions2_function" "upload_url" {
  name        = "${var.name_prefix}-upload-url"
  location    = var.region
  project     = var.project_id
  description = local.functions.upload_url.description

  build_config {
    runtime           = local.runtime
    entry_point       = "upload_url"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["upload_url"].name
      }
    }
  }

  service_config {
    # checkov:skip=CKV_GCP_124: API Gateway calls from outside Google's internal network, so ingress must allow all; only the gateway's account may invoke (iam.tf).
    service_account_email            = google_service_account.function["upload_url"].email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    available_memory                 = "512Mi"
    available_cpu                    = "1"
    max_instance_request_concurrency = 40
    timeout_seconds                  = 60
    min_instance_count               = var.min_instances
    max_instance_count               = var.max_instances
    environment_variables = merge(local.function_env, {
      # Upload URLs are signed through IAM signBlob as the function's own account (no key files).
      COATRO_SIGNING_SERVICE_ACCOUNT = google_service_account.function["upload_url"].email
    })
  }

  depends_on = [google_project_service.enabled]
}

resource "google_cloudfunctions2_function" "ingest" {
  name        = "${var.name_prefix}-ingest"
  location    = var.region
  project     = var.project_id
  description = local.functions.ingest.description

  build_config {
    runtime           = local.runtime
    entry_point       = "ingest"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["ingest"].name
      }
    }
  }

  service_config {
    # checkov:skip=CKV_GCP_124: API Gateway calls from outside Google's internal network, so ingress must allow all; only the gateway's account may invoke (iam.tf).
    service_account_email            = google_service_account.function["ingest"].email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    available_memory                 = "512Mi"
    available_cpu                    = "1"
    max_instance_request_concurrency = 40
    timeout_seconds                  = 60
    min_instance_count               = var.min_instances
    max_instance_count               = var.max_instances
    environment_variables            = local.function_env
  }

  depends_on = [google_project_service.enabled]
}

resource "google_cloudfunctions2_function" "job_status" {
  name        = "${var.name_prefix}-job-status"
  location    = var.region
  project     = var.project_id
  description = local.functions.job_status.description

  build_config {
    runtime           = local.runtime
    entry_point       = "job_status"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["job_status"].name
      }
    }
  }

  service_config {
    # checkov:skip=CKV_GCP_124: API Gateway calls from outside Google's internal network, so ingress must allow all; only the gateway's account may invoke (iam.tf).
    service_account_email            = google_service_account.function["job_status"].email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    available_memory                 = "512Mi"
    available_cpu                    = "1"
    max_instance_request_concurrency = 40
    timeout_seconds                  = 60
    min_instance_count               = var.min_instances
    max_instance_count               = var.max_instances
    environment_variables            = local.function_env
  }

  depends_on = [google_project_service.enabled]
}

# ---- Event-driven functions: internal ingress only (Eventarc and Pub/Sub push from this project
# count as internal), invokable only by their trigger's account. Both retry: `splitter` through the
# trigger's retry policy, `worker` and `dead_letter` through their subscription's redelivery with
# backoff and a dead-letter topic (pubsub.tf).

resource "google_cloudfunctions2_function" "splitter" {
  name        = "${var.name_prefix}-splitter"
  location    = var.region
  project     = var.project_id
  description = local.functions.splitter.description

  build_config {
    runtime           = local.runtime
    entry_point       = "splitter"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["splitter"].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function["splitter"].email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    available_memory                 = "1Gi"
    available_cpu                    = "1"
    max_instance_request_concurrency = 1 # one file streamed at a time per instance
    timeout_seconds                  = 540
    max_instance_count               = var.max_instances
    environment_variables            = local.function_env
  }

  event_trigger {
    trigger_region        = var.region # the bucket's region
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.splitter_trigger.email
    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.uploads.name
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.gcs_agent_publishes,
    google_project_iam_member.splitter_trigger_receives_events,
  ]
}

resource "google_cloudfunctions2_function" "worker" {
  name        = "${var.name_prefix}-worker"
  location    = var.region
  project     = var.project_id
  description = local.functions.worker.description

  build_config {
    runtime           = local.runtime
    entry_point       = "worker"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["worker"].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function["worker"].email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    available_memory                 = "1Gi"
    available_cpu                    = "1"
    max_instance_request_concurrency = 1   # a chunk is CPU-bound mapping and validation
    timeout_seconds                  = 540 # below the subscription's 600 s ack deadline
    max_instance_count               = var.max_instances
    environment_variables            = local.function_env
  }

  depends_on = [google_project_service.enabled]
}

resource "google_cloudfunctions2_function" "dead_letter" {
  name        = "${var.name_prefix}-dead-letter"
  location    = var.region
  project     = var.project_id
  description = local.functions.dead_letter.description

  build_config {
    runtime           = local.runtime
    entry_point       = "dead_letter"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["dead_letter"].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function["dead_letter"].email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    available_memory                 = "512Mi"
    available_cpu                    = "1"
    max_instance_request_concurrency = 10
    timeout_seconds                  = 240 # below the subscription's 300 s ack deadline
    max_instance_count               = 10
    environment_variables            = local.function_env
  }

  depends_on = [google_project_service.enabled]
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
