"""Every user mistake: one line on stderr saying what and where, exit status 2, no traceback."""

import errno
import gzip
import shutil

import numpy as np
import pytest

from handgrad import cli
from handgrad.cli import main
from handgrad.train import checkpoint
from handgrad.train.checkpoint import load_model, save_model
from image_helpers import png_header_only

from .conftest import SMALL, assert_user_error, run_cli


def in_process(capsys, *args, status=2) -> str:
    """main(args) in this process (the same code path as the command, faster); returns the error line."""
    assert main([str(a) for a in args]) == status
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("handgrad: error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("args, fragment", [
    (("train", "--model", "resnet"), "unknown model 'resnet'; valid models: mlp, convnet, three-layer-convnet, lenet5"),
    (("train", "--model-option", "depth=3"), "model 'lenet5': unknown option 'depth'; valid options: activation"),
    (("train", "--model-option", "dropout"), "--model-option 'dropout': expected key=value"),
    (("train", "--model-option", "dropout=1.5"), "option dropout=1.5 must lie in [0, 1)"),
    (("train", "--model-option", "batch_norm=maybe"), "option 'batch_norm' expects true or false, got 'maybe'"),
    (("train", "--lr", "-0.01"), "setting 'lr' (--lr) must be a positive number, got -0.01"),
    (("train", "--epochs", "0"), "setting 'epochs' (--epochs) must be at least 1"),
    (("train", "--epochs", "three"), "argument --epochs: invalid int value: 'three'"),
    (("train", "--optimizer", "lbfgs"), "argument --optimizer: invalid choice: 'lbfgs'"),
    (("train", "--val-fraction", "1"), "setting 'val_fraction' (--val-fraction) must be in [0, 1)"),
    (("train", "--augment", "spin=3"), "unknown augmentation 'spin'"),
    (("train", "--frobnicate"), "unrecognized arguments: --frobnicate"),
    (("summary", "--model", "vgg"), "unknown model 'vgg'"),
    (("evaluate",), "the following arguments are required: RUN_DIR"),
])
def test_bad_command_lines(capsys, args, fragment):
    assert fragment in in_process(capsys, *args)


def test_missing_and_corrupt_data(capsys, tmp_path):
    line = in_process(capsys, "train", "--data-dir", tmp_path / "nowhere")
    assert "data set 'mnist': no folder" in line and "nowhere" in line
    (tmp_path / "mnist").mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "mnist" / name).write_bytes(gzip.compress(b"\x00\x00\x08\x03 garbage"))
    line = in_process(capsys, "train", "--data-dir", tmp_path)
    assert "train-images-idx3-ubyte.gz" in line


