"""Running the real `handgrad` command in a subprocess, and one small trained run shared by the tests."""

import subprocess
import sys

import pytest

# Small runs: a few hundred MNIST images, so each command takes seconds.
SMALL = ("--limit", "300", "--batch-size", "32")


def run_cli(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    """`python -m handgrad ARGS...`, output captured as text."""
    return subprocess.run([sys.executable, "-m", "handgrad", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str, status: int = 2) -> str:
    """Exit status 2 (or `status`), exactly one line on stderr starting 'handgrad: error:', no traceback."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("handgrad: error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A 2-epoch LeNet-5 run on 300 MNIST images, trained through the command line."""
    out = tmp_path_factory.mktemp("runs") / "lenet"
    result = run_cli("train", *SMALL, "--epochs", "2", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    return out, result
