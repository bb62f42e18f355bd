"""Where the client's URL and credentials come from.

Precedence, highest first: command-line flags, the environment (`COATRO_URL`, `COATRO_API_KEY`,
`COATRO_CLIENT_ID`, `COATRO_CLIENT_SECRET`), the config file (`$COATRO_CONFIG`, else
`~/.config/coatro/config.toml`; keys `url`, `api_key`, `client_id`, `client_secret`), then the
default URL. There is no default credential.

Two kinds of credential: an API key, or OAuth2 client credentials (a client id and secret, exchanged
for a 2-hour access token that the client fetches and renews itself). When both are configured the
API key is used.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://localhost:8080"
FILE_KEYS = ("url", "api_key", "client_id", "client_secret")


class ConfigError(Exception):
    """The configuration cannot be used (unreadable file, no API key)."""


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str | None
    url_source: str
    api_key_source: str | None
    config_path: Path
    client_id: str | None = None
    client_secret: str | None = None
    client_source: str | None = None

    @property
    def uses_client_credentials(self) -> bool:
        return not self.api_key and bool(self.client_id and self.client_secret)

    def require_credentials(self) -> None:
        if self.api_key or self.uses_client_credentials:
            return
        if self.client_id or self.client_secret:
            missing = (
                "COATRO_CLIENT_SECRET / client_secret" if self.client_id else "COATRO_CLIENT_ID / client_id"
            )
            raise ConfigError(
                f"OAuth2 client credentials need both an id and a secret; {missing} is not set."
            )
        raise ConfigError(
            'no API key (nor OAuth2 client credentials). Pass --api-key, set COATRO_API_KEY, or add api_key = "..." to '
            f"{self.config_path}; or use OAuth2 client credentials: COATRO_CLIENT_ID and COATRO_CLIENT_SECRET "
            "(or client_id / client_secret in that file).\n"
            "For the local stack (make dev) the key is printed at start-up (default: your-api-key), and so is "
            "its OAuth2 client (your-client-id / your-client-secret); make key TENANT=<name> creates another key."
        )

    def require_api_key(self) -> str:
        self.require_credentials()
        return self.api_key or ""


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("COATRO_CONFIG"):
        return Path(env["COATRO_CONFIG"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "coatro" / "config.toml"


def read_config_file(path: Path) -> dict[str, str]:
    """The file's known keys; a missing file is an empty config, a broken one an error."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}") from None
    out = {}
    for key in FILE_KEYS:
        if key in data:
            if not isinstance(data[key], str):
                raise ConfigError(f"{path}: {key} must be a string")
            out[key] = data[key]
    return out


def resolve(
    url: str | None = None, api_key: str | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """The effective configuration for the given flag values (None = flag not given)."""
    env = os.environ if env is None else env
    path = config_path(env)
    from_file = read_config_file(path)

    def pick(flag: str | None, env_name: str, file_key: str) -> tuple[str | None, str | None]:
        if flag:
            return flag, "flag"
        if env.get(env_name):
            return env[env_name], f"environment ({env_name})"
        if from_file.get(file_key):
            return from_file[file_key], f"config file ({path})"
        return None, None

    chosen_url, url_source = pick(url, "COATRO_URL", "url")
    chosen_key, key_source = pick(api_key, "COATRO_API_KEY", "api_key")
    client_id, id_source = pick(None, "COATRO_CLIENT_ID", "client_id")
    client_secret, secret_source = pick(None, "COATRO_CLIENT_SECRET", "client_secret")
    return Config(
        url=(chosen_url or DEFAULT_URL).rstrip("/"),
        api_key=chosen_key,
        url_source=url_source or "default",
        api_key_source=key_source,
        config_path=path,
        client_id=client_id,
        client_secret=client_secret,
        client_source=id_source
        if id_source == secret_source
        else ", ".join(filter(None, (id_source, secret_source))) or None,
    )
