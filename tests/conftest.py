"""Shared test setup: tests/ on sys.path (for torch_helpers), a seeded rng fixture, the
hypothesis profiles, and CI's rule on skipped tests.

- hypothesis: under CI=true the "ci" profile derandomises every property test (the same
  examples on every run: a failure in CI is a failure of the change, never of the draw);
  elsewhere the "dev" profile draws fresh examples and keeps hypothesis' example database.
  Each property test states its own example budget (`max_examples`).
- Under CI=true a skipped test fails, unless it is on `ALLOWED_SKIPS` with the reason why
  that skip is right on a CI machine. A missing browser, a missing extra or missing data
  is a broken CI set-up, not a reason to pass. pytest runs with `-rfEs` (pyproject's
  addopts), so the log lists every skip with its reason.
"""

import os
import sys

import numpy as np
import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

IN_CI = os.environ.get("CI", "").lower() == "true"
# test file or node id (prefix) -> why its skip is allowed under CI
ALLOWED_SKIPS = {
    "tests/optim/test_denormals.py": "flushing denormals to zero exists on x86-64 Linux only (a CI runner "
                                     "of another platform has nothing to test)",
}

# Explicit both ways: hypothesis itself derandomises whenever a CI variable is set at all.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", derandomize=False, deadline=None)
settings.load_profile("ci" if IN_CI else "dev")


@pytest.fixture
def rng():
    """A fresh, seeded NumPy generator for each test."""
    return np.random.default_rng(12345)


def _skip_allowed(nodeid: str) -> bool:
    return any(nodeid.startswith(allowed) for allowed in ALLOWED_SKIPS)


def _fail_the_skip(report, nodeid: str) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"{nodeid} was skipped under CI=true ({reason}); a CI run must not skip it. "
                       f"Fix the CI set-up, or add it to ALLOWED_SKIPS in tests/conftest.py with the reason.")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail") and not _skip_allowed(item.nodeid):
        _fail_the_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not _skip_allowed(report.nodeid):  # a whole module skipped (importorskip)
        _fail_the_skip(report, report.nodeid)
