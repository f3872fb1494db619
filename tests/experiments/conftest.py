"""A real PostgreSQL server for the tests that share a study among workers through it.

`.ci/run` starts one and sets HANDGRAD_TEST_POSTGRES to its URL. Without it, the fixture
starts a throwaway server itself with `.ci/postgres` (PostgreSQL 15's initdb and pg_ctl);
where none can be started the tests skip, except under CI=true, where they fail.
"""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "postgres"


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    url = os.environ.get("HANDGRAD_TEST_POSTGRES")
    if url:
        yield url
        return
    folder = tmp_path_factory.mktemp("postgres") / "server"
    started = subprocess.run(["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True,
                             env=dict(os.environ, PGPORT_TEST="54339"))
    if started.returncode != 0:
        reason = f"no PostgreSQL server could be started: {started.stderr.strip()[-500:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True)
