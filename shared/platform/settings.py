"""The one settings object. Every environment variable the code reads is declared here."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, PositiveFloat, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.platform import origins

# The most chunks one file's plan holds (about 90 bytes each, so a plan stays well inside its
# Firestore document); shared.bulk.pipeline.splitter.MAX_PLAN_CHUNKS is the same number.
MAX_PLAN_CHUNKS = 5_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COATRO_", extra="ignore")

    project_id: str = Field(
        "coatro-local",
        validation_alias="GOOGLE_CLOUD_PROJECT",
        description="Google Cloud project that holds the topics, bucket and database.",
    )
    service_name: str = Field(
        "coatro",
        validation_alias=AliasChoices("K_SERVICE", "FUNCTION_TARGET"),
        description="The function's name in logs and Error Reporting (set by Cloud Run / functions-framework).",
    )
    events_topic: str = Field("pop-events", description="Topic every accepted event is published to.")
    chunks_topic: str = Field("pop-chunks", description="Topic of bulk chunk work items.")
    sweeps_topic: str = Field(
        "pop-sweeps", description="Topic of the periodic sweep that restarts stuck jobs."
    )
    rollups_topic: str = Field(
        "pop-rollups", description="Topic of the scheduled tick that brings the hourly rollups up to date."
    )
    webhook_events_topic: str = Field(
        "pop-webhook-events",
        description="Topic of webhook events (shared.records.notify.WebhookEvent) that shared.notify delivers.",
    )
    webhook_ticks_topic: str = Field(
        "pop-webhook-ticks",
        description="Topic of the scheduled tick (every minute) that retries webhook deliveries whose time has come.",
    )
    uploads_bucket: str = Field("coatro-uploads", description="Bucket that receives bulk uploads.")
    # Scheduled report drops (shared/reports/drops.py, docs/report-drops.md).
    drops_bucket: str = Field(
        "coatro-drops",
        description="Bucket of scheduled report drops: <tenantId>/<scheduleId>/<run instant>.<format>.",
    )
    report_ticks_topic: str = Field(
        "pop-report-ticks",
        description="Topic of the scheduled tick that makes report_drops run the report schedules due.",
    )
    report_drop_attempts: int = Field(
        3, ge=1, le=10, description="Attempts of one scheduled run before it is recorded as failed."
    )
    report_drop_max_rows: int = Field(
        200_000, ge=1, description="A drop holding more rows than this fails (the report is too large)."
    )
    report_drop_url_seconds: int = Field(
        3600, ge=60, le=604800, description="Lifetime of a drop's signed download URL (V4: at most 7 days)."
    )
    report_drop_retention_days: int = Field(
        90,
        ge=1,
        description="Run records expire (Firestore TTL) after this; the bucket's lifecycle deletes files alike.",
    )
    report_tick_budget_seconds: float = Field(
        300.0,
        gt=0,
        description="A tick starts no new run after this long; the runs still due wait for the next tick.",
    )
    max_report_schedules: int = Field(100, ge=1, description="Report schedules one tenant may hold.")
    bigquery_dataset: str = Field("coatro_pop", description="BigQuery dataset of the events table.")
    events_table: str = Field(
        "events_raw", description="Table the pop-events BigQuery subscription writes (duplicates included)."
    )
    screens_table: str = Field(
        "screens", description="The screen registry's versions, mirrored for reports (one row per version)."
    )
    # Raw play export (shared/reports/plays.py, shared/reports/exports.py; docs/plays-export.md).
    exports_bucket: str = Field(
        "coatro-exports",
        description="Bucket of play exports: exports/<tenant>/<exportId>/ (lifecycle-expired).",
    )
    exports_topic: str = Field(
        "pop-exports", description="Topic of export work items (the exporter function)."
    )
    cursor_secret: str | None = Field(
        None,
        description="HMAC-SHA256 key of the plays cursor (and export ids); generated at deploy time, never committed. "
        "Without it the plays endpoints answer 503.",
    )
    export_part_rows: int = Field(
        1_000_000,
        ge=1,
        description="Plays per file of an export: a part is written, then recorded, then the next.",
    )
    export_time_budget_seconds: float = Field(
        420.0,
        gt=0,
        description="An exporter call stops after the part that crosses this and hands the rest to a new message "
        "(below its 540 s timeout).",
    )
    export_deadline_seconds: float = Field(
        6 * 3600.0, gt=0, description="An export not finished this long after it was requested is failed."
    )
    export_retention_days: int = Field(
        7,
        ge=1,
        description="An export's record expires (Firestore TTL) this long after it was requested, as its files "
        "do (the exports bucket's lifecycle rule, var.export_retention_days).",
    )
    export_url_seconds: int = Field(
        3600,
        ge=60,
        le=604800,
        description="Lifetime of an export's signed download URLs (V4: at most 7 days).",
    )
    rollups_table: str = Field(
        "rollups",
        description="Hourly rollups of the deduplicated events (shared/reports/rollups.py), kept by `rollups`.",
    )
    dedup_horizon_days: int = Field(
        7,
        ge=1,
        le=366,
        description="A copy of an event counts as a duplicate of an earlier delivery of the same "
        "(tenantId, eventId) whose playedAt is less than this many days from its own (docs/reports.md).",
    )
    event_retention_days: int = Field(
        0,
        ge=0,
        description="Days the events table keeps a partition (Terraform var.event_retention_days; 0: forever). "
        "Rollups never re-roll hours older than this for a screen change: their raw events may be gone.",
    )
    rollup_lag_seconds: int = Field(
        600,
        ge=0,
        description="Rollups count the events published up to this long ago, leaving time for rows in "
        "flight between Pub/Sub and the table.",
    )
    bigquery_emulator_host: str | None = Field(
        None,
        validation_alias="BIGQUERY_EMULATOR_HOST",
        description="Local stack only: the BigQuery emulator's address (http://host:port).",
    )
    public_base_url: str | None = Field(
        None,
        description="Where callers reach the API (https://api.example.com), for the links in reports; "
        "by default the address the caller used, as the gateway forwards it.",
    )
    report_max_bytes_billed: int | None = Field(
        None,
        ge=1,
        description="A report query that would bill more bytes than this fails instead (cloud cost cap).",
    )

    api_key_cache_seconds: float = Field(
        60.0, ge=0, description="How long a key lookup is cached; a revoked key works at most this long."
    )
    max_events_per_request: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Request body limit, after gunzip.")
    publish_timeout_seconds: float = Field(30.0, gt=0)
    firestore_timeout_seconds: float = Field(
        20.0,
        gt=0,
        description="How long one Firestore read or write may take, retries included, before a 503.",
    )
    retry_after_seconds: int = Field(5, ge=1, description="Retry-After sent with a 503.")
    tenant_requests_per_second: float = Field(
        100.0,
        ge=0,
        description="Requests per second one tenant may make of one function instance (0: no limit); "
        "over it, 429 with Retry-After. Per instance: see shared/auth/tenant_limits.py.",
    )
    tenant_request_burst: int = Field(
        200, ge=1, description="Requests a tenant may make at once before its rate applies."
    )

    # Bulk ingestion.
    chunk_rows: int = Field(5_000, ge=1, description="Rows per chunk work item.")
    # Why 4 MiB. A mapping's `records` path can make one line (or JSON element) many records, each as
    # small as `{},` or `0,`, so only bytes bound what a chunk holds. A chunk ends with the record that
    # takes it to chunk_bytes: it spans less than chunk_bytes + max_row_bytes (5 MiB) and holds at
    # most 5 MiB / 2 bytes = 2.6M records (1.75M of `{},`). Measured worker CPU per record (framing,
    # mapping, the event's encoding or the row error; not publishing): 13-16 us for `{}` (an event),
    # 3-5 us for `0` (a row error), 11-14 us for a 270-byte canonical row. So the worst chunk costs
    # ~30 s of CPU, ~65 s even at 25 us a record with publishing, on the worker's one vCPU: far inside
    # its 540 s timeout (8 MiB would be ~120 s). Ordinary rows are cut by chunk_rows first: 5,000 rows
    # of 270 bytes are 1.3 MB, and rows up to 800 bytes keep chunks of 5,000.
    chunk_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1,
        description="A chunk also ends once its rows span this many bytes, so one worker call stays short "
        "however many records a mapping finds in a row (an envelope's records may be 2-3 bytes each). "
        "A plan holds at most 5,000 chunks, so the default is raised to max_file_bytes / 5,000 when that is "
        "larger (files over 20 GiB), and a value set below it is refused.",
    )
    max_file_bytes: int = Field(5 * 1024**3, ge=1, description="Largest file a job accepts.")
    max_row_bytes: int = Field(
        1024 * 1024, ge=1, description="Largest single row; longer rows are row errors."
    )
    max_stored_errors: int = Field(
        10_000, ge=0, description="Per-row errors kept per job; counts stay exact."
    )
    retention_days: int = Field(
        30, ge=1, description="File and job records expire (Firestore TTL) after this."
    )
    max_metadata_bytes: int = Field(16 * 1024, ge=0)
    max_mapping_bytes: int = Field(
        256 * 1024,
        ge=1,
        description="Largest schema mapping a tenant may register (JSON bytes; stored in one document).",
    )
    max_preview_sample_bytes: int = Field(
        1024 * 1024, ge=1, description="Largest sample a schema preview maps."
    )
    stale_claim_seconds: float = Field(
        120.0, gt=0, description="A fan-out claimed this long ago and not done is retaken (its claimer died)."
    )
    replan_after_seconds: float = Field(
        900.0,
        ge=0,
        description="A queued job whose file is still not planned after this is re-planned by the sweep.",
    )
    sweep_batch: int = Field(
        500, ge=1, description="Unfinished jobs one sweep reads at a time (it pages through all of them)."
    )
    sweep_interval_seconds: float = Field(
        60.0,
        gt=0,
        description="Local stack only: how often it publishes a sweep (Cloud Scheduler does in the cloud).",
    )
    signing_service_account: str | None = Field(
        None,
        description="Account that signs upload URLs (IAM signBlob) or access tokens (IAM signJwt) as itself (cloud).",
    )
    signing_key_file: str | None = Field(
        None,
        description="Local stack only: a private key generated at start-up to sign upload URLs and access tokens.",
    )
    token_issuer: str | None = Field(
        None,
        description="`iss` of the OAuth2 access tokens; default: the signing account's email (API Gateway's x-google-issuer).",
    )
    token_audience: str = Field(
        "coatro-pop-api",
        min_length=1,
        description="`aud` of the access tokens (API Gateway's x-google-audiences).",
    )
    token_lifetime_seconds: int = Field(
        7200, ge=60, le=43200, description="Access token lifetime; IAM signJwt accepts at most 12 hours."
    )
    # Token endpoint throttling (shared/auth/throttle.py): per client id, in Firestore.
    token_failure_limit: int = Field(
        10,
        ge=1,
        description="Failed client authentications in a row (each within the window of the last) before a client id is held off.",
    )
    token_failure_window_seconds: float = Field(
        900.0,
        gt=0,
        description="A failure this long after the previous one (and after any backoff) starts the count again.",
    )
    token_backoff_seconds: float = Field(
        1.0,
        gt=0,
        description="The first hold-off (429) after the limit; it doubles with each further failure.",
    )
    token_backoff_max_seconds: float = Field(
        300.0,
        gt=0,
        description="The longest hold-off: no client id is ever held off longer than this after its last failure.",
    )
    # Webhooks (shared/notify, docs/webhooks.md).
    webhooks_allow_loopback: bool = Field(
        False,
        description="Local stack and tests only: webhook URLs may be http:// on a loopback address. "
        "Off, every loopback, private, link-local or metadata address is refused.",
    )
    webhook_retry_delays_seconds: list[PositiveFloat] = Field(
        [5, 300, 1800, 7200, 18000, 36000, 50400],
        min_length=1,
        max_length=20,
        description="Delay before each retry of a failed webhook delivery (Standard Webhooks' example "
        "schedule, to 31.6 hours); once they are used up the delivery is dead-lettered (failed).",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=30, description="How long one webhook POST may take (connect, send, answer)."
    )
    webhook_secret_overlap_seconds: int = Field(
        86_400, ge=0, description="After a secret rotation, the old secret also signs for this long."
    )
    webhook_tick_batch: int = Field(
        200, ge=1, description="Due webhook deliveries one tick attempts (the rest wait for the next tick)."
    )
    storage_public_url: str | None = Field(
        None, description="Local stack only: the storage emulator's address as callers reach it."
    )

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        return origins.base_url(value)  # a wrong one fails at start, not as broken links

    @model_validator(mode="after")
    def _plan_fits(self) -> Settings:
        # Every chunk but the last spans chunk_bytes or holds chunk_rows_for(size) rows of at least
        # 2 bytes (pipeline.splitter.chunk_rows_for), so the largest file is cut into at most MAX_PLAN_CHUNKS
        # chunks only if chunk_bytes x MAX_PLAN_CHUNKS >= max_file_bytes. Files over 20 GiB (4 MiB x
        # 5,000) therefore raise the default, as chunk_rows_for raises chunk_rows; a chunk_bytes set
        # too small for max_file_bytes is refused.
        least = -(-self.max_file_bytes // MAX_PLAN_CHUNKS)
        if self.chunk_bytes < least:
            if "chunk_bytes" in self.model_fields_set:
                raise ValueError(
                    f"chunk_bytes ({self.chunk_bytes}) x {MAX_PLAN_CHUNKS} chunks must be at least max_file_bytes "
                    f"({self.max_file_bytes}): a plan holds at most {MAX_PLAN_CHUNKS} chunks"
                )
            self.chunk_bytes = least
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
