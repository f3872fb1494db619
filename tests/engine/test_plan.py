"""The engine's plan: ReLU→MaxPool2d runs as MaxPool2d→ReLU with every number unchanged, nested
Sequentials run as one list, each textbook layer has the fast version FAST names (and a
layer of any other class runs as written)."""

import numpy as np
import pytest

from handgrad import nn
from handgrad.engine import Engine, plan
from handgrad.engine.fast import FastLayer


@pytest.mark.parametrize("pool", [nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1), nn.MaxPool2d((2, 3))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reordered_relu_pool_is_exact(pool, dtype):
    """The textbook layers in the engine's order give every number of the written order."""
    rng = np.random.default_rng(0)
    layers = list(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), pool, nn.Flatten()).to(dtype))
    order = plan.execution_order(layers)
    assert order != layers
    # integers make ties (and all-negative windows) frequent
    x = rng.integers(-3, 4, size=(4, 2, 9, 8)).astype(dtype)
    results = []
    for steps in (layers, order):
        for layer in layers:
            layer.zero_grad()
        out = plan.forward(steps, x)
        dx = plan.backward(steps, np.cos(out))
        results.append((out, dx, *(p.grad.copy() for layer in layers for p in layer.parameters())))
    for written, reordered in zip(*results):
        np.testing.assert_array_equal(reordered, written)


def test_execution_order_swaps_only_relu_then_maxpool():
    layers = [nn.ReLU(), nn.MaxPool2d(2), nn.Tanh(), nn.MaxPool2d(2), nn.ReLU(), nn.AvgPool2d(2)]
    order = [type(m).__name__ for m in plan.execution_order(layers)]
    assert order == ["MaxPool2d", "ReLU", "Tanh", "MaxPool2d", "ReLU", "AvgPool2d"]


def test_nested_sequentials_run_as_one_list_and_other_modules_whole():
    class Block(nn.Module):  # a module of the user's own: run as written, never looked into
        def __init__(self):
            super().__init__()
            self.inner = nn.Sequential(nn.Linear(2, 2))

    inner, block = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Tanh())), Block()
    model = nn.Sequential(nn.Linear(2, 2), inner, block)
    assert [type(m) for m in plan.leaves(model)] == [nn.Linear, nn.ReLU, nn.Tanh, Block]


@pytest.mark.parametrize("layer", [nn.Conv2d(1, 1, 1), nn.MaxPool2d(2), nn.Linear(1, 1), nn.Flatten()])
def test_the_accelerated_layers_get_their_fast_version(layer):
    step = plan.fast(layer)
    assert isinstance(step, FastLayer) and step.layer is layer and type(step) is plan.FAST[type(layer)]


def test_other_layers_and_subclasses_run_as_written():
    class MyConv(nn.Conv2d):  # may compute something else: the fast Conv2d must not stand in
        pass

    for layer in (nn.ReLU(), nn.AvgPool2d(2), nn.BatchNorm1d(2), nn.Dropout(), MyConv(1, 1, 1)):
        assert plan.fast(layer) is layer
    assert not plan.samples_independent(MyConv(1, 1, 1))


def test_a_layer_whose_forward_was_replaced_on_the_instance_runs_as_written(rng):
    conv = nn.Conv2d(1, 2, 3, dtype=np.float64)
    seen, forward = [], conv.forward
    conv.forward = lambda x: seen.append(x.shape) or forward(x)  # a hook, as a monitor might add
    fast = Engine(nn.Sequential(conv, nn.ReLU()))
    fast(rng.standard_normal((2, 1, 5, 5)))
    assert seen == [(2, 1, 5, 5)] and plan.fast(conv) is conv
    assert not plan.samples_independent(conv)  # a hook stays in this process: no chunks
    del conv.forward
    assert isinstance(plan.fast(conv), FastLayer)


def test_whole_batch_layers_are_sample_independent_only_in_eval_mode():
    for layer in (nn.Dropout(), nn.BatchNorm2d(2)):
        assert not plan.samples_independent(layer)
        assert plan.samples_independent(layer.eval())
