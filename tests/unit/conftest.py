"""The fast tier (`make test-unit`): no emulators, no local stack, no network."""

import pytest


@pytest.fixture(scope="session")
def stack():
    pytest.fail(
        "tests/unit runs without emulators (make test-unit); a test that needs the local stack belongs "
        "in tests/integration or tests/e2e",
        pytrace=False,
    )
