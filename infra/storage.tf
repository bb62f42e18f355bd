# Bulk uploads land here through V4 signed URLs; the finalize event starts `splitter`.
resource "google_storage_bucket" "uploads" {
  # checkov:skip=CKV_GCP_62: Object access is recorded by Cloud Audit Logs (data access) where needed; usage-log buckets would be a second store of tenant object names to secure.
  # checkov:skip=CKV_GCP_78: Uploads are transient job inputs read by generation; keeping old versions would defeat the retention rule below and keep tenant data longer than promised.
  name     = "${var.project_id}-${var.name_prefix}-uploads"
  project  = var.project_id
  location = var.region
  # Regional, in the functions' region: the Eventarc trigger must be in the bucket's region and reads stay local.
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age = var.upload_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    # A browser or client that gives up half way through a multipart upload leaves parts behind.
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  # Browsers PUT to signed URLs from the web console only (issue 20): its origin is the gateway's
  # (output gateway_url), or the custom domain in front of it. It cannot be read from the gateway here
  # (the gateway's config needs the functions, which need this bucket), so it is a variable; with none
  # set the bucket answers no CORS and only non-browser clients upload. The signed URL authorizes the PUT.
  dynamic "cors" {
    for_each = length(var.upload_cors_origins) > 0 ? [var.upload_cors_origins] : []
    content {
      origin          = cors.value
      method          = ["PUT"]
      response_header = ["Content-Type", "Content-MD5", "x-goog-content-length-range"]
      max_age_seconds = 3600
    }
  }

  depends_on = [google_project_service.enabled]
}

# Function source bundles, one object per content hash (see bundle.tf).
resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62: Only Terraform and the function builds touch this bucket; both are already in Cloud Audit Logs.
  # checkov:skip=CKV_GCP_78: Objects are immutable and named by content hash, so there is never an older version to keep.
  name                        = "${var.project_id}-${var.name_prefix}-sources"
  project                     = var.project_id
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  depends_on = [google_project_service.enabled]
}

# Scheduled report drops (docs/report-drops.md): report_drops writes <tenantId>/<scheduleId>/<runId>.<format>;
# tenants download them only through V4 URLs that report_schedules signs for their own files.
resource "google_storage_bucket" "drops" {
  # checkov:skip=CKV_GCP_62: Object access is recorded by Cloud Audit Logs (data access) where needed; usage-log buckets would be a second store of tenant object names to secure.
  # checkov:skip=CKV_GCP_78: A drop is written once and never replaced (created with ifGenerationMatch=0), so there is never an older version to keep; versions would outlive the retention rule below.
  name                        = "${var.project_id}-${var.name_prefix}-drops"
  project                     = var.project_id
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age = var.drop_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}