def test_bad_config_files(capsys, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("epochs = [oops\n")
    assert "run.toml: not valid TOML" in in_process(capsys, "train", "--config", path)
    path.write_text("epochs = 2\nlearning_rate = 0.1\n")
    assert "run.toml: unknown setting 'learning_rate'; valid settings: model" in in_process(
        capsys, "train", "--config", path)
    path.write_text('epochs = "two"\n')
    assert "setting 'epochs' (--epochs) expects an integer, got 'two'" in in_process(capsys, "train", "--config", path)
    assert "missing.toml" in in_process(capsys, "train", "--config", tmp_path / "missing.toml")


def test_run_directory_mistakes(capsys, tmp_path, trained_run):
    out, _ = trained_run
    assert f"run directory {tmp_path / 'gone'} does not exist" in in_process(capsys, "evaluate", tmp_path / "gone")
    assert "does not exist" in in_process(capsys, "train", "--resume", tmp_path / "gone")
    assert "is not a handgrad run directory: it has no config.toml" in in_process(capsys, "predict", tmp_path, "x.png")
    assert "already holds a run; continue it with --resume" in in_process(capsys, "train", *SMALL, "--out", out)

    other = tmp_path / "other"
    shutil.copytree(out, other)
    config = (other / "config.toml").read_text().replace("batch_norm = false", "batch_norm = true")
    (other / "config.toml").write_text(config)
    line = in_process(capsys, "evaluate", other)
    assert "model.safetensors does not fit the run's model 'lenet5'" in line and "missing keys: 1.weight" in line
    (other / "model.safetensors").write_bytes(b"\x00" * 100)
    assert "model.safetensors: not a valid safetensors file" in in_process(capsys, "evaluate", other)
    (other / "resume.safetensors").write_bytes(b"junk")
    assert "resume.safetensors: not a valid safetensors file" in in_process(capsys, "train", "--resume", other)


def test_unreadable_images(capsys, tmp_path, trained_run):
    out, _ = trained_run
    (tmp_path / "notes.png").write_text("not a picture")
    assert "cannot read image" in in_process(capsys, "predict", out, tmp_path / "notes.png")
    assert "missing.png does not exist" in in_process(capsys, "predict", out, tmp_path / "missing.png")


def test_errors_through_the_real_command_have_no_traceback(tmp_path):
    assert_user_error(run_cli("train", "--model", "resnet"), "unknown model 'resnet'")
    assert_user_error(run_cli("train", "--data-dir", tmp_path), "data set 'mnist': no folder")
    assert_user_error(run_cli("evaluate", tmp_path / "gone"), "does not exist")


@pytest.mark.parametrize("patience, reason", [("0", "loss became nan"), ("2000", "the loss exploded at epoch 1")])
def test_a_run_that_keeps_diverging_exits_1_with_one_line(tmp_path, patience, reason):
    result = run_cli("train", *SMALL, "--epochs", "1", "--optimizer", "sgd", "--lr", "1e6", "--guard-retries", "0",
                     "--guard-patience", patience, "--quiet", "--out", tmp_path / "run")
    assert_user_error(result, f"training diverged: {reason}", "try a lower --lr", status=1)


def test_files_that_do_not_fit_or_hold_nan_are_named(capsys, tmp_path, trained_run):
    out, _ = trained_run
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    state, info = load_model(bad / "model.safetensors")
    state["9.bias"][:] = np.nan
    save_model(bad / "model.safetensors", state, info)
    line = in_process(capsys, "evaluate", bad)
    assert f"{bad / 'model.safetensors'}: tensor '9.bias' holds 84 non-finite values (nan or inf)" in line

    other = tmp_path / "other"  # a run of another model, whose resume file is copied into ours
    assert main(["train", *SMALL, "--epochs", "1", "--model", "mlp", "--quiet", "--out", str(other)]) == 0
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    shutil.copy(other / "resume.safetensors", mixed / "resume.safetensors")
    capsys.readouterr()
    line = in_process(capsys, "train", "--resume", mixed, "--epochs", "3")
    assert f"{mixed / 'resume.safetensors'} does not fit the run's model 'lenet5'" in line and "missing keys" in line


def test_a_full_disk_or_a_locked_folder_names_the_file_not_a_temporary_one(capsys, tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(checkpoint.os, "write", full)
    run = tmp_path / "run"
    line = in_process(capsys, "train", *SMALL, "--quiet", "--out", run)
    assert line == f"handgrad: error: {run / 'config.toml'}: No space left on device"
    monkeypatch.undo()

    def locked(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(run / ".config.toml.uyhlxh2s.tmp"))
    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", locked)
    line = in_process(capsys, "train", *SMALL, "--quiet", "--out", tmp_path / "run2")
    assert line == f"handgrad: error: {tmp_path / 'run2' / 'config.toml'}: Permission denied"


def test_evaluate_writes_its_picture_to_out_for_a_run_it_cannot_write_to(capsys, tmp_path, trained_run, monkeypatch):
    out, _ = trained_run
    assert main(["evaluate", str(out), "--limit", "50", "--out", str(tmp_path / "elsewhere")]) == 0
    assert f"wrote {tmp_path / 'elsewhere' / 'confusion.png'}" in capsys.readouterr().out
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)  # a read-only run (root ignores chmod)
    line = in_process(capsys, "evaluate", out, "--limit", "50")
    assert line == f"handgrad: error: {out} is read-only, so confusion.png cannot go there; give --out DIR"


def test_a_picture_too_large_to_read_is_one_line(capsys, tmp_path, trained_run):
    out, _ = trained_run
    png_header_only(tmp_path / "huge.png", 20000, 20000)
    assert "huge.png is 20000x20000 L: decoding it would take 400 MB" in in_process(capsys, "predict", out,
                                                                                    tmp_path / "huge.png")


@pytest.mark.parametrize("error", [RuntimeError("an internal fault"), ValueError("a library ValueError"),
                                   TypeError("a TypeError"), ConnectionResetError(104, "Connection reset by peer")])
def test_a_bug_of_ours_keeps_its_traceback_and_asks_for_a_report(capsys, monkeypatch, error):
    def broken(args):
        raise error
    monkeypatch.setitem(cli.COMMANDS, "summary", broken)
    assert main(["summary"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and str(error) in err
    assert err.splitlines()[-1].startswith("handgrad: error: this is a bug in handgrad, not a mistake of yours; "
                                           "please report it")
