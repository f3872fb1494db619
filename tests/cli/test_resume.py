"""A run killed with SIGKILL mid-epoch resumes from its checkpoint and ends bit-identical."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from handgrad.train import load_state, read_csv
from handgrad.train.checkpoint import load_model

from .conftest import run_cli

# Dropout and batch norm, so the dropout generator and the running statistics must resume exactly too.
ARGS = ("train", "--limit", "800", "--epochs", "2", "--batch-size", "32", "--model-option", "dropout=0.3",
        "--model-option", "batch_norm=true", "--quiet")


def test_killed_mid_epoch_2_then_resumed_equals_the_uninterrupted_run(tmp_path):
    straight = run_cli(*ARGS, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "handgrad", *ARGS, "--out", str(killed)])
    deadline = time.monotonic() + 240
    while not (killed / "history.csv").exists():  # the last file written at the end of epoch 1
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its first epoch did"
        time.sleep(0.01)
    time.sleep(0.3 * read_csv(killed / "history.csv")[0]["seconds"])  # into epoch 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert load_state(killed / "resume.safetensors")["epoch"] == 1, "the kill came after epoch 2 ended"
    assert not (killed / "summary.json").exists()

    resumed = run_cli("train", "--resume", killed, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    expected, _ = load_model(tmp_path / "straight" / "model.safetensors")
    actual, _ = load_model(killed / "model.safetensors")
    assert expected.keys() == actual.keys()
    for key in expected:
        assert np.array_equal(expected[key], actual[key]), key
    drop_time = [{k: v for k, v in row.items() if k != "seconds"} for row in read_csv(killed / "history.csv")]
    assert drop_time == [{k: v for k, v in row.items() if k != "seconds"}
                         for row in read_csv(tmp_path / "straight" / "history.csv")]
    assert resumed.stdout.split(" after ")[0] == straight.stdout.split(" after ")[0]  # the same test accuracy


@pytest.mark.parametrize("sent, status, stop", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_stop_with_their_status_and_say_how_to_resume(tmp_path, sent, status, stop):
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "handgrad", "train", "--limit", "2000", "--epochs", "50",
                                "--model", "mlp", "--out", str(run), "--quiet"], stderr=subprocess.PIPE, text=True,
                               # Ctrl-C's default action even when the suite itself runs in the background
                               # of a shell (which starts its jobs with SIGINT ignored, and children inherit that)
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (run / "history.csv").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status
    assert stderr.splitlines() == [f"handgrad: error: {stop}; continue the run from its last checkpoint with "
                                   f"handgrad train --resume {run}"]  # and no worker's traceback
    assert load_state(run / "resume.safetensors")["epoch"] >= 1
    assert not list(run.glob(".*.tmp"))


def test_resume_accepts_only_epochs_data_dir_and_quiet(tmp_path):
    result = run_cli("train", "--resume", tmp_path, "--lr", "0.1", "--model-option", "dropout=0.1")
    assert result.returncode == 2
    assert "--lr, --model-option cannot be changed" in result.stderr
