"""BatchNorm1d/2d against PyTorch over several steps (outputs, gradients, running statistics,
num_batches_tracked), train vs eval, and the numeric gradient check."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from handgrad import nn
from torch_helpers import assert_close, assert_gradcheck, compare_state, run_torch, torch_copy

DTYPES = [np.float32, np.float64]


def make(kind, c, dtype, momentum=0.1, eps=1e-5):
    cls = nn.BatchNorm1d if kind == "1d" else nn.BatchNorm2d
    return cls(c, eps=eps, momentum=momentum, dtype=dtype)


def input_shape(kind, n, c, h=3, w=4):
    return (n, c) if kind == "1d" else (n, c, h, w)


def randomise_affine(bn, rng):
    bn.weight.data[...] = rng.uniform(0.5, 2.0, bn.weight.shape)
    bn.bias.data[...] = rng.standard_normal(bn.bias.shape)


def well_spread_batch(shape, dtype, rng):
    """3 + 2.5·N(0, 1) values whose batch std per channel is at least 1. A tiny batch (two values)
    can by chance be nearly constant, and normalising it is then ill-conditioned in float32:
    the two libraries' roundings differ by far more than 1e-5 though both are correct."""
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    while True:
        x = 3.0 + 2.5 * rng.standard_normal(shape)
        if x.std(axis=axes).min() >= 1.0:
            return x.astype(dtype)


def steps_against_torch(bn, kind, shapes, dtype, rng, eval_after=True):
    """Several training steps on fresh batches (offset and scaled, so the statistics matter),
    comparing with torch after each; then eval-mode forward/backward."""
    twin = torch_copy(bn, dtype)
    kw = dict(dtype=dtype)
    for shape in shapes:
        x = well_spread_batch(shape, dtype, rng)
        g = rng.standard_normal(shape).astype(dtype)
        bn.zero_grad(); twin.zero_grad()
        y = bn(x)
        dx = bn.backward(g)
        yt, dxt = run_torch(twin, x, g)
        assert y.dtype == dtype and dx.dtype == dtype
        assert_close(y, yt, what="output", **kw)
        assert_close(dx, dxt, what="input gradient", **kw)
        assert_close(bn.weight.grad, twin.weight.grad, what="weight.grad", **kw)
        assert_close(bn.bias.grad, twin.bias.grad, what="bias.grad", **kw)
        compare_state(bn, twin, **kw)
        assert bn.running_mean.dtype == dtype and bn.running_var.dtype == dtype
    if eval_after:
        bn.eval(); twin.eval()
        x = (3.0 + 2.5 * rng.standard_normal(shapes[0])).astype(dtype)
        g = rng.standard_normal(shapes[0]).astype(dtype)
        bn.zero_grad(); twin.zero_grad()
        y, dx = bn(x), bn.backward(g)
        yt, dxt = run_torch(twin, x, g)
        assert_close(y, yt, what="eval output", **kw)
        assert_close(dx, dxt, what="eval input gradient", **kw)
        assert_close(bn.weight.grad, twin.weight.grad, what="eval weight.grad", **kw)
        compare_state(bn, twin, **kw)


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(["1d", "2d"]), dtype=st.sampled_from(DTYPES), c=st.integers(1, 5),
       momentum=st.sampled_from([0.1, None, 0.3, 1.0]), eps=st.sampled_from([1e-5, 1e-3]),
       n=st.integers(1, 6), h=st.integers(1, 5), w=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_batchnorm_matches_torch_over_steps(kind, dtype, c, momentum, eps, n, h, w, seed):
    if kind == "1d":
        n = max(n, 2)
    elif n * h * w < 2:
        h = 2
    rng = np.random.default_rng(seed)
    bn = make(kind, c, dtype, momentum, eps)
    randomise_affine(bn, rng)
    shapes = [input_shape(kind, n, c, h, w), input_shape(kind, n + 1, c, h, w), input_shape(kind, n, c, h, w)]
    steps_against_torch(bn, kind, shapes, dtype, rng)
    assert int(bn.num_batches_tracked) == 3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_running_statistics_after_many_steps(kind, momentum, dtype, rng):
    bn = make(kind, 3, dtype, momentum)
    steps_against_torch(bn, kind, [input_shape(kind, 8, 3)] * 6, dtype, rng)
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    assert int(bn.num_batches_tracked) == 6


