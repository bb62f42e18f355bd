"""The one settings object. Every environment variable the code reads is declared here."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    sweeps_topic: str = Field("pop-sweeps", description="Topic of the periodic sweep that restarts stuck jobs.")
    uploads_bucket: str = Field("coatro-uploads", description="Bucket that receives bulk uploads.")
    bigquery_dataset: str = Field("coatro_pop", description="BigQuery dataset of the events table.")
    events_table: str = Field(
        "events_raw", description="Table the pop-events BigQuery subscription writes (duplicates included)."
    )
    bigquery_emulator_host: str | None = Field(
        None, validation_alias="BIGQUERY_EMULATOR_HOST",
        description="Local stack only: the BigQuery emulator's address (http://host:port).",
    )
    public_base_url: str | None = Field(
        None, description="Where callers reach the API (https://api.example.com), for the links in reports; "
        "by default the address the caller used, as the gateway forwards it.",
    )
    report_max_bytes_billed: int | None = Field(
        None, ge=1, description="A report query that would bill more bytes than this fails instead (cloud cost cap).",
    )

    api_key_cache_seconds: float = Field(
        60.0, ge=0, description="How long a key lookup is cached; a revoked key works at most this long."
    )
    max_events_per_request: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Request body limit, after gunzip.")
    publish_timeout_seconds: float = Field(30.0, gt=0)
    firestore_timeout_seconds: float = Field(
        20.0, gt=0, description="How long one Firestore read or write may take, retries included, before a 503."
    )
    retry_after_seconds: int = Field(5, ge=1, description="Retry-After sent with a 503.")

    # Bulk ingestion.
    chunk_rows: int = Field(5_000, ge=1, description="Rows per chunk work item.")
    max_file_bytes: int = Field(5 * 1024**3, ge=1, description="Largest file a job accepts.")
    max_row_bytes: int = Field(1024 * 1024, ge=1, description="Largest single row; longer rows are row errors.")
    max_stored_errors: int = Field(10_000, ge=0, description="Per-row errors kept per job; counts stay exact.")
    retention_days: int = Field(30, ge=1, description="File and job records expire (Firestore TTL) after this.")
    max_metadata_bytes: int = Field(16 * 1024, ge=0)
    max_mapping_bytes: int = Field(
        256 * 1024, ge=1, description="Largest schema mapping a tenant may register (JSON bytes; stored in one document)."
    )
    max_preview_sample_bytes: int = Field(1024 * 1024, ge=1, description="Largest sample a schema preview maps.")
    stale_claim_seconds: float = Field(
        120.0, gt=0, description="A fan-out claimed this long ago and not done is retaken (its claimer died)."
    )
    replan_after_seconds: float = Field(
        900.0, ge=0, description="A queued job whose file is still not planned after this is re-planned by the sweep."
    )
    sweep_batch: int = Field(500, ge=1, description="Unfinished jobs one sweep looks at.")
    sweep_interval_seconds: float = Field(
        60.0, gt=0, description="Local stack only: how often it publishes a sweep (Cloud Scheduler does in the cloud)."
    )
    signing_service_account: str | None = Field(
        None, description="Account that signs upload URLs (IAM signBlob) or access tokens (IAM signJwt) as itself (cloud)."
    )
    signing_key_file: str | None = Field(
        None, description="Local stack only: a private key generated at start-up to sign upload URLs and access tokens."
    )
    token_issuer: str | None = Field(
        None, description="`iss` of the OAuth2 access tokens; default: the signing account's email (API Gateway's x-google-issuer)."
    )
    token_audience: str = Field(
        "coatro-pop-api", min_length=1, description="`aud` of the access tokens (API Gateway's x-google-audiences)."
    )
    token_lifetime_seconds: int = Field(
        7200, ge=60, le=43200, description="Access token lifetime; IAM signJwt accepts at most 12 hours."
    )
    # Token endpoint throttling (shared/auth/throttle.py): per client id, in Firestore.
    token_failure_limit: int = Field(
        10, ge=1, description="Failed client authentications in a row (each within the window of the last) before a client id is held off."
    )
    token_failure_window_seconds: float = Field(
        900.0, gt=0, description="A failure this long after the previous one (and after any backoff) starts the count again."
    )
    token_backoff_seconds: float = Field(
        1.0, gt=0, description="The first hold-off (429) after the limit; it doubles with each further failure."
    )
    token_backoff_max_seconds: float = Field(
        300.0, gt=0, description="The longest hold-off: no client id is ever held off longer than this after its last failure."
    )
    storage_public_url: str | None = Field(
        None, description="Local stack only: the storage emulator's address as callers reach it."
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
