"""CrossEntropyLoss against PyTorch: reductions, gradients, huge logits, ln 10 at init, bad targets."""

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import handgrad
from handgrad import nn
from torch_helpers import assert_close, assert_gradcheck, lenet5

REDUCTIONS = ["mean", "sum", "none"]


def torch_loss(logits, targets, reduction, grad_out=None):
    z = torch.tensor(logits, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z, torch.tensor(targets, dtype=torch.int64), reduction=reduction)
    loss.backward(None if grad_out is None else torch.tensor(grad_out))
    return loss.detach().numpy(), z.grad.numpy()


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 16), k=st.integers(1, 12), reduction=st.sampled_from(REDUCTIONS),
       dtype=st.sampled_from([np.float32, np.float64]), scale=st.sampled_from([0.01, 1.0, 30.0]),
       seed=st.integers(0, 2**32 - 1))
def test_cross_entropy_matches_torch(n, k, reduction, dtype, scale, seed):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((n, k))).astype(dtype)
    targets = rng.integers(0, k, n)
    loss_fn = nn.CrossEntropyLoss(reduction=reduction)
    loss = loss_fn(logits, targets)
    grad_out = rng.standard_normal(n).astype(dtype) if reduction == "none" else None
    grad = loss_fn.backward() if grad_out is None else loss_fn.backward(grad_out)
    ref_loss, ref_grad = torch_loss(logits, targets, reduction, grad_out)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.shape == (n,) and loss.dtype == dtype
    else:
        assert isinstance(loss, float)
    assert grad.dtype == dtype and grad.shape == logits.shape
    assert_close(loss, ref_loss, dtype=dtype, what="loss")
    assert_close(grad, ref_grad, dtype=dtype, what="gradient")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_are_finite_and_exact(reduction, dtype):
    rng = np.random.default_rng(0)
    logits = rng.choice([-1e4, 1e4], size=(6, 5)) + rng.standard_normal((6, 5))
    logits[0] = [1e4, 1e4, -1e4, 1e4 - 1, -1e4]  # ties at the top
    logits[1] = [-1e4] * 5                         # all hugely negative
    logits = logits.astype(dtype)
    targets = np.array([0, 1, 2, 3, 4, 0])
    loss_fn = nn.CrossEntropyLoss(reduction)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        loss = loss_fn(logits, targets)
        grad = loss_fn.backward(np.ones(6, dtype) if reduction == "none" else 1.0)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    ref_loss, ref_grad = torch_loss(logits.astype(np.float64), targets, reduction,
                                    np.ones(6) if reduction == "none" else None)
    # compared with torch in float64: exact to float64 (or float32) rounding of the inputs
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol)


def test_huge_logits_by_hand():
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    logits = np.array([[1e4, 0.0], [0.0, 1e4], [1e4, 1e4]])
    losses = loss_fn(logits, np.array([0, 0, 1]))
    np.testing.assert_allclose(losses, [0.0, 1e4, math.log(2)], rtol=1e-15)


def test_initial_loss_of_fresh_lenet5_is_ln10():
    """A fresh 10-class model predicts ≈ uniformly: its loss is ln 10 ≈ 2.303 within 0.1."""
    handgrad.manual_seed(0)
    model = lenet5()
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28)).astype(np.float32)  # MNIST-scale pixels in [0, 1)
    y = rng.integers(0, 10, 64)
    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(model(x), y)
    assert abs(loss - math.log(10)) < 0.1
    grad = loss_fn.backward()
    assert grad.dtype == np.float32
    assert model.backward(grad).dtype == np.float32


MNIST = Path(__file__).resolve().parents[2] / "data" / "mnist"


@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="MNIST test files not shipped")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_initial_loss_of_fresh_lenet5_on_real_mnist_is_ln10(seed):
    n = 256
    with gzip.open(MNIST / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(16 + n * 784), np.uint8, offset=16).reshape(n, 1, 28, 28)
    with gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(8 + n), np.uint8, offset=8)
    handgrad.manual_seed(seed)
    loss = nn.CrossEntropyLoss()(lenet5()(images.astype(np.float32) / 255), labels)
    assert abs(loss - math.log(10)) < 0.1


