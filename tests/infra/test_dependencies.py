"""Every import is declared, and the locks pin what the requirements name.

Which file must declare an import depends on where the code runs:
- shared/ and functions/ are deployed: requirements.txt (what `make lock` resolves into
  requirements.lock, the bundle's requirements.txt);
- local/, tools/, bench/, scripts/ and tests/ run from the dev venv: requirements.txt or
  requirements-dev.txt;
- the client (client/coatro_cli) is installed on its own: client/pyproject.toml.

An import is mapped to the distribution that installed the module (importlib.metadata: the files each
installed distribution lists), so `yaml` is PyYAML and `google.cloud.firestore` is
google-cloud-firestore, namespace packages included.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

FIRST_PARTY = {"shared", "functions", "local", "tools", "bench", "tests", "scripts", "coatro_cli"}
SOURCES = {  # directory -> the requirement files that may declare its imports
    "shared": ["requirements.txt"],
    "functions": ["requirements.txt"],
    "local": ["requirements-dev.txt"],
    "tools": ["requirements-dev.txt"],
    "bench": ["requirements-dev.txt"],
    "scripts": ["requirements-dev.txt"],
    "tests": ["requirements-dev.txt"],
    "client/coatro_cli": ["client/pyproject.toml"],
}
# Deployed code may import a development-only package only where it runs only locally, named here.
LOCAL_ONLY = {
    # LocalKeySigner, the local stack's stand-in for IAM signJwt: the cloud signs through IAM.
    ("shared/auth/signers.py", "pyjwt"),
}
LOCKS = {  # lock -> the requirement files it is compiled from (Makefile, `make lock`)
    "requirements.lock": ["requirements.txt"],
    "requirements-dev.lock": ["requirements-dev.txt", "client/pyproject.toml"],
    "requirements-checkov.lock": ["requirements-checkov.txt"],
}
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:==\s*([^\s;#\\]+))?")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(relative: str) -> dict[str, str | None]:
    """name -> pinned version (None if not pinned with ==) of a requirements file, following -r."""
    path = ROOT / relative
    if path.suffix == ".toml":
        lines = tomllib.loads(path.read_text())["project"]["dependencies"]
    else:
        lines = path.read_text().splitlines()
    found: dict[str, str | None] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            found.update(requirements((path.parent / line[2:].strip()).relative_to(ROOT).as_posix()))
        elif line and not line.startswith(("-", "--hash")):
            match = REQUIREMENT.match(line)
            assert match, f"{relative}: cannot read {line!r}"
            found[normalize(match[1])] = match[2]
    return found


def lock_pins(relative: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a lock written by `uv pip compile --generate-hashes`."""
    pins: dict[str, tuple[str, int]] = {}
    name = None
    for line in (ROOT / relative).read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line):
            name = normalize(match[1])
            pins[name] = (match[2], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            pins[name] = (pins[name][0], pins[name][1] + 1)
    return pins


@cache
def module_owners() -> dict[str, frozenset[str]]:
    """Dotted module name -> the installed distributions that ship it (or a package above it)."""
    owners: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        name = normalize(dist.metadata["Name"])
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0] in ("..", "/") or ".dist-info" in parts[0] or ".data" in parts[0]:
                continue
            stem = parts[-1].split(".", 1)[0]
            if not parts[-1].endswith((".py", ".so", ".pyd")):
                continue
            dotted = [*parts[:-1]] if stem == "__init__" else [*parts[:-1], stem]
            for depth in range(1, len(dotted) + 1):
                owners.setdefault(".".join(dotted[:depth]), set()).add(name)
    return {module: frozenset(names) for module, names in owners.items()}


def imports(path: Path) -> set[str]:
    """Absolute imports of a file (lazy ones inside functions too); `from a import b` gives `a.b`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] not in FIRST_PARTY | set(sys.stdlib_module_names)}


def distributions_of(module: str) -> frozenset[str]:
    """The distributions that may provide `module`: the owners of its longest known prefix."""
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        if (found := module_owners().get(".".join(parts[:depth]))) is not None:
            return found
    return frozenset()


def undeclared(directory: str) -> list[str]:
    declared = set().union(*(requirements(r) for r in SOURCES[directory]))
    problems = []
    for path in sorted((ROOT / directory).rglob("*.py")):
        for module in sorted(imports(path)):
            owners = distributions_of(module)
            where = path.relative_to(ROOT)
            if not owners:
                problems.append(f"{where}: {module} is not installed (and not in the standard library)")
            elif not owners & declared and not any((where.as_posix(), o) in LOCAL_ONLY for o in owners):
                problems.append(
                    f"{where}: {module} comes from {' or '.join(sorted(owners))}, "
                    f"not named in {' / '.join(SOURCES[directory])}"
                )
    return problems


@pytest.mark.parametrize("directory", sorted(SOURCES))
def test_every_third_party_import_is_declared(directory):
    problems = undeclared(directory)
    assert not problems, "declare these (then `make lock`):\n" + "\n".join(problems)


def test_the_import_check_sees_namespace_packages_and_lazy_imports(tmp_path, monkeypatch):
    """The check itself: google.* maps to its own distribution, and an undeclared import is reported."""
    assert distributions_of("google.cloud.firestore_v1.base_query") == {"google-cloud-firestore"}
    assert distributions_of("google.api_core.exceptions") == {"google-api-core"}
    assert distributions_of("yaml") == {"pyyaml"}
    source = tmp_path / "probe"
    source.mkdir()
    (source / "mod.py").write_text("def f():\n    import hypothesis\n    from google.cloud import storage\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setitem(SOURCES, "probe", ["requirements.txt"])
    (tmp_path / "requirements.txt").write_text("google-cloud-storage==1\n")
    assert undeclared("probe") == [
        "probe/mod.py: hypothesis comes from hypothesis, not named in requirements.txt",
    ]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_lock_pins_what_its_requirements_name_with_hashes(lock):
    pins = lock_pins(lock)
    assert pins, f"{lock} is empty"
    stale = []
    for source in LOCKS[lock]:
        for name, version in requirements(source).items():
            if name not in pins:
                stale.append(f"{name} ({source}) is not in {lock}")
            elif version is not None and pins[name][0] != version:
                stale.append(f"{source} pins {name}=={version}, {lock} has {pins[name][0]}")
    assert not stale, "run `make lock`:\n" + "\n".join(stale)
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_functions_run_the_versions_the_tests_run():
    """requirements.lock is solved inside requirements-dev.lock: no package differs between them."""
    runtime, dev = lock_pins("requirements.lock"), lock_pins("requirements-dev.lock")
    assert {
        name: version for name, (version, _) in runtime.items() if dev.get(name, ("",))[0] != version
    } == {}
