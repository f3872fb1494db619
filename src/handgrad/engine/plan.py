"""What the engine runs for a model: its layers in the order they run, each as its fast
version where the engine has one, and the passes that run them.

The fast version of each textbook layer is chosen in one line of `FAST`. A layer of any
other class, your own included, runs as written; so does one whose `forward` or `backward`
was replaced on the instance (a hook that wraps it must see it run). The layers of nested `Sequential`s are
run as one list. One rewrite changes the order without changing a number: a ReLU followed by
a MaxPool2d runs as pool-then-ReLU (max and ReLU commute, and both send each window's
gradient to the same element), so the ReLU touches a quarter of the data.
"""

from __future__ import annotations

from handgrad import nn
from handgrad.engine.conv import FastConv2d
from handgrad.engine.dense import FastFlatten, FastLinear
from handgrad.engine.pooling import TiledMaxPool2d

FAST = {
    nn.Conv2d: FastConv2d,
    nn.MaxPool2d: TiledMaxPool2d,
    nn.Linear: FastLinear,
    nn.Flatten: FastFlatten,
}

# Layers whose output and input gradient for sample n depend on sample n alone (and on no
# random stream), so that a batch may run in chunks; Dropout and BatchNorm only in eval mode
# (in training: one random stream, statistics of the whole batch).
SAMPLEWISE = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten,
              nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)
SAMPLEWISE_IN_EVAL = (nn.Dropout, nn.BatchNorm1d, nn.BatchNorm2d)
REPLACEABLE = {"forward", "backward", "backward_parameters"}  # methods a hook may wrap on an instance


def fast(layer):
    """The engine's version of `layer` (a new one, with an empty cache), or the layer itself."""
    kind = FAST.get(type(layer))
    if kind is None or replaced(layer):
        return layer
    return kind(layer)


def replaced(layer) -> bool:
    """True when a hook replaced the layer's forward or backward on the instance."""
    return bool(REPLACEABLE & vars(layer).keys())


def samples_independent(layer) -> bool:
    """True when the layer may run in chunks (a replaced method keeps it in this process)."""
    kind = type(layer)
    return (kind in SAMPLEWISE or (kind in SAMPLEWISE_IN_EVAL and not layer.training)) and not replaced(layer)


def leaves(module) -> list:
    """The modules of `module` that run in turn: those of every (nested) Sequential in it."""
    if type(module) is not nn.Sequential:
        return [module]
    return [leaf for child in module for leaf in leaves(child)]


def execution_order(layers: list) -> list:
    """The layers in the order they run (ReLU, MaxPool2d pairs swapped)."""
    order, i = [], 0
    while i < len(layers):
        if i + 1 < len(layers) and type(layers[i]) is nn.ReLU and type(layers[i + 1]) is nn.MaxPool2d:
            order += [layers[i + 1], layers[i]]
            i += 2
        else:
            order.append(layers[i])
            i += 1
    return order


def forward(steps: list, x):
    for step in steps:
        x = step(x)
    return x


def backward(steps: list, grad_out):
    for step in reversed(steps):
        grad_out = step.backward(grad_out)
    return grad_out


def backward_parameters(steps: list, grad_out) -> None:
    steps[0].backward_parameters(backward(steps[1:], grad_out))


PASSES = {"forward": forward, "backward": backward, "backward_parameters": backward_parameters}
