"""Denormal floats are flushed to zero during an optimizer step, and only there."""

import ctypes
import ctypes.util
import platform
import sys

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


ON_X86_64_LINUX = sys.platform.startswith("linux") and platform.machine() == "x86_64"
on_x86_64_linux = pytest.mark.skipif(not ON_X86_64_LINUX, reason="the C library is looked up on x86-64 Linux")


def flushes() -> bool:
    with denormals.flush_denormals():
        return halved(SMALLEST_NORMAL) == 0


@pytest.mark.parametrize(
    "system,machine,supported",
    [
        pytest.param("linux", "x86_64", True, marks=on_x86_64_linux),
        ("linux", "aarch64", False),
        ("darwin", "x86_64", False),
        ("win32", "AMD64", False),
    ],
)
def test_flushing_is_on_on_x86_64_linux_and_a_no_op_elsewhere(monkeypatch, system, machine, supported):
    """The module docstring: x86-64 Linux flushes, every other platform runs the block as it is.
    The C library is looked up afresh under the platform given."""
    monkeypatch.setattr(sys, "platform", system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    libm = denormals._libm()
    monkeypatch.undo()
    monkeypatch.setattr(denormals, "_LIBM", libm)
    assert flushes() == supported
    assert halved(SMALLEST_NORMAL) > 0  # and restored after


@on_x86_64_linux
def test_flushing_does_not_need_find_library(monkeypatch):
    """Where ctypes.util.find_library finds no libm (no ldconfig, no compiler: a slim
    container), glibc's soname libm.so.6 is loaded."""
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(denormals, "_LIBM", denormals._libm())
    assert flushes()


class _FakeLibm:
    """A C library with only some of the functions (glibc before 2.25 has neither)."""

    def __init__(self, *names):
        for name in names:
            setattr(self, name, lambda mode: 0)


@on_x86_64_linux
@pytest.mark.parametrize("names", [(), ("fegetmode",), ("fesetmode",)])
def test_a_c_library_without_fegetmode_and_fesetmode_is_not_used(monkeypatch, names):
    monkeypatch.setattr(ctypes, "CDLL", lambda name: _FakeLibm(*names))
    monkeypatch.setattr(denormals, "_LIBM", denormals._libm())
    assert not flushes()  # a no-op, not an AttributeError
