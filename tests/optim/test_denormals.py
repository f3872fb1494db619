"""Denormal floats are flushed to zero during an optimizer step, and only there."""

import numpy as np
import pytest
import torch

from handgrad import optim
from handgrad.nn.module import Parameter
from handgrad.optim import denormals

SMALLEST_NORMAL = np.finfo(np.float32).tiny
needs_flushing = pytest.mark.skipif(denormals._LIBM is None, reason="flushing denormals is supported on x86-64 Linux")


def halved(value) -> np.float32:
    return np.float32(value) * np.float32(0.5)


@needs_flushing
def test_denormals_are_zero_inside_and_restored_after():
    denormal = halved(SMALLEST_NORMAL)
    assert 0 < denormal < SMALLEST_NORMAL  # before
    with denormals.flush_denormals():
        assert halved(SMALLEST_NORMAL) == 0  # results flushed
        assert np.array([denormal]) * np.float32(1) == 0  # inputs read as zero
    assert halved(SMALLEST_NORMAL) == denormal


@needs_flushing
def test_mode_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with denormals.flush_denormals():
            raise KeyError("inside")
    assert halved(SMALLEST_NORMAL) > 0


@pytest.mark.parametrize("name,kwargs", [("Adam", {}), ("SGD", dict(lr=0.1, momentum=0.9)), ("RMSprop", dict(alpha=0.9))])
def test_decaying_state_stays_normal_and_parameters_match_torch(name, kwargs):
    """A gradient that is zero after the first step: the running averages decay towards the
    denormal range (Adam's exp_avg by 0.9 a step reaches it after ~800 steps). handgrad's
    state stays out of it, and the parameters still equal PyTorch's."""
    start = np.linspace(-1, 1, 64, dtype=np.float32)
    param, tparam = Parameter(start.copy()), torch.tensor(start.copy(), requires_grad=True)
    opt, topt = getattr(optim, name)([param], **kwargs), getattr(torch.optim, name)([tparam], foreach=False, **kwargs)
    first = np.linspace(0.5, 1.5, 64, dtype=np.float32)
    for step in range(1000):
        grad = first if step == 0 else np.zeros_like(first)
        opt.zero_grad()
        param.accumulate(grad)
        tparam.grad = torch.tensor(grad.copy())
        opt.step()
        topt.step()
    np.testing.assert_allclose(param.data, tparam.detach().numpy(), rtol=1e-6, atol=1e-7)
    arrays = [value for value in opt.state[param].values() if isinstance(value, np.ndarray)]
    if denormals._LIBM is not None:
        assert not any(((a != 0) & (np.abs(a) < SMALLEST_NORMAL)).any() for a in arrays)
