"""Checkpoint files: atomic writes, the resume-state tree, and model files PyTorch can load."""

import errno
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from handgrad import models
from handgrad.train import checkpoint, load_model, load_state, save_model, save_state
from torch_helpers import assert_close, torch_twin


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "file.txt"
    checkpoint.atomic_write(path, "old")
    checkpoint.atomic_write(path, b"new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "file.txt"
    checkpoint.atomic_write(path, "old")
    with pytest.raises(TypeError):
        checkpoint.atomic_write(path, 42)  # not bytes: the write fails
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_state_tree_round_trip(tmp_path):
    tree = {
        "epoch": 3, "best": math.inf, "none": None, "flag": True, "name": "adam",
        "optimizer": {"state": {0: {"step": 5, "exp_avg": np.arange(6, dtype=np.float32).reshape(2, 3)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]},
        "model": {"0.weight": np.ones((2, 2), np.float32), "1.num_batches_tracked": np.array(7, np.int64)},
        "rng": np.random.default_rng(0).bit_generator.state,
        "scalar": np.float32(0.5),
    }
    save_state(tmp_path / "state.safetensors", tree)
    back = load_state(tmp_path / "state.safetensors")
    assert back["epoch"] == 3 and back["best"] == math.inf and back["none"] is None and back["flag"] is True
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["optimizer"]["state"]["0"]["step"] == 5  # JSON keys are strings; optimizers accept them
    assert np.array_equal(back["optimizer"]["state"]["0"]["exp_avg"], tree["optimizer"]["state"][0]["exp_avg"])
    assert back["model"]["1.num_batches_tracked"].dtype == np.int64
    assert back["rng"] == tree["rng"] and back["scalar"] == 0.5


def test_corrupt_or_foreign_files_raise_value_error_naming_them(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match=r"broken.safetensors: not a valid safetensors file"):
        load_model(path)
    save_model(tmp_path / "model.safetensors", {"w": np.zeros(2, np.float32)}, {"model": "x"})
    with pytest.raises(ValueError, match=r"not a handgrad resume file"):
        load_state(tmp_path / "model.safetensors")


def test_model_file_loads_into_torch_sequential_lenet5_with_the_same_logits(tmp_path, rng):
    model = models.build("lenet5", batch_norm=True).eval()
    model(rng.standard_normal((4, 1, 28, 28)).astype(np.float32))
    path = tmp_path / "model.safetensors"
    save_model(path, model.state_dict(), {"model": "lenet5", "mean": 0.1, "std": 0.3})
    state, info = load_model(path)
    assert info == {"model": "lenet5", "mean": 0.1, "std": 0.3} and sorted(state) == sorted(model.state_dict())
    twin = torch_twin(model)
    twin.load_state_dict(load_file(str(path)))  # strict: every key and shape must match
    twin.eval()
    x = rng.standard_normal((5, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        assert_close(model(x), twin(torch.tensor(x)), what="logits")


def test_a_write_failing_half_way_keeps_the_old_file_and_names_the_target(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    checkpoint.atomic_write(path, b"old contents")
    real_write = checkpoint.os.write

    def half_then_full_disk(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(checkpoint.os, "write", half_then_full_disk)
    with pytest.raises(OSError) as caught:
        checkpoint.atomic_write(path, b"new contents, longer than the old")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert path.read_bytes() == b"old contents" and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_refused_temporary_file_is_reported_as_the_target(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".config.toml.x1y2z3.tmp"))
    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as caught:
        checkpoint.atomic_write(tmp_path / "config.toml", "epochs = 1\n")
    assert caught.value.filename == str(tmp_path / "config.toml") and ".tmp" not in str(caught.value)


def test_remove_temporaries_deletes_only_cut_short_writes(tmp_path):
    for name in (".model.safetensors.ab12cd.tmp", ".history.csv.x.tmp", "model.safetensors", "notes.tmp"):
        (tmp_path / name).write_text("x")
    checkpoint.remove_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "notes.tmp"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_the_file_and_the_tensor(tmp_path, bad):
    model = models.build("lenet5")
    state = model.state_dict()
    state["3.weight"].flat[7] = bad
    save_model(tmp_path / "model.safetensors", state, {})
    with pytest.raises(ValueError, match=r"model.safetensors: tensor '3.weight' holds 1 non-finite value "):
        load_model(tmp_path / "model.safetensors")
    save_state(tmp_path / "resume.safetensors", {"model": state, "epoch": 1})
    with pytest.raises(ValueError, match=r"resume.safetensors: tensor 'model.3.weight' holds 1 non-finite"):
        load_state(tmp_path / "resume.safetensors")
