# Function source bundles are built by scripts/package_functions.py (Cloud Build step "package", or
# `make package`), which writes one zip per function, named by its SHA-256, and a manifest. Terraform
# uploads each zip under its hash: unchanged code keeps the same object and the function is left
# alone; changed code gets a new object and only that function is redeployed.
locals {
  bundle_dir = dirname(var.bundle_manifest)
  bundles    = jsondecode(file(var.bundle_manifest)).functions
}

resource "google_storage_bucket_object" "bundle" {
  for_each = local.functions

  bucket       = google_storage_bucket.sources.name
  name         = "functions/${each.key}/${try(local.bundles[each.key].sha256, "missing")}.zip"
  source       = "${local.bundle_dir}/${try(local.bundles[each.key].file, "missing")}"
  content_type = "application/zip"

  lifecycle {
    precondition {
      condition     = contains(keys(local.bundles), each.key)
      error_message = "No bundle for function ${each.key}: run scripts/package_functions.py (functions/${each.key}/main.py must exist)."
    }
    precondition {
      # A manifest left over from an older build would deploy code under the wrong hash.
      condition     = try(filesha256("${local.bundle_dir}/${local.bundles[each.key].file}") == local.bundles[each.key].sha256, false)
      error_message = "The bundle of ${each.key} does not match the manifest: run scripts/package_functions.py again."
    }
  }
}
