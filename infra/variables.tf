variable "bundle_manifest" {
  description = "Path of the manifest written by scripts/package_functions.py (function bundles named by content hash)."
  type        = string
  default     = "../build/functions/manifest.json"

  validation {
    condition     = endswith(var.bundle_manifest, "manifest.json")
    error_message = "bundle_manifest must point at the manifest.json written by scripts/package_functions.py."
  }
}

variable "chunk_rows" {
  description = "Rows per bulk chunk work item (COATRO_CHUNK_ROWS). Smaller chunks retry cheaper; larger ones mean fewer messages."
  type        = number
  default     = 5000

  validation {
    condition     = var.chunk_rows >= 100 && var.chunk_rows <= 100000 && floor(var.chunk_rows) == var.chunk_rows
    error_message = "chunk_rows must be a whole number between 100 and 100000."
  }
}

variable "dedup_horizon_days" {
  description = "A copy of an event is a duplicate of an earlier delivery of the same (tenantId, eventId) whose playedAt is less than this many days from its own (COATRO_DEDUP_HORIZON_DAYS; docs/reports.md). Reports and rollups read this many days of event ids around what they count."
  type        = number
  default     = 7

  validation {
    condition     = var.dedup_horizon_days >= 1 && var.dedup_horizon_days <= 366 && floor(var.dedup_horizon_days) == var.dedup_horizon_days
    error_message = "dedup_horizon_days must be a whole number from 1 to 366."
  }
}

variable "deletion_protection" {
  description = "Protect the Firestore database and the BigQuery table from `terraform destroy`. Turn off only for throwaway projects."
  type        = bool
  default     = true
}

variable "drop_retention_days" {
  description = "Days a scheduled report drop (a file in the drops bucket) and its run record are kept before they are deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.drop_retention_days >= 1 && var.drop_retention_days <= 3650 && floor(var.drop_retention_days) == var.drop_retention_days
    error_message = "drop_retention_days must be a whole number between 1 and 3650."
  }
}

variable "event_retention_days" {
  description = "Days a partition of the BigQuery events table is kept (by playedAt); 0 keeps events forever."
  type        = number
  default     = 0

  validation {
    condition     = var.event_retention_days >= 0 && floor(var.event_retention_days) == var.event_retention_days
    error_message = "event_retention_days must be a whole number, 0 or more."
  }
}

variable "export_retention_days" {
  type        = number
  description = "Days a play export's files stay in the exports bucket before lifecycle deletes them."
  default     = 7

  validation {
    condition     = var.export_retention_days >= 1
    error_message = "export_retention_days must be at least 1."
  }
}

variable "firestore_location" {
  description = "Firestore location (a region such as europe-west1 or a multi-region such as eur3). Cannot change after creation."
  type        = string
  default     = "eur3"

  validation {
    condition     = can(regex("^(nam5|eur3|[a-z]+-[a-z]+[0-9]+)$", var.firestore_location))
    error_message = "firestore_location must be a region (e.g. europe-west1) or nam5 / eur3."
  }
}

variable "max_file_bytes" {
  description = "Largest bulk file a job accepts (COATRO_MAX_FILE_BYTES)."
  type        = number
  default     = 5368709120

  validation {
    condition     = var.max_file_bytes >= 1024 && var.max_file_bytes <= 5497558138880
    error_message = "max_file_bytes must be between 1 KiB and 5 TiB (the largest Cloud Storage object)."
  }
}

variable "max_instances" {
  description = "Upper bound on instances per function: caps cost and protects Firestore and Pub/Sub quotas from a burst."
  type        = number
  default     = 50

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number between 1 and 1000."
  }
}

variable "min_instances" {
  description = "Instances kept warm for each HTTP function (0 = scale to zero; 1 removes most cold starts for callers)."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && var.min_instances <= 10 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number between 0 and 10."
  }
}

