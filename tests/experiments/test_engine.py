"""The study engine: trials on SQLite and on a real PostgreSQL server, pools of workers, resume, and bad input.

Each test runs `handgrad experiment regularization --quick` (six variants on 400 images) as a user
would, in a subprocess, and compares what results.json says with a serial run's.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import optuna
import pytest

from handgrad.experiments import store

STUDY = "regularization"


def experiment(*args, timeout=300, check=True):
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-m", "handgrad", "experiment", STUDY, "--quick", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def trials(out) -> dict:
    results = json.loads((out / "results.json").read_text())
    return {(t["variant"], t["seed"]): t["metrics"] for t in results["trials"]}


def stored_states(url: str, name: str) -> list:
    study = optuna.load_study(study_name=name, storage=url)
    return [(store.key(t), t.state) for t in study.get_trials(deepcopy=False) if store.key(t)]


def assert_each_trial_completed_once(url, name, expected):
    complete = [k for k, state in stored_states(url, name) if state == optuna.trial.TrialState.COMPLETE]
    assert sorted(complete) == sorted(expected)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The reference: two seeds of every variant, one worker, SQLite in the output folder."""
    out = tmp_path_factory.mktemp("serial")
    experiment("--seeds", 2, "--out", out)
    return out, trials(out)


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory):
    """The reference of the stop tests: one seed of every variant, 3 epochs, one worker."""
    out = tmp_path_factory.mktemp("three-epochs")
    experiment("--seeds", 1, "--epochs", 3, "--out", out)
    return trials(out)


def test_a_serial_study_writes_the_contract(serial):
    out, expected = serial
    results = json.loads((out / "results.json").read_text())
    assert len(expected) == 12 and {seed for _, seed in expected} == {0, 1}
    for trial in results["trials"]:
        assert set(trial) == {"variant", "seed", "metrics", "seconds", "commit"}
        assert {"test_acc", "val_acc", "train_acc"} <= set(trial["metrics"])
    summary = results["summary"]["baseline"]["test_acc"]
    values = [expected[("baseline", s)]["test_acc"] for s in (0, 1)]
    assert summary["n"] == 2 and summary["mean"] == pytest.approx(sum(values) / 2)
    assert summary["ci95"][0] <= summary["mean"] <= summary["ci95"][1]
    assert (out / "study.db").is_file()
    assert " ± " in (out / "report.md").read_text() and "(n = 2)" in (out / "report.md").read_text()


def test_two_workers_on_sqlite_give_the_serial_numbers(serial, tmp_path):
    _, expected = serial
    experiment("--seeds", 2, "--workers", 2, "--out", tmp_path)
    assert trials(tmp_path) == expected
    assert_each_trial_completed_once(f"sqlite:///{tmp_path / 'study.db'}", f"{STUDY}-quick", expected)


def test_two_workers_on_postgresql_give_the_serial_numbers(serial, postgres_url, tmp_path):
    _, expected = serial
    name = f"pg-{uuid.uuid4().hex[:8]}"
    experiment("--seeds", 2, "--workers", 2, "--storage", postgres_url, "--study-name", name, "--out", tmp_path)
    assert trials(tmp_path) == expected
    assert_each_trial_completed_once(postgres_url, name, expected)
    # A second machine's command with the same storage finds nothing left and writes the same report.
    again = experiment("--seeds", 2, "--storage", postgres_url, "--study-name", name, "--out", tmp_path / "other")
    assert "seed" not in "".join(line for line in again.stderr.splitlines() if "trial(s) left" in line)
    assert trials(tmp_path / "other") == expected


def test_more_seeds_later_run_only_the_new_trials(serial, tmp_path):
    _, expected = serial
    experiment("--seeds", 1, "--out", tmp_path)
    more = experiment("--seeds", 2, "--out", tmp_path)
    finished = [line for line in more.stderr.splitlines() if "trial(s) left" in line]
    assert len(finished) == 6 and all(" seed 1:" in line for line in finished)
    assert trials(tmp_path) == expected
    only = experiment("--seeds", 2, "--out", tmp_path, "--report-only")
    assert "trial(s) left" not in only.stderr and trials(tmp_path) == expected


