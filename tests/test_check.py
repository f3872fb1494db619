"""handgrad.check.gradcheck: small errors for correct backward passes, LARGE ones for wrong ones
(the check can fail), (forward, backward) pairs, and the user's module left untouched."""

import numpy as np
import pytest

import handgrad
from handgrad import nn
from handgrad.check import gradcheck


class Scale(nn.Module):
    """y = w·x with a hand-written backward that can be made wrong on purpose."""

    def __init__(self, input_factor=1.0, weight_factor=1.0):
        super().__init__()
        self.weight = nn.Parameter(np.array([1.5, -0.5, 2.0], np.float32))
        self.input_factor, self.weight_factor = input_factor, weight_factor

    def forward(self, x):
        self._save(x)
        return x * self.weight.data

    def backward(self, grad_out):
        (x,) = self._take()
        self.weight.accumulate(self.weight_factor * np.sum(grad_out * x, axis=0))
        return self.input_factor * grad_out * self.weight.data


class WrongLinear(nn.Linear):
    """A Linear whose input gradient is off by a factor 2."""

    def backward(self, grad_out):
        return 2 * super().backward(grad_out)


def test_correct_module_gives_tiny_errors(rng):
    errors = gradcheck(Scale(), rng.standard_normal((4, 3)))
    assert list(errors) == ["input", "weight"]
    assert all(0 <= e < 1e-8 for e in errors.values())


@pytest.mark.parametrize("module, x_shape", [
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(),
                           nn.Linear(2 * 2 * 2, 3)), (2, 1, 4, 4)),
    (lambda: nn.Sequential(nn.Linear(4, 5, bias=False), nn.BatchNorm1d(5), nn.LeakyReLU(0.1), nn.Linear(5, 2)), (3, 4)),
    (lambda: nn.Sequential(nn.Conv2d(2, 2, (2, 3), stride=(1, 2), bias=False), nn.BatchNorm2d(2), nn.Sigmoid(),
                           nn.AvgPool2d(2, padding=1)), (2, 2, 4, 5)),
])
def test_composite_models_pass(module, x_shape, rng):
    # (no bias right before a training-mode batch norm: its true gradient is exactly 0, and a
    # relative error of 0 against rounding noise is ~1)
    errors = gradcheck(module(), rng.standard_normal(x_shape))
    assert errors and all(e < 1e-7 for e in errors.values()), errors


def test_wrong_input_gradient_gives_large_error(rng):
    errors = gradcheck(Scale(input_factor=2.0), rng.standard_normal((4, 3)))
    assert errors["input"] == pytest.approx(1 / 3, rel=1e-5)   # |2a − a| / (|2a| + |a|)
    assert errors["weight"] < 1e-8
    errors = gradcheck(WrongLinear(3, 2), rng.standard_normal((4, 3)))
    assert errors["input"] > 0.3 and errors["weight"] < 1e-7 and errors["bias"] < 1e-7


def test_wrong_parameter_gradient_gives_large_error(rng):
    errors = gradcheck(Scale(weight_factor=2.0), rng.standard_normal((4, 3)))
    assert errors["input"] < 1e-8 and errors["weight"] > 0.3


def test_wrong_layer_inside_a_model_is_caught(rng):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), WrongLinear(4, 2))
    errors = gradcheck(model, rng.standard_normal((5, 3)))
    assert errors["input"] > 0.1 and errors["0.weight"] > 0.1  # everything below the wrong layer
    assert errors["2.weight"] < 1e-7 and errors["2.bias"] < 1e-7


def test_forward_backward_pair(rng):
    w = rng.standard_normal((3, 3))
    x = rng.standard_normal((2, 3))
    state = {}

    def forward(x):
        state["y"] = np.tanh(x @ w)
        return state["y"]

    def backward(g):
        return (g * (1 - state["y"] ** 2)) @ w.T

    errors = gradcheck((forward, backward), x)
    assert list(errors) == ["input"] and errors["input"] < 1e-8
    wrong = gradcheck((forward, lambda g: 2 * backward(g)), x)
    assert wrong["input"] > 0.3


def test_pair_with_several_inputs_and_integer_inputs(rng):
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    idx = np.array([2, 0, 1])
    errors = gradcheck((lambda a, b: a * b, lambda g: (g * b, g * a)), [a, b])
    assert list(errors) == ["input0", "input1"] and max(errors.values()) < 1e-8
    errors = gradcheck((lambda a, i, b: a[i] * b, lambda g: (np.eye(3)[:, [2, 0, 1]] @ (g * b), g * a[idx])),
                       [a, idx, b])
    assert list(errors) == ["input0", "input2"] and max(errors.values()) < 1e-8  # the integer input is skipped


def test_scalar_output(rng):
    x = rng.standard_normal(5)
    errors = gradcheck((lambda x: float(np.sum(x**2)), lambda g: 2 * g * x), x)
    assert errors["input"] < 1e-8


def test_users_module_is_left_untouched(rng):
    handgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2))
    before = model.state_dict()
    x = rng.standard_normal((6, 3)).astype(np.float32)
    errors = gradcheck(model, x)
    assert all(e < 1e-7 for e in errors.values()), errors
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert list(after) == list(before)
    for key in before:
        assert after[key].dtype == before[key].dtype
        np.testing.assert_array_equal(after[key], before[key])  # running stats and counts unchanged
    assert model[0]._cache is None and model.training
    assert x.dtype == np.float32  # the input is not cast in place
    y = model(x)
    assert y.dtype == np.float32


def test_global_generator_advances_as_after_one_forward(rng):
    x = rng.standard_normal((4, 5))
    handgrad.manual_seed(7)
    gradcheck(nn.Dropout(0.5), x)
    after_check = handgrad.default_generator().random(3)
    handgrad.manual_seed(7)
    nn.Dropout(0.5)(x)
    after_forward = handgrad.default_generator().random(3)
    np.testing.assert_array_equal(after_check, after_forward)


def test_dropout_mask_replayed_for_global_and_explicit_generators(rng):
    x = rng.standard_normal((4, 5))
    assert gradcheck(nn.Dropout(0.5), x)["input"] < 1e-8
    model = nn.Sequential(nn.Linear(5, 6), nn.Dropout(0.4, rng=np.random.default_rng(3)), nn.Linear(6, 2))
    errors = gradcheck(model, x.astype(np.float32))
    assert all(e < 1e-7 for e in errors.values()), errors


def test_eps_and_seed_arguments(rng):
    x = rng.standard_normal((3, 3))
    a = gradcheck(nn.Tanh(), x, eps=1e-5, seed=1)
    b = gradcheck(nn.Tanh(), x, eps=1e-5, seed=1)
    c = gradcheck(nn.Tanh(), x, eps=1e-5, seed=2)
    assert a == b and a["input"] < 1e-8 and c["input"] < 1e-8
