"""Every user mistake: one line on stderr saying what and where, exit status 2, no traceback."""

import gzip
import shutil

import pytest

from handgrad.cli import main

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


def test_a_run_that_keeps_diverging_exits_1_with_one_line(tmp_path):
    result = run_cli("train", *SMALL, "--epochs", "1", "--optimizer", "sgd", "--lr", "1e6", "--guard-retries", "0",
                     "--quiet", "--out", tmp_path / "run")
    assert_user_error(result, "training diverged: loss became nan", "try a lower --lr", status=1)
