"""V4 signed GET URLs for objects the service wrote (play exports): bound to one object and an expiry.

Signed as `shared/bulk/signing.py` signs upload URLs: in the cloud as the function's own service
account through IAM signBlob (no key file), locally with the stack's generated throwaway key. (Kept
apart from that module: domains do not import each other, and this one serves reports.)
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

from shared.platform import clients
from shared.platform.settings import get_settings


@lru_cache
def _local_credentials(path: str) -> Any:
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_file(path)


def signed_get_url(bucket: str, object_name: str, expires_in: int, download_name: str | None = None) -> str:
    settings = get_settings()
    blob = clients.storage().bucket(bucket).blob(object_name)
    options: dict[str, Any] = dict(version="v4", method="GET", expiration=timedelta(seconds=expires_in))
    if download_name:
        options["response_disposition"] = f'attachment; filename="{download_name}"'
    if settings.storage_public_url:
        options["api_access_endpoint"] = settings.storage_public_url
    if settings.signing_key_file:
        url: str = blob.generate_signed_url(
            credentials=_local_credentials(settings.signing_key_file), **options
        )
        return url
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
