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

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from shared.platform.settings import get_settings

IAM_CREDENTIALS = "https://iamcredentials.googleapis.com/v1"


class Signer(Protocol):
    email: str

    def sign_jwt(self, claims: dict[str, Any]) -> str: ...


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
        signed = response.json().get("signedJwt")
        if not isinstance(signed, str):
            raise RuntimeError("IAM signJwt answered without a signedJwt")
        return signed


class LocalKeySigner:
    """Local stand-in for IAM signJwt: the same header and signature, with a key generated at start-up.
    PyJWT signs (it is a requirement of the local stack, not of the functions: the cloud signs with IAM)."""

    def __init__(self, key_file: str | Path):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

        info = json.loads(Path(key_file).read_text())
        self.email: str = info["client_email"]
        self.key_id: str = info["private_key_id"]
        key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError(f"{key_file}: the signing key must be an RSA key")
        self._key = key

    def sign_jwt(self, claims: dict[str, Any]) -> str:
        import jwt

        # PyJWT's header is signJwt's: {"alg": "RS256", "kid": ..., "typ": "JWT"}.
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS (RFC 7517), as googleapis.com serves a service account's keys."""
        from jwt.algorithms import RSAAlgorithm

        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.pop("key_ops", None)  # googleapis.com says "use" instead (RFC 7517 §4.3: not both)
        return {"keys": [{**jwk, "alg": "RS256", "use": "sig", "kid": self.key_id}]}


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