def test_cumulative_average_with_momentum_none(rng):
    """momentum=None: running_mean is the plain mean of the batch means."""
    bn = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    means, vars_ = [], []
    for _ in range(4):
        x = rng.standard_normal((5, 2)) * 2 + 1
        bn(x)
        means.append(x.mean(axis=0))
        vars_.append(x.var(axis=0, ddof=1))
    np.testing.assert_allclose(bn.running_mean, np.mean(means, axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, np.mean(vars_, axis=0), rtol=1e-12)


def test_momentum_update_formula_unbiased_running_var(rng):
    bn = nn.BatchNorm2d(2, dtype=np.float64)
    x = rng.standard_normal((3, 2, 2, 2))
    y = bn(x)
    m = 3 * 2 * 2
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3)) * m / (m - 1), rtol=1e-12)
    # normalisation uses the biased variance
    x_hat = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, x_hat, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_eval_uses_running_statistics_and_does_not_update(kind, rng):
    bn = make(kind, 3, np.float64)
    bn.running_mean[...] = [1.0, -2.0, 0.5]
    bn.running_var[...] = [4.0, 0.25, 1.0]
    bn.eval()
    assert bn.training is False
    x = rng.standard_normal(input_shape(kind, 1, 3))  # a batch of one is fine in eval mode
    y = bn(x)
    shape = (1, 3) + (1,) * (x.ndim - 2)
    expected = (x - bn.running_mean.reshape(shape)) / np.sqrt(bn.running_var.reshape(shape) + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert int(bn.num_batches_tracked) == 0
    np.testing.assert_array_equal(bn.running_mean, [1.0, -2.0, 0.5])


def test_train_and_eval_outputs_differ(rng):
    bn = nn.BatchNorm1d(4)
    x = (5 + rng.standard_normal((16, 4))).astype(np.float32)
    train_out = bn(x)
    bn.eval()
    eval_out = bn(x)
    assert not np.allclose(train_out, eval_out)
    np.testing.assert_allclose(train_out.mean(axis=0), 0, atol=1e-5)


@pytest.mark.parametrize("shape, cls", [((1, 3), nn.BatchNorm1d), ((1, 3, 1, 1), nn.BatchNorm2d)])
def test_one_value_per_channel_in_training_raises(shape, cls):
    bn = cls(3)
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: expected more than 1 value per channel when training, "
                                         rf"got shape \({shape[0]}, 3"):
        bn(np.zeros(shape, np.float32))
    with pytest.raises(ValueError):  # torch refuses it too
        torch.nn.BatchNorm1d(3)(torch.zeros(1, 3)) if cls is nn.BatchNorm1d else \
            torch.nn.BatchNorm2d(3)(torch.zeros(1, 3, 1, 1))
    assert int(bn.num_batches_tracked) == 0
    bn.eval()
    assert bn(np.ones(shape, np.float32)).shape == shape


def test_batch_of_one_image_is_fine_for_batchnorm2d(rng):
    bn = nn.BatchNorm2d(2, dtype=np.float64)
    steps_against_torch(bn, "2d", [(1, 2, 3, 3)], np.float64, rng)


@pytest.mark.parametrize("kind, shape", [("1d", (2, 3, 4)), ("1d", (4, 2)), ("2d", (4, 3)), ("2d", (2, 4, 3, 3))])
def test_wrong_input_shape_raises(kind, shape):
    with pytest.raises(ValueError, match="BatchNorm"):
        make(kind, 3, np.float32)(np.zeros(shape, np.float32))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kind, shape", [("1d", (5, 3)), ("2d", (2, 3, 3, 2)), ("2d", (1, 2, 2, 3))])
def test_batchnorm_gradcheck(kind, shape, training, rng):
    bn = make(kind, shape[1], np.float64)
    randomise_affine(bn, rng)
    bn.running_mean[...] = rng.standard_normal(shape[1])
    bn.running_var[...] = rng.uniform(0.5, 2, shape[1])
    bn.train(training)
    errors = assert_gradcheck(bn, 2 * rng.standard_normal(shape) + 1)
    assert set(errors) == {"input", "weight", "bias"}


def test_state_keys_buffers_and_dtypes(rng):
    bn = nn.BatchNorm2d(4)
    ours = bn.state_dict()
    assert list(ours) == list(torch.nn.BatchNorm2d(4).state_dict()) == \
        ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert ours["num_batches_tracked"].dtype == np.int64 and ours["num_batches_tracked"].shape == ()
    assert all(ours[k].dtype == np.float32 for k in ("weight", "bias", "running_mean", "running_var"))
    # the buffers stay registered (and keep their dtypes) after training steps update them in place
    for _ in range(2):
        bn(rng.standard_normal((2, 4, 3, 3)).astype(np.float32))
    after = bn.state_dict()
    assert list(after) == list(ours)
    assert int(after["num_batches_tracked"]) == 2 and after["num_batches_tracked"].dtype == np.int64
    assert after["running_mean"].dtype == np.float32 and after["running_var"].dtype == np.float32
    assert [name for name, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]


def test_float32_stays_float32(rng):
    for bn, shape in ((nn.BatchNorm1d(3), (4, 3)), (nn.BatchNorm2d(3), (2, 3, 4, 4))):
        for mode in (True, False):
            bn.train(mode)
            y = bn(rng.standard_normal(shape).astype(np.float32))
            assert y.dtype == np.float32
            assert bn.backward(np.ones_like(y)).dtype == np.float32
            assert bn.weight.grad.dtype == np.float32


def test_backward_without_forward():
    with pytest.raises(RuntimeError, match="BatchNorm2d.*backward.*forward"):
        nn.BatchNorm2d(2).backward(np.zeros((2, 2, 1, 1), np.float32))
