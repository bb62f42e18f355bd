"""Headless Chromium for the console's browser tests, `make screenshots` and `make bench-console`.

The browser is Debian's `chromium` package, driven by Playwright's Python package through
`executable_path` (Playwright cannot download its own browsers here; https://playwright.dev/python/docs/api/class-browsertype#browser-type-launch-option-executable-path).
COATRO_CHROMIUM names another binary. A missing browser is an error that says how to install it.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

INSTALL_HINT = (
    "The console's browser tests need Chromium: apt-get update && apt-get install -y chromium "
    "(or set COATRO_CHROMIUM to a Chromium binary); .ci/run installs it when missing."
)
# --no-sandbox: CI and the dev containers run as root, where Chromium refuses its sandbox.
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"]


class BrowserMissing(RuntimeError):
    pass


def chromium_path() -> str:
    for candidate in (os.environ.get("COATRO_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise BrowserMissing(INSTALL_HINT)


def launch(playwright: Any) -> Any:
    """A headless Chromium through a started `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=ARGS)
