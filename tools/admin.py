"""Administer Coatro: API keys, OAuth2 clients and tenant schema versions.

  python -m tools.admin create-key TENANT [--label TEXT]   prints the new key once
  python -m tools.admin revoke-key KEY_OR_SHA256
  python -m tools.admin create-client TENANT --scopes pop:write reports:read [--label TEXT]
                                                           prints the client id and secret once
  python -m tools.admin revoke-client CLIENT_ID
  python -m tools.admin register-schema TENANT MAPPING.json   a bulk schemaVersion (see docs/schemas.md)
  python -m tools.admin list-schemas TENANT

Reads the same settings as the functions: GOOGLE_CLOUD_PROJECT, and FIRESTORE_EMULATOR_HOST locally.
Tenants register and preview their own versions with their key through the API (the same registry):
PUT /coatro/v1/pop/dynamic/schemas/{version}, or `coatro schema register`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from pydantic import ValidationError

from shared.auth import api_keys, oauth_clients
from shared.auth.callers import SCOPES
from shared.bulk import schema_registry
from shared.bulk.schemas import load_mapping, mapping_problems
from shared.storage import firestore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="coatro-admin", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="create an API key for a tenant and print it once")
    create.add_argument("tenant")
    create.add_argument("--label", default="")
    revoke = commands.add_parser("revoke-key", help="revoke a key, given the key or its SHA-256 hash")
    revoke.add_argument("key")
    client = commands.add_parser(
        "create-client", help="create an OAuth2 client (client credentials) and print its secret once"
    )
    client.add_argument("tenant")
    client.add_argument("--scopes", nargs="+", required=True, choices=SCOPES, help="what its tokens may do")
    client.add_argument("--label", default="")
    revoke_client = commands.add_parser(
        "revoke-client", help="revoke an OAuth2 client (its tokens expire within 2 h)"
    )
    revoke_client.add_argument("client_id")
    register = commands.add_parser(
        "register-schema", help="register a tenant's schema version from a JSON mapping"
    )
    register.add_argument("tenant")
    register.add_argument("mapping", type=Path)
    listing = commands.add_parser("list-schemas", help="schema versions a tenant can ingest with")
    listing.add_argument("tenant")
    args = parser.parse_args(argv)

    if args.command == "register-schema":
        try:
            data = json.loads(args.mapping.read_text())
            # kept exactly as written, or refused: what the schemas API checks (docs/schemas.md, "What is stored")
            found = firestore.unstorable(data, "") if isinstance(data, dict) else None
            if found:
                raise ValueError(f"{found[0] or 'the mapping'} {found[1]}")
            mapping = load_mapping(data)
            if found := schema_registry.unstorable(args.tenant, mapping):
                raise ValueError(f"{found[0] or 'the mapping'} {found[1]}")
        except (OSError, ValueError, RecursionError) as exc:
            problems = (
                mapping_problems(exc)
                if isinstance(exc, ValidationError)
                else [str(exc) or type(exc).__name__]
            )
            print("invalid mapping:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        if not schema_registry.register(args.tenant, mapping):
            print(
                f"schema version {mapping.version} already exists for {args.tenant} (versions are immutable)",
                file=sys.stderr,
            )
            return 1
        print(f"registered schema version {mapping.version} for tenant {args.tenant}", file=sys.stderr)
        return 0
    if args.command == "list-schemas":
        print("\n".join(schema_registry.available(args.tenant)))
        return 0

    if args.command in ("create-key", "create-client") and not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", args.tenant
    ):
        parser.error("tenant ids are 1-64 letters, digits, '.', '_' or '-'")
    if args.command == "create-client":
        client_id, secret = oauth_clients.create_client(args.tenant, args.scopes, label=args.label)
        print(f"client_id={client_id}")
        print(f"client_secret={secret}")
        print(
            f"OAuth2 client for tenant {args.tenant}, scopes {' '.join(sorted(set(args.scopes)))}; "
            "the secret is not stored and will not be shown again",
            file=sys.stderr,
        )
        return 0
    if args.command == "revoke-client":
        if not oauth_clients.revoke_client(args.client_id):
            print("no such client", file=sys.stderr)
            return 1
        print(
            f"revoked client {args.client_id}; tokens it already holds expire within their lifetime (2 h)",
            file=sys.stderr,
        )
        return 0
    if args.command == "create-key":
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", args.tenant):
            parser.error("tenant ids are 1-64 letters, digits, '.', '_' or '-'")
        key = api_keys.create_key(args.tenant, label=args.label)
        print(key)
        print(
            f"key for tenant {args.tenant} (hash {api_keys.key_hash(key)}); it is not stored and will not be shown again",
            file=sys.stderr,
        )
        return 0
    digest = args.key if re.fullmatch(r"[0-9a-f]{64}", args.key) else api_keys.key_hash(args.key)
    if not api_keys.revoke_key_hash(digest):
        print("no such key", file=sys.stderr)
        return 1
    print(f"revoked key {digest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
