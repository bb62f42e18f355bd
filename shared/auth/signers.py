"""Who signs access tokens: RS256 JWTs, signed as a service account.

In the cloud, `IamSigner` calls IAM Credentials `signJwt` as the token function's own service account
(no key file; https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/signJwt):
Google holds the key, rotates it, and publishes the public keys at
https://www.googleapis.com/service_accounts/v1/jwk/<account email>, the JWKS API Gateway checks against.

Locally there is no IAM, so `LocalKeySigner` is a small stand-in with the same contract: given the claims,
it returns a JWT whose header is `{"alg": "RS256", "kid": ..., "typ": "JWT"}`, as signJwt's is, signed
with the key the local stack generates at start-up (`COATRO_SIGNING_KEY_FILE`, a service-account JSON
file, never committed). `local/jwks_server.py` publishes its public key the way googleapis.com does.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from shared.platform.settings import get_settings

IAM_CREDENTIALS = "https://iamcredentials.googleapis.com/v1"


class Signer(Protocol):
    email: str

    def sign_jwt(self, claims: dict[str, Any]) -> str: ...


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class IamSigner:
    """IAM Credentials signJwt as `email`; the caller needs iam.serviceAccounts.signJwt on that account."""

    def __init__(self, email: str):
        self.email = email

    def sign_jwt(self, claims: dict[str, Any]) -> str:
        import google.auth
        import requests
        from google.api_core import exceptions
        from google.auth.transport.requests import AuthorizedSession

        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        try:
            response = AuthorizedSession(credentials).post(
                f"{IAM_CREDENTIALS}/projects/-/serviceAccounts/{self.email}:signJwt",
                json={"payload": json.dumps(claims)},
                timeout=get_settings().firestore_timeout_seconds,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise exceptions.ServiceUnavailable(f"IAM signJwt unreachable: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            # Transient: the HTTP layer answers 503 with Retry-After (shared.platform.http.serve).
            raise exceptions.ServiceUnavailable(f"IAM signJwt answered {response.status_code}")
        response.raise_for_status()  # 403 (a missing grant) is a bug worth a 500 and a logged traceback
        return response.json()["signedJwt"]


class LocalKeySigner:
    """Local stand-in for IAM signJwt: the same header and signature, with a key generated at start-up."""

    def __init__(self, key_file: str | Path):
        from cryptography.hazmat.primitives import serialization

        info = json.loads(Path(key_file).read_text())
        self.email = info["client_email"]
        self.key_id = info["private_key_id"]
        self._key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)

    def sign_jwt(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"alg": "RS256", "kid": self.key_id, "typ": "JWT"}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS (RFC 7517), as googleapis.com serves a service account's keys."""
        numbers = self._key.public_key().public_numbers()

        def as_b64(n: int) -> str:
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.key_id,
                    "n": as_b64(numbers.n),
                    "e": as_b64(numbers.e),
                }
            ]
        }


@lru_cache
def _local(path: str) -> LocalKeySigner:
    return LocalKeySigner(path)


def signer() -> Signer:
    settings = get_settings()
    if settings.signing_key_file:
        return _local(settings.signing_key_file)
    if not settings.signing_service_account:
        raise RuntimeError(
            "COATRO_SIGNING_SERVICE_ACCOUNT (cloud) or COATRO_SIGNING_KEY_FILE (local) must be set"
        )
    return IamSigner(settings.signing_service_account)


def jwks_uri(email: str) -> str:
    """Where Google publishes a service account's public keys (what x-google-jwks_uri names)."""
    return f"https://www.googleapis.com/service_accounts/v1/jwk/{email}"
