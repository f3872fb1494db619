"""The one switch: `handgrad.nn.reference_mode()` (and HANDGRAD_REFERENCE=1) turns the engine off,
so an Engine, `handgrad train` included, runs nothing but each layer's own textbook code."""

import os
import subprocess
import sys

import numpy as np
import pytest

from handgrad import nn
from handgrad.engine import Engine, conv, dense, parallel, plan, pooling
from handgrad.train import TrainConfig, Trainer
from torch_helpers import lenet5

FAST_METHODS = [(conv.FastConv2d, "forward"), (pooling.TiledMaxPool2d, "forward"),
                (dense.FastLinear, "forward"), (dense.FastFlatten, "forward")]


@pytest.fixture
def engine_forbidden(monkeypatch):
    """Any fast layer, the ReLU/MaxPool2d reordering or a batch chunk fails the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the engine ran in reference mode")

    for cls, name in FAST_METHODS:
        monkeypatch.setattr(cls, name, forbidden)
    monkeypatch.setattr(plan, "execution_order", forbidden)
    monkeypatch.setattr(parallel, "run_chunks", forbidden)


def test_reference_mode_runs_only_the_models_own_code(engine_forbidden, rng):
    model = lenet5()
    fast = Engine(model)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    with nn.reference_mode():
        assert nn.is_reference_mode()
        y = fast(x)
        fast.backward_parameters(np.ones_like(y))
        expected = model(x)
    np.testing.assert_array_equal(y, expected)
    assert not nn.is_reference_mode()
    with pytest.raises(AssertionError, match="engine ran"):
        fast(x)  # the engine is back on after the block


def test_reference_mode_as_a_function_and_nested():
    assert not nn.is_reference_mode()
    try:
        nn.reference_mode()
        assert nn.is_reference_mode()
        with nn.reference_mode(False):
            assert not nn.is_reference_mode()
        assert nn.is_reference_mode()
    finally:
        nn.reference_mode(False)
    assert not nn.is_reference_mode()


@pytest.mark.parametrize("value, on", [("1", True), ("yes", True), ("0", False), ("", False), ("off", False)])
def test_the_environment_variable_starts_a_process_in_reference_mode(value, on):
    env = dict(os.environ, HANDGRAD_REFERENCE=value)
    out = subprocess.run([sys.executable, "-c", "from handgrad import nn; print(nn.is_reference_mode())"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(on)


def test_handgrad_train_in_reference_mode_gives_the_engines_numbers(tmp_path, monkeypatch):
    """The trainer's steps go through its Engine: with the engine off, the same run ends with
    the same weights to float rounding (float32, 16 steps)."""
    config = TrainConfig(model="lenet5", epochs=1, batch_size=64, limit=1024, val_fraction=0.0,
                         quiet=True, seed=1)
    weights, forward, calls = [], conv.FastConv2d.forward, []
    monkeypatch.setattr(conv.FastConv2d, "forward", lambda step, x: calls.append(1) or forward(step, x))
    for reference in (False, True):
        calls.clear()
        with nn.reference_mode(reference):
            trainer = Trainer(config)
            trainer.epoch = 1
            trainer.train_epoch()
        assert bool(calls) != reference  # the engine's convolution ran, or did not
        weights.append(trainer.model.state_dict())
    for key in weights[0]:
        np.testing.assert_allclose(weights[1][key], weights[0][key], rtol=1e-3, atol=1e-4, err_msg=key)
