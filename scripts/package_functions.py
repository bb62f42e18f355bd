"""Build one deployable zip per Cloud Function: its main.py + the shared/ package + requirements.txt.

    python scripts/package_functions.py [--out build/functions] [--root .]

Used by Cloud Build (step "package") and read by Terraform (infra/bundle.tf reads the manifest).
Each zip is deterministic (sorted entries, fixed timestamps and permissions), so the same code always
gives the same bytes; its name carries the SHA-256 of those bytes. Terraform names the source object
after that hash, so a function redeploys only when its bundle really changed.

The bundle's requirements.txt is the repository's requirements.lock: every package the functions need,
pinned with hashes, the same versions the tests ran against (the lock is solved inside
requirements-dev.lock). Cloud Functions' build installs exactly that, and a changed transitive pin
changes the bundle hash, so the function redeploys. The repository's requirements.txt only names the
direct dependencies that `make lock` resolves.

Writes <out>/<function>-<sha256[:16]>.zip for every functions/<name>/main.py and <out>/manifest.json:
    {"functions": {"<name>": {"file": "<zip name>", "sha256": "<hex>"}}}
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: `functions` is the repo's package
from functions import function_names as _function_names  # noqa: E402

# 1980-01-01 is the earliest time a zip entry can hold; any fixed value works, this one is conventional.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
# What a function's build installs, shipped as the bundle's requirements.txt (see the docstring).
REQUIREMENTS = "requirements.lock"


def function_names(root: Path) -> list[str]:
    """The functions of the repository at `root` (a copy in the tests)."""
    return _function_names(root / "functions")


def _files_under(base: Path) -> list[Path]:
    return sorted(
        p
        for p in base.rglob("*")
        if p.is_file()
        and not SKIPPED_PARTS.intersection(p.relative_to(base).parts)
        and p.suffix not in SKIPPED_SUFFIXES
    )


def bundle_entries(root: Path, name: str) -> dict[str, Path]:
    """Archive name -> source file. The function's own directory lands at the root of the zip."""
    function_dir = root / "functions" / name
    entries = {p.relative_to(function_dir).as_posix(): p for p in _files_under(function_dir)}
    for p in _files_under(root / "shared"):
        entries["shared/" + p.relative_to(root / "shared").as_posix()] = p
    entries["requirements.txt"] = root / REQUIREMENTS
    if "main.py" not in entries:
        raise SystemExit(f"functions/{name} has no main.py")
    return entries


def build_zip(entries: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below are honoured everywhere
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[arcname].read_bytes(), compresslevel=9)
    return buffer.getvalue()


def package(root: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, str]] = {}
    for name in function_names(root):
        data = build_zip(bundle_entries(root, name))
        digest = hashlib.sha256(data).hexdigest()
        file_name = f"{name}-{digest[:16]}.zip"
        for stale in out.glob(f"{name}-*.zip"):
            # function names may prefix one another ("job" / "job_status"): only remove exact hash names
            if stale.name != file_name and len(stale.stem) == len(name) + 17:
                stale.unlink()
        (out / file_name).write_bytes(data)
        manifest[name] = {"file": file_name, "sha256": digest}
    if not manifest:
        raise SystemExit(f"no functions/<name>/main.py under {root}")
    document = {"functions": manifest}
    (out / "manifest.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default: <root>/build/functions)"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    out = (args.out or root / "build" / "functions").resolve()
    document = package(root, out)
    for name, bundle in document["functions"].items():
        print(f"{name:12} {out / bundle['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
