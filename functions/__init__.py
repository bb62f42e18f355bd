"""The Cloud Functions: one directory each, `functions/<name>/main.py`, whose entry point is `<name>`.

This is the one place that says how functions are found; the local stack, the packaging script
and the infra checks all ask it. (Deployed bundles hold only main.py and shared/, not this file.)
"""

from __future__ import annotations

from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parent


def function_names(functions_dir: Path = FUNCTIONS_DIR) -> list[str]:
    """Every function directory with a main.py, sorted."""
    return sorted(p.parent.name for p in Path(functions_dir).glob("*/main.py"))
