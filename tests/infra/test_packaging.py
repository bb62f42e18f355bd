"""scripts/package_functions.py: one deterministic zip per function, named by its content hash."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT, function_dirs

spec = importlib.util.spec_from_file_location("package_functions", ROOT / "scripts" / "package_functions.py")
package_functions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(package_functions)


@pytest.fixture
def repo(tmp_path) -> Path:
    """A copy of what the bundles are made of, to change without touching the checkout."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "functions", copy / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "shared", copy / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "requirements.lock", copy / "requirements.lock")
    return copy


def test_every_function_gets_a_bundle_with_main_shared_and_the_locked_requirements(repo, tmp_path):
    manifest = package_functions.package(repo, tmp_path / "out")["functions"]
    assert set(manifest) == function_dirs(repo) == function_dirs()
    for name, bundle in manifest.items():
        data = (tmp_path / "out" / bundle["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == bundle["sha256"]
        assert bundle["file"] == f"{name}-{bundle['sha256'][:16]}.zip"
        with zipfile.ZipFile(tmp_path / "out" / bundle["file"]) as archive:
            names = archive.namelist()
            assert names == sorted(names)
            assert archive.read("main.py") == (repo / "functions" / name / "main.py").read_bytes()
            # the lock (every package pinned, with hashes) is what the function's build installs
            assert archive.read("requirements.txt") == (repo / "requirements.lock").read_bytes()
            assert "shared/__init__.py" in names and "shared/platform/settings.py" in names
            assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
            assert {i.date_time for i in archive.infolist()} == {package_functions.FIXED_TIME}
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == {"functions": manifest}


def test_bundles_are_byte_identical_across_builds_and_file_times(repo, tmp_path):
    first = package_functions.package(repo, tmp_path / "a")
    for path in repo.rglob("*.py"):
        path.touch()  # a fresh checkout has other mtimes; the bundle must not care
    second = package_functions.package(repo, tmp_path / "b")
    assert first == second


def test_only_the_changed_functions_get_a_new_hash(repo, tmp_path):
    before = package_functions.package(repo, tmp_path / "out")["functions"]
    main = repo / "functions" / "events" / "main.py"
    main.write_text(main.read_text() + "\n# changed\n")
    after = package_functions.package(repo, tmp_path / "out")["functions"]
    assert after["events"]["sha256"] != before["events"]["sha256"]
    assert {n: b for n, b in after.items() if n != "events"} == {
        n: b for n, b in before.items() if n != "events"
    }
    # the stale zip is gone, so the output directory holds exactly what the manifest names
    assert sorted(p.name for p in (tmp_path / "out").glob("*.zip")) == sorted(
        b["file"] for b in after.values()
    )

    lock = repo / "requirements.lock"
    lock.write_text(lock.read_text() + "\n")
    lock_changed = package_functions.package(repo, tmp_path / "out")["functions"]
    assert all(lock_changed[n]["sha256"] != after[n]["sha256"] for n in after)
    after = lock_changed

    settings = repo / "shared" / "platform" / "settings.py"
    settings.write_text(settings.read_text() + "\n")
    shared_changed = package_functions.package(repo, tmp_path / "out")["functions"]
    assert all(shared_changed[n]["sha256"] != after[n]["sha256"] for n in after)


def test_terraform_reads_the_manifest_the_script_writes(infra):
    """bundle.tf names objects by the manifest's hash and refuses a zip that does not match it."""
    bundle = infra.resources["google_storage_bucket_object"]["bundle"]
    assert "local.bundles[each.key].sha256" in bundle["name"]
    assert "local.bundles[each.key].file" in bundle["source"]
    assert "jsondecode(file(var.bundle_manifest)).functions" in infra.locals["bundles"]
    assert infra.variables["bundle_manifest"]["default"] == "../build/functions/manifest.json"
    conditions = " ".join(p["condition"] for p in bundle["lifecycle"][0]["precondition"])
    assert "filesha256(" in conditions and "contains(keys(local.bundles), each.key)" in conditions