def test_gradient_by_hand():
    loss_fn = nn.CrossEntropyLoss()
    logits = np.zeros((2, 4))
    assert loss_fn(logits, np.array([1, 3])) == pytest.approx(math.log(4), rel=1e-15)
    np.testing.assert_allclose(loss_fn.backward(), [[0.125, -0.375, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradcheck(reduction, rng):
    logits = rng.standard_normal((4, 5))
    targets = rng.integers(0, 5, 4)
    loss_fn = nn.CrossEntropyLoss(reduction)
    assert set(assert_gradcheck(loss_fn, [logits, targets])) == {"input"}
    assert_gradcheck((lambda z: loss_fn(z, targets), loss_fn.backward), [logits])


@pytest.mark.parametrize("targets, word", [
    (np.array([0, 1, 10]), "lie in"),              # out of range (10 classes)
    (np.array([0, -1, 2]), "lie in"),              # negative
    (np.array([0.0, 1.0, 2.0]), "integers"),       # float targets
    (np.array([True, False, True]), "integers"),   # booleans are not class indices
    (np.array([[0], [1], [2]]), "shape"),          # (N, 1)
    (np.array([0, 1]), "shape"),                   # wrong length
    (np.array([[0, 1, 2]]), "shape"),
])
def test_bad_targets_raise_value_error(targets, word):
    with pytest.raises(ValueError, match=word):
        nn.CrossEntropyLoss()(np.zeros((3, 10), np.float32), targets)


def test_bad_targets_message_names_the_expected_and_given_shapes():
    with pytest.raises(ValueError, match=r"targets must be integers of shape \(3,\), got int64 of shape \(2, 1\)$"):
        nn.CrossEntropyLoss()(np.zeros((3, 10), np.float32), np.zeros((2, 1), np.int64))


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_float32_batch_total_is_accumulated_in_float64(reduction):
    """A large per-sample loss does not swallow small ones: the total of a float32 batch is the
    float64 sum of its float32 per-sample losses. (Summed in float32, 16384 + 5 × 3.4e-4 rounds back
    to 16384: each small loss is under half a float32 ulp of 16384.)"""
    logits = np.array([[0.0, 16384.0]] + [[0.0, -8.0]] * 5, np.float32)   # losses 16384, then log(1 + e⁻⁸)
    targets = np.zeros(6, np.int64)
    losses = nn.CrossEntropyLoss("none")(logits, targets)
    assert losses.dtype == np.float32 and losses[0] == 16384 and 0 < losses[1] < 2.0**-11
    total = math.fsum(float(v) for v in losses)
    expected = total if reduction == "sum" else total / 6
    assert nn.CrossEntropyLoss(reduction)(logits, targets) == pytest.approx(expected, rel=1e-12, abs=0)


def test_uint8_and_int32_targets_accepted():
    logits = np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32)
    a = nn.CrossEntropyLoss()(logits, np.array([1, 2, 9], np.uint8))
    b = nn.CrossEntropyLoss()(logits, np.array([1, 2, 9], np.int32))
    c = nn.CrossEntropyLoss()(logits, [1, 2, 9])
    assert a == b == c


def test_bad_logits_and_reduction():
    with pytest.raises(ValueError, match="logits"):
        nn.CrossEntropyLoss()(np.zeros(10, np.float32), np.array([1]))
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="average")


def test_backward_without_forward_and_alias():
    with pytest.raises(RuntimeError, match="backward.*forward"):
        nn.CrossEntropyLoss().backward()
    assert nn.SoftmaxCrossEntropy is nn.CrossEntropyLoss


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_float32_loss_gradient_stays_float32(reduction, rng):
    loss_fn = nn.CrossEntropyLoss(reduction)
    loss = loss_fn(rng.standard_normal((5, 3)).astype(np.float32), rng.integers(0, 3, 5))
    grad = loss_fn.backward(np.ones(5, np.float32) if reduction == "none" else 1.0)
    assert grad.dtype == np.float32
    if reduction == "none":
        assert loss.dtype == np.float32