def _children(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


def _running(db) -> list[int]:
    """The process ids of the workers running a trial that has a heartbeat (a worker killed before its first
    beat is tested in test_store)."""
    with sqlite3.connect(db, timeout=30) as connection:
        rows = connection.execute(
            "SELECT a.value_json FROM trials t JOIN trial_heartbeats USING (trial_id) JOIN trial_user_attributes a "
            "USING (trial_id) WHERE t.state = 'RUNNING' AND a.key = 'worker'").fetchall()
    return [int(json.loads(value).rsplit(":", 1)[1]) for (value,) in rows]


def _wait_for_a_running_trial(db, process, seconds=120) -> int:
    """The process id of a worker running a trial, once there is one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        if db.is_file():
            try:
                running = _running(db)
                if running:
                    return running[0]
            except sqlite3.OperationalError:  # the tables are being created
                pass
        time.sleep(0.05)
    raise AssertionError("no trial started")


def test_a_worker_killed_mid_trial_is_replaced_and_its_trial_rerun(three_epochs, tmp_path):
    args = ["--seeds", 1, "--epochs", 3, "--heartbeat", 1]
    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "handgrad", "experiment", STUDY, "--quick", *map(str, args),
                                "--workers", "2", "--out", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=dict(os.environ, MPLBACKEND="Agg"))
    busy = _wait_for_a_running_trial(out / "study.db", process)
    assert busy in _children(process.pid)
    os.kill(busy, signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    assert "stopped by signal 9" in stderr
    assert trials(out) == three_epochs
    url = f"sqlite:///{out / 'study.db'}"
    states = stored_states(url, f"{STUDY}-quick")
    assert any(state == optuna.trial.TrialState.FAIL for _, state in states)  # the killed trial, failed when stale
    assert_each_trial_completed_once(url, f"{STUDY}-quick", three_epochs)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_a_stopped_study_continues_with_the_same_command(stop, three_epochs, tmp_path):
    args = ["--seeds", 1, "--epochs", 3, "--heartbeat", 1, "--out", tmp_path]
    # SIGINT as a terminal gives it, even when the tests run where it is ignored (a background job)
    process = subprocess.Popen([sys.executable, "-m", "handgrad", "experiment", STUDY, "--quick", *map(str, args)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, MPLBACKEND="Agg"),
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_a_running_trial(tmp_path / "study.db", process)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=120)
    if stop == signal.SIGINT:
        assert process.returncode == 130 and "run the same command to continue regularization" in stderr
        assert "Traceback" not in stderr
    experiment(*args)
    assert trials(tmp_path) == three_epochs


@pytest.mark.parametrize("args, message", [
    (["--storage", "not a url"], "--storage 'not a url': not a database URL"),
    (["--storage", "postgresql://nobody:secret@127.0.0.1:1/none"], "cannot open the database"),
    (["--seeds", 0], "--seeds must be at least 1"),
    (["--workers", 0], "--workers must be at least 1"),
])
def test_bad_input_is_one_line_and_status_2(args, message, tmp_path):
    done = experiment(*args, "--out", tmp_path, check=False, timeout=60)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "secret" not in done.stderr


def test_a_storage_holding_another_study_of_that_name_is_refused_untouched(serial, tmp_path):
    shutil.copy(serial[0] / "study.db", tmp_path / "study.db")
    before = (tmp_path / "study.db").read_bytes()
    done = experiment("--seeds", 1, "--epochs", 2, "--out", tmp_path, check=False)
    assert done.returncode == 2
    assert "holds a different study named 'regularization-quick'" in done.stderr
    assert "epochs: None there, 2 here" in done.stderr
    assert (tmp_path / "study.db").read_bytes() == before


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler during the test (a suite run as a background job ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_that_a_finalizer_swallows_is_remembered(ctrl_c_raises):
    # SQLAlchemy's weakref callbacks run during trials; Python drops an exception raised in
    # one, so a Ctrl-C landing there must still stop the work loop before its next trial
    import weakref

    from handgrad.experiments.runner import remembered_interrupts

    class Thing:
        pass

    with remembered_interrupts() as stop_if_interrupted:
        stop_if_interrupted()  # no Ctrl-C yet: nothing happens
        thing = Thing()
        ref = weakref.ref(thing, lambda _: signal.raise_signal(signal.SIGINT))
        del thing  # the KeyboardInterrupt is raised inside the callback, and dropped
        assert ref() is None
        with pytest.raises(KeyboardInterrupt):
            stop_if_interrupted()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