variable "name_prefix" {
  description = "Prefix of every named resource that must be unique (buckets, service accounts, functions, gateway)."
  type        = string
  default     = "coatro"

  validation {
    # service account ids are at most 30 characters: prefix + "-" + the longest suffix ("-dead-letter") must fit in 30.
    condition     = can(regex("^[a-z][a-z0-9-]{1,13}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-15 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "project_id" {
  description = "Google Cloud project to deploy into."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "record_retention_days" {
  description = "Days file and job records are kept in Firestore before TTL deletes them (COATRO_RETENTION_DAYS)."
  type        = number
  default     = 30

  validation {
    condition     = var.record_retention_days >= 1 && var.record_retention_days <= 3650 && floor(var.record_retention_days) == var.record_retention_days
    error_message = "record_retention_days must be a whole number between 1 and 3650."
  }
}

variable "region" {
  description = "Region of the functions, the uploads bucket, the Eventarc trigger and the API gateway (API Gateway supports only some regions)."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "report_tick_schedule" {
  description = "When Cloud Scheduler wakes report_drops, which runs the report schedules due (unix-cron, UTC). A drop is written up to one interval after its scheduled time."
  type        = string
  default     = "*/5 * * * *"

  validation {
    condition     = can(regex("^[0-9*/,-]+( [0-9A-Za-z*/,-]+){4}$", var.report_tick_schedule))
    error_message = "report_tick_schedule must be a unix-cron expression of five space-separated fields, e.g. \"*/5 * * * *\"."
  }
}

variable "rollup_lag_seconds" {
  description = "Rollups count the events published at least this long ago, leaving time for rows in flight between Pub/Sub and the events table (COATRO_ROLLUP_LAG_SECONDS)."
  type        = number
  default     = 600

  validation {
    condition     = var.rollup_lag_seconds >= 0 && floor(var.rollup_lag_seconds) == var.rollup_lag_seconds
    error_message = "rollup_lag_seconds must be a whole number, 0 or more."
  }
}

variable "rollup_schedule" {
  description = "When Cloud Scheduler wakes the rollups function, which re-rolls the hours that received events since its watermark (unix-cron, UTC). Late data in a closed hour reaches reports within one interval plus rollup_lag_seconds."
  type        = string
  default     = "*/15 * * * *"

  validation {
    condition     = can(regex("^[0-9*/,-]+( [0-9A-Za-z*/,-]+){4}$", var.rollup_schedule))
    error_message = "rollup_schedule must be a unix-cron expression of five space-separated fields, e.g. \"*/15 * * * *\"."
  }
}

variable "sweep_schedule" {
  description = "When Cloud Scheduler wakes the sweeper, which finishes bulk jobs left stuck (unix-cron, UTC). A stuck job waits up to one interval."
  type        = string
  default     = "* * * * *"

  validation {
    # Five unix-cron fields: minute hour day-of-month month day-of-week (numbers, *, ranges, steps,
    # lists, or names such as MON and JAN).
    condition     = can(regex("^[0-9*/,-]+( [0-9A-Za-z*/,-]+){4}$", var.sweep_schedule))
    error_message = "sweep_schedule must be a unix-cron expression of five space-separated fields, e.g. \"* * * * *\" (every minute) or \"*/5 * * * *\"."
  }
}

variable "token_audience" {
  description = "The `aud` of OAuth2 access tokens (COATRO_TOKEN_AUDIENCE), which API Gateway requires (x-google-audiences)."
  type        = string
  default     = "coatro-pop-api"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9:/._-]{0,199}$", var.token_audience))
    error_message = "token_audience must be 1-200 letters, digits or : / . _ -, with no comma (API Gateway reads a list)."
  }
}

variable "upload_cors_origins" {
  description = "Origins allowed to PUT files to signed upload URLs from a browser: the web console's, i.e. the gateway_url output (https://<gateway host>) or the custom domain in front of it. Empty: no browser uploads."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for origin in var.upload_cors_origins : can(regex("^https://[a-z0-9.-]+(:[0-9]+)?$", origin))])
    error_message = "upload_cors_origins holds https origins (https://host[:port]) only: no wildcard, no path."
  }
}

variable "upload_retention_days" {
  description = "Days an uploaded bulk file is kept before the bucket deletes it (jobs must finish well within this)."
  type        = number
  default     = 7

  validation {
    condition     = var.upload_retention_days >= 1 && var.upload_retention_days <= 365 && floor(var.upload_retention_days) == var.upload_retention_days
    error_message = "upload_retention_days must be a whole number between 1 and 365."
  }
}
