# The public entry point. The OpenAPI document is the one the local gateway routes by; here it is
# rendered with each HTTP function's URL. API Gateway calls the functions as its own account, the
# only principal allowed to invoke them (iam.tf).
locals {
  openapi = templatefile("${path.module}/openapi.yaml", {
    bookings_url         = google_cloudfunctions2_function.function["bookings"].service_config[0].uri
    console_url          = google_cloudfunctions2_function.function["console"].service_config[0].uri
    events_url           = google_cloudfunctions2_function.function["events"].service_config[0].uri
    ingest_url           = google_cloudfunctions2_function.function["ingest"].service_config[0].uri
    job_status_url       = google_cloudfunctions2_function.function["job_status"].service_config[0].uri
    token_url            = google_cloudfunctions2_function.function["token"].service_config[0].uri
    schemas_url          = google_cloudfunctions2_function.function["schemas"].service_config[0].uri
    reports_url          = google_cloudfunctions2_function.function["reports"].service_config[0].uri
    report_schedules_url = google_cloudfunctions2_function.function["report_schedules"].service_config[0].uri
    screens_url          = google_cloudfunctions2_function.function["screens"].service_config[0].uri
    webhooks_url         = google_cloudfunctions2_function.function["webhooks"].service_config[0].uri
    upload_url_url       = google_cloudfunctions2_function.function["upload_url"].service_config[0].uri
    # OAuth2 access tokens: issued and signed (IAM signJwt) by the token function's own account, so the
    # gateway verifies them against the public keys Google publishes for that account.
    token_issuer   = google_service_account.function["token"].email
    token_jwks_uri = "https://www.googleapis.com/service_accounts/v1/jwk/${google_service_account.function["token"].email}"
    token_audience = var.token_audience
  })
}

resource "google_api_gateway_api" "coatro" {
  provider     = google-beta
  project      = var.project_id
  api_id       = "${var.name_prefix}-api"
  display_name = "Coatro POP ingestion"

  depends_on = [google_project_service.enabled]
}

# API configs are immutable. The id follows the rendered document's hash, so any change to the spec
# or to a function URL makes a new config, and create_before_destroy switches the gateway to it
# before the old one is deleted.
resource "google_api_gateway_api_config" "coatro" {
  provider      = google-beta
  project       = var.project_id
  api           = google_api_gateway_api.coatro.api_id
  api_config_id = "${var.name_prefix}-${substr(sha256(local.openapi), 0, 12)}"
  display_name  = "Coatro ${substr(sha256(local.openapi), 0, 12)}"

  openapi_documents {
    document {
      path     = "openapi.yaml"
      contents = base64encode(local.openapi)
    }
  }

  gateway_config {
    backend_config {
      google_service_account = google_service_account.gateway.email
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_api_gateway_gateway" "coatro" {
  provider     = google-beta
  project      = var.project_id
  region       = var.region
  gateway_id   = "${var.name_prefix}-gateway"
  display_name = "Coatro POP ingestion"
  api_config   = google_api_gateway_api_config.coatro.id
}
