"""The drops bucket (setting `drops_bucket`): the files scheduled report runs write, and V4 signed
URLs to download them (docs/report-drops.md).

Object names are the server's: `<tenantId>/<scheduleId>/<runId>.<format>`, one per run and format,
created once (`if_generation_match=0`): a retried run finds the file an earlier attempt wrote
complete (an object exists only whole) and keeps it, so the runner needs to create objects and read
their metadata, never to overwrite or delete them. The bucket's lifecycle rule deletes them.

Signing: in the cloud as the function's own service account through IAM signBlob (no key file); the
local stack signs with the throwaway key it generates (`signing_key_file`), as upload URLs are
(shared/bulk/signing.py); the storage emulator does not check signatures.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import IO, Any, NamedTuple

from shared.platform import clients
from shared.platform.settings import get_settings

ROWS_METADATA = "rows"


class StoredFile(NamedTuple):
    bytes: int
    rows: int


def object_name(tenant_id: str, schedule_id: str, run_id: str, fmt: str) -> str:
    return f"{tenant_id}/{schedule_id}/{run_id}.{fmt}"


def _blob(name: str) -> Any:
    return clients.storage().bucket(get_settings().drops_bucket).blob(name)


def existing(name: str) -> StoredFile | None:
    """The file if an earlier attempt wrote it, else None."""
    blob = clients.storage().bucket(get_settings().drops_bucket).get_blob(name)
    if blob is None:
        return None
    return StoredFile(int(blob.size or 0), int((blob.metadata or {}).get(ROWS_METADATA, 0)))


def create(name: str, data: IO[bytes], content_type: str, rows: int) -> StoredFile:
    """Write a file from the start of `data`, only if no such object exists yet."""
    blob = _blob(name)
    blob.metadata = {ROWS_METADATA: str(rows)}
    data.seek(0, 2)
    size = data.tell()
    data.seek(0)
    blob.upload_from_file(data, size=size, content_type=content_type, if_generation_match=0)
    return StoredFile(size, rows)


@lru_cache
def _local_credentials(path: str) -> Any:
    """The local stack's generated signing key (a service-account key file); never used in the cloud."""
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_file(path)


def signed_get_url(name: str, expires_in: int) -> str:
    """A V4 signed GET URL of one object, valid `expires_in` seconds."""
    settings = get_settings()
    options: dict[str, Any] = dict(version="v4", method="GET", expiration=timedelta(seconds=expires_in))
    if settings.storage_public_url:
        options["api_access_endpoint"] = settings.storage_public_url
    blob = _blob(name)
    if settings.signing_key_file:
        local: str = blob.generate_signed_url(
            credentials=_local_credentials(settings.signing_key_file), **options
        )
        return local
    import google.auth
    from google.auth.transport.requests import Request

    credentials: Any
    credentials, _ = google.auth.default()
    credentials.refresh(Request())
    signed: str = blob.generate_signed_url(
        service_account_email=settings.signing_service_account or credentials.service_account_email,
        access_token=credentials.token,
        **options,
    )
    return signed
