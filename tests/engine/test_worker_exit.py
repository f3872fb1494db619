"""A worker process whose caller dies says nothing: no traceback in the user's terminal."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from handgrad.engine import parallel


def test_a_worker_whose_caller_vanishes_with_unread_data_exits_silently():
    # The caller dying with the worker's "ready" still unread is what SIGKILL does: the
    # worker's next receive then fails with ConnectionResetError, not EOFError.
    ours, theirs = socket.socketpair()
    source = str(Path(parallel.__file__).resolve().parents[2])  # the handgrad under test, as Worker does
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])))
    process = subprocess.Popen([*parallel.WORKER_COMMAND, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                               stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    theirs.close()
    deadline = time.monotonic() + 60
    while not ours.recv(1, socket.MSG_PEEK):  # the worker has sent its "ready"; leave it unread
        assert time.monotonic() < deadline
    ours.close()
    _, stderr = process.communicate(timeout=60)
    assert stderr == "" and process.returncode == 0
