"""Administer Coatro: API keys and tenant schema versions.

  python -m tools.admin create-key TENANT [--label TEXT]   prints the new key once
  python -m tools.admin revoke-key KEY_OR_SHA256
  python -m tools.admin register-schema TENANT MAPPING.json   a bulk schemaVersion (see README)
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

from shared.auth import api_keys
from shared.bulk import schema_registry
from shared.bulk.schemas import load_mapping, mapping_problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="coatro-admin", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="create an API key for a tenant and print it once")
    create.add_argument("tenant")
    create.add_argument("--label", default="")
    revoke = commands.add_parser("revoke-key", help="revoke a key, given the key or its SHA-256 hash")
    revoke.add_argument("key")
    register = commands.add_parser("register-schema", help="register a tenant's schema version from a JSON mapping")
    register.add_argument("tenant")
    register.add_argument("mapping", type=Path)
    listing = commands.add_parser("list-schemas", help="schema versions a tenant can ingest with")
    listing.add_argument("tenant")
    args = parser.parse_args(argv)

    if args.command == "register-schema":
        try:
            mapping = load_mapping(json.loads(args.mapping.read_text()))
        except (OSError, ValueError) as exc:
            problems = mapping_problems(exc) if isinstance(exc, ValidationError) else [str(exc)]
            print("invalid mapping:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        if not schema_registry.register(args.tenant, mapping):
            print(f"schema version {mapping.version} already exists for {args.tenant} (versions are immutable)",
                  file=sys.stderr)
            return 1
        print(f"registered schema version {mapping.version} for tenant {args.tenant}", file=sys.stderr)
        return 0
    if args.command == "list-schemas":
        print("\n".join(schema_registry.available(args.tenant)))
        return 0

    if args.command == "create-key":
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", args.tenant):
            parser.error("tenant ids are 1-64 letters, digits, '.', '_' or '-'")
        key = api_keys.create_key(args.tenant, label=args.label)
        print(key)
        print(f"key for tenant {args.tenant} (hash {api_keys.key_hash(key)}); it is not stored and will not be shown again",
              file=sys.stderr)
        return 0
    digest = args.key if re.fullmatch(r"[0-9a-f]{64}", args.key) else api_keys.key_hash(args.key)
    if not api_keys.revoke_key_hash(digest):
        print("no such key", file=sys.stderr)
        return 1
    print(f"revoked key {digest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
