"""`handgrad sweep`: search specs, a real small sweep, a diverged trial, resume, a pool, and bad input."""

import argparse
import csv
import os
import subprocess
import sys

import pytest

from handgrad import cli
from handgrad.experiments.sweep import parse_search, train_command
from handgrad.train import TrainConfig

FIELDS = {"lr", "weight_decay", "batch_size", "momentum"}
SMALL = ["--limit", 300, "--epochs", 1, "--batch-size", 50]


def sweep(*args, check=True, timeout=300):
    done = subprocess.run([sys.executable, "-m", "handgrad", "sweep", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, MPLBACKEND="Agg"))
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def rows(out):
    with open(out / "trials.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_search_specs():
    assert parse_search("lr=log:1e-4:1e-1", FIELDS).low == 1e-4
    assert parse_search("model.dropout=choice:0,0.25,0.5", FIELDS).choices == (0, 0.25, 0.5)
    assert parse_search("batch-size=int:16:128", FIELDS).field == "batch_size"
    assert parse_search("model.dropout=float:0:0.5", FIELDS).model_option == "dropout"
    for bad, message in [("lr", "expected NAME=KIND:ARGS"), ("lr=log:0:1", "above 0"), ("lr=log:1:0.1", "LO < HI"),
                         ("lr=cubic:1:2", "expected NAME=KIND"), ("size=int:1:2", "not a setting of handgrad train"),
                         ("batch-size=int:1.5:4", "integers"), ("lr=float:a:b", "two numbers")]:
        with pytest.raises(ValueError, match=message):
            parse_search(bad, FIELDS)


def test_the_best_trial_command_reproduces_its_config():
    config = TrainConfig(model="lenet5", lr=0.0044303752452182, weight_decay=7.2e-4, limit=600, epochs=2,
                         shuffle_split=False, model_options={"dropout": 0.25}).validated()
    command = train_command(config).split()
    assert command[:2] == ["handgrad", "train"]
    args = cli.build_parser().parse_args(command[1:])
    again = cli.train_config(argparse.Namespace(**{**vars(args), "out": None}))
    assert again.to_dict() == config.to_dict()


def test_a_small_sweep_writes_its_report_and_continues_with_the_same_command(tmp_path):
    args = ["--search", "lr=log:1e-4:1e-1", "--search", "weight-decay=log:1e-6:1e-2", "--sampler", "random",
            "--pruner", "none", *SMALL, "--out", tmp_path]
    first = sweep(*args, "--trials", 2)
    assert first.stderr.count("trial(s) left") == 2
    assert [r["state"] for r in rows(tmp_path)] == ["COMPLETE", "COMPLETE"]
    report = (tmp_path / "report.md").read_text()
    assert "## Best trial" in report and "handgrad train --limit 300 --epochs 1 --batch-size 50 --lr " in report
    for picture in ("history.png", "importance.png", "slice.png"):
        assert (tmp_path / picture).stat().st_size > 1000
    more = sweep(*args, "--trials", 3)
    assert more.stderr.count("trial(s) left") == 1 and len(rows(tmp_path)) == 3
    changed = sweep(*[a if a != "random" else "tpe" for a in args], "--trials", 3, check=False)
    assert changed.returncode == 2 and "holds a different study named 'sweep'" in changed.stderr


def test_a_diverged_trial_is_recorded_as_failed(tmp_path):
    sweep("--search", "lr=choice:1e30", "--trials", 1, "--guard-retries", 1, *SMALL, "--out", tmp_path)
    (trial,) = rows(tmp_path)
    assert trial["state"] == "FAIL" and trial["note"]
    assert "No trial completed." in (tmp_path / "report.md").read_text()


def test_two_workers_share_the_budget(tmp_path):
    sweep("--search", "momentum=float:0.5:0.95", "--optimizer", "momentum", "--trials", 4, "--workers", 2,
          "--sampler", "random", *SMALL, "--out", tmp_path)
    states = [r["state"] for r in rows(tmp_path)]
    assert len([s for s in states if s in ("COMPLETE", "PRUNED")]) >= 4 and "RUNNING" not in states


@pytest.mark.parametrize("args, message", [
    ([], "give at least one --search"),
    (["--search", "lr=log:-1:1"], "above 0"),
    (["--search", "lr=log:1e-4:1e-1", "--sampler", "grid"], "grid needs choice"),
    (["--search", "lr=log:1e-4:1e-1", "--trials", 0], "--trials must be at least 1"),
    (["--search", "lr=log:1e-4:1e-1", "--workers", 0], "--workers must be at least 1"),
    (["--search", "lr=log:1e-4:1e-1", "--storage", "::"], "not a database URL"),
    (["--search", "lr=log:1e-4:1e-1", "--batch-size", 0], "batch"),
])
def test_bad_input_is_one_line_and_status_2(args, message, tmp_path):
    done = sweep(*args, "--out", tmp_path, check=False, timeout=60)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
