"""A real PostgreSQL server for the tests that share a study among workers through it.

`.ci/run` starts one and sets HANDGRAD_TEST_POSTGRES to its URL. Without it, the fixture
starts a throwaway server itself with `.ci/postgres` (PostgreSQL 15's initdb and pg_ctl);
where none can be started the tests skip, except under CI=true, where they fail.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "postgres"


@pytest.fixture(scope="session")
def postgres_url():
    url = os.environ.get("HANDGRAD_TEST_POSTGRES")
    if url:
        yield url
        return
    # Not under pytest's temporary root: the server runs as another user, who must reach the folder.
    root = Path(tempfile.mkdtemp(prefix="handgrad-postgres-"))
    folder = root / "server"
    started = subprocess.run(["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True,
                             env=dict(os.environ, PGPORT_TEST="54339"))
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        reason = f"no PostgreSQL server could be started: {started.stderr.strip()[-500:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
