"""`handgrad train` end to end: the run directory, reproduction from config.toml, PyTorch interop."""

import json
import subprocess
import sys

import numpy as np
import torch
from safetensors.torch import load_file

from handgrad import data
from handgrad.train import default_data_dir, load_run, read_csv, read_settings
from handgrad.train.checkpoint import load_model

from .conftest import SMALL, run_cli


def test_a_run_directory_holds_everything(trained_run):
    out, result = trained_run
    assert {"config.toml", "history.csv", "model.safetensors", "resume.safetensors", "curves.png",
            "summary.json"} <= {p.name for p in out.iterdir()}
    assert result.stdout.startswith("test accuracy ") and f"run saved in {out}" in result.stdout
    assert result.stderr == ""  # --quiet
    summary = json.loads((out / "summary.json").read_text())
    assert {"test_accuracy", "test_loss", "best_val_accuracy", "epochs", "seconds"} <= set(summary)
    assert summary["epochs"] == 2 and 0 < summary["test_accuracy"] <= 1 and summary["guard_firings"] == 0
    rows = read_csv(out / "history.csv")
    assert [row["epoch"] for row in rows] == [1, 2]
    assert summary["best_val_accuracy"] == max(row["val_accuracy"] for row in rows)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = (out / "config.toml").read_text()
    assert 'model = "lenet5"' in config and "limit = 300" in config and "[model_options]" in config


def test_config_toml_reproduces_the_run_bit_for_bit(trained_run, tmp_path):
    out, _ = trained_run
    result = run_cli("train", "--config", out / "config.toml", "--out", tmp_path / "again", "--quiet")
    assert result.returncode == 0, result.stderr
    original, _ = load_model(out / "model.safetensors")
    again, _ = load_model(tmp_path / "again" / "model.safetensors")
    assert original.keys() == again.keys() and all(np.array_equal(original[k], again[k]) for k in original)


def test_the_model_loads_into_torch_sequential_lenet5_with_the_same_logits(trained_run):
    out, _ = trained_run
    t = torch.nn
    lenet5 = t.Sequential(t.Conv2d(1, 6, 5, padding=2), t.ReLU(), t.MaxPool2d(2), t.Conv2d(6, 16, 5), t.ReLU(),
                          t.MaxPool2d(2), t.Conv2d(16, 120, 5), t.ReLU(), t.Flatten(), t.Linear(120, 84), t.ReLU(),
                          t.Linear(84, 10))
    lenet5.load_state_dict(load_file(str(out / "model.safetensors")))  # strict
    run = load_run(out)
    images, _ = data.load_dataset("mnist", default_data_dir(), "test")
    x = data.to_float(images[:64], run.mean, run.std)
    with torch.no_grad():
        theirs = lenet5.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run.model(x), theirs, rtol=1e-5, atol=1e-5)
    assert np.array_equal(run.model(x).argmax(1), theirs.argmax(1))


def test_progress_and_epoch_lines_go_to_stderr(tmp_path):
    result = run_cli("train", *SMALL, "--epochs", "1", "--model", "mlp", "--model-option", "hidden=32",
                     "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("training mlp (") and "300" not in lines[0].split(":")[0]
    assert lines[1].startswith("epoch 1/1  train loss ") and len(lines) == 2  # not a tty: no bar
    assert read_settings(tmp_path / "run" / "config.toml")["model_options"]["hidden"] == [32]


def test_default_out_is_a_timestamped_folder_under_runs(tmp_path):
    result = run_cli("train", *SMALL, "--epochs", "1", "--model", "mlp", "--model-option", "hidden=16",
                     "--val-fraction", "0", "--quiet", "--data-dir", default_data_dir(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("mlp-mnist-") and (run / "summary.json").is_file()


def test_python_dash_m_and_the_console_script_agree():
    module = subprocess.run([sys.executable, "-m", "handgrad", "--help"], capture_output=True, text=True)
    assert module.returncode == 0 and "train" in module.stdout and "evaluate" in module.stdout
