"""tests/conftest.py's rules: under CI=true a skip fails unless allowed, and hypothesis is derandomised."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
INNER = '''
import pytest
from hypothesis import settings

def test_skipped():
    pytest.skip("chromium is not installed")

def test_the_profile():
    print("derandomize", settings.default.derandomize)
'''


@pytest.mark.parametrize("ci, status, summary", [("true", 1, "1 failed, 1 passed"), ("false", 0, "1 passed, 1 skipped")])
def test_a_skip_fails_only_under_ci(tmp_path, ci, status, summary):
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({} if ci is None else {"CI": ci})
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "-rs", str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == status, result.stdout + result.stderr
    assert summary in result.stdout
    assert f"derandomize {ci == 'true'}" in result.stdout
    if ci == "true":
        assert "was skipped under CI=true (Skipped: chromium is not installed)" in result.stdout
    else:
        assert "SKIPPED [1]" in result.stdout and "chromium is not installed" in result.stdout
