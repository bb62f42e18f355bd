"""V4 signed PUT URLs for uploads: bound to one object, its content type and an expiry.

In the cloud the function signs as its own service account through IAM signBlob (no key file);
the local stack generates a throwaway key at start-up (`COATRO_SIGNING_KEY_FILE`).
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

from shared.platform import clients
from shared.platform.settings import get_settings


@lru_cache
def _local_credentials(path: str) -> Any:
    """The local stack's generated signing key (a service-account key file); never used in the cloud."""
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_file(path)


def signed_put_url(object_name: str, content_type: str, expires_in: int) -> str:
    settings = get_settings()
    blob = clients.storage().bucket(settings.uploads_bucket).blob(object_name)
    options = dict(
        version="v4", method="PUT", expiration=timedelta(seconds=expires_in), content_type=content_type
    )
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
