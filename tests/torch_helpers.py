"""PyTorch as the ground truth: build the torch twin of a handgrad module, copy the state
across, run forward and backward on both with the same input and upstream gradient, and
compare output, input gradient, parameter gradients and buffers. `path="engine"` runs the
handgrad module through `handgrad.engine.Engine` (its fast versions, the execution order,
chunks) instead of its own textbook code: the oracle tests run on both paths.

Import from tests as `from torch_helpers import ...` (tests/ is on sys.path via conftest).
"""

from __future__ import annotations

import numpy as np
import torch

from handgrad import nn
from handgrad.engine import Engine

# The tensors here are tiny: torch's intra-op thread pool only adds overhead (BatchNorm on two
# cores takes ~80 ms per call with 2 threads, ~0.1 ms with one).
torch.set_num_threads(1)

PATHS = ("reference", "engine")  # the module's own code; the engine's
TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def tolerances(dtype) -> tuple[float, float]:
    """(rtol, atol) for comparisons with torch; atol is later scaled by the reference's magnitude."""
    return (1e-5, 1e-5) if np.dtype(dtype) == np.float32 else (1e-10, 1e-10)


def assert_close(actual, expected, dtype=None, rtol=None, atol=None, what: str = ""):
    """Elementwise |a − e| ≤ atol·max(1, max|e|) + rtol·|e|, shapes equal."""
    actual = np.asarray(actual)
    expected = expected.detach().cpu().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    dtype = expected.dtype if dtype is None else dtype
    default_rtol, default_atol = tolerances(dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64), rtol=rtol,
                               atol=atol * scale, err_msg=what)


def torch_twin(module: nn.Module) -> torch.nn.Module:
    """The equivalent torch.nn module (same hyper-parameters, no state copied yet)."""
    t = torch.nn
    if isinstance(module, nn.Sequential):
        return t.Sequential(*(torch_twin(m) for m in module))
    if isinstance(module, nn.Linear):
        return t.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    if isinstance(module, nn.Conv2d):
        return t.Conv2d(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                        padding=module.padding, bias=module.bias is not None)
    if isinstance(module, nn.MaxPool2d):
        return t.MaxPool2d(module.kernel_size, stride=module.stride, padding=module.padding)
    if isinstance(module, nn.AvgPool2d):
        return t.AvgPool2d(module.kernel_size, stride=module.stride, padding=module.padding,
                           count_include_pad=module.count_include_pad)
    if isinstance(module, nn.BatchNorm1d):
        return t.BatchNorm1d(module.num_features, eps=module.eps, momentum=module.momentum)
    if isinstance(module, nn.BatchNorm2d):
        return t.BatchNorm2d(module.num_features, eps=module.eps, momentum=module.momentum)
    if isinstance(module, nn.LeakyReLU):
        return t.LeakyReLU(module.negative_slope)
    if isinstance(module, nn.Flatten):
        return t.Flatten(module.start_dim, module.end_dim)
    if isinstance(module, nn.Dropout):
        return t.Dropout(module.p)
    for ours, theirs in ((nn.ReLU, t.ReLU), (nn.Tanh, t.Tanh), (nn.Sigmoid, t.Sigmoid)):
        if isinstance(module, ours):
            return theirs()
    raise TypeError(f"no torch twin for {type(module).__name__}")


def to_torch_state(state_dict) -> dict:
    return {key: torch.tensor(np.asarray(value)) for key, value in state_dict.items()}


def torch_copy(module: nn.Module, dtype) -> torch.nn.Module:
    """torch twin of `module` holding its exact state, in `dtype`, in the same train/eval mode."""
    twin = torch_twin(module).to(TORCH_DTYPE[np.dtype(dtype)])
    twin.load_state_dict(to_torch_state(module.state_dict()))
    twin.train(module.training)
    return twin


def run_torch(twin: torch.nn.Module, x: np.ndarray, grad_out: np.ndarray):
    """(output, input grad) of the torch module, as tensors; parameter grads stay on the module."""
    xt = torch.tensor(x, requires_grad=True)
    yt = twin(xt)
    yt.backward(torch.tensor(grad_out))
    return yt.detach(), xt.grad


def runner(module: nn.Module, path: str):
    """What runs `module` on `path`: the module itself, or an Engine around it."""
    assert path in PATHS, path
    return module if path == "reference" else Engine(module)


def compare_with_torch(module: nn.Module, x: np.ndarray, grad_out: np.ndarray | None = None, *, rtol=None,
                       atol=None, rng=None, check_state_after: bool = True, path: str = "reference"):
    """Forward/backward `module` (on `path`) and its torch twin on the same data; assert every
    number agrees.

    `module` must hold parameters of x's dtype. Returns (y, dx) of handgrad.
    """
    dtype = x.dtype
    twin = torch_copy(module, dtype)
    run = runner(module, path)
    y = run(x)
    assert isinstance(y, np.ndarray) and y.dtype == dtype, f"output dtype {getattr(y, 'dtype', type(y))} != {dtype}"
    if grad_out is None:
        rng = np.random.default_rng(0) if rng is None else rng
        grad_out = rng.standard_normal(y.shape).astype(dtype)
    dx = run.backward(grad_out)
    assert dx.dtype == dtype, f"input-gradient dtype {dx.dtype} != {dtype}"
    yt, dxt = run_torch(twin, x, grad_out)
    kw = dict(dtype=dtype, rtol=rtol, atol=atol)
    assert_close(y, yt, what="output", **kw)
    assert_close(dx, dxt, what="input gradient", **kw)
    torch_params = dict(twin.named_parameters())
    names = [name for name, _ in module.named_parameters()]
    assert names == list(torch_params), f"parameter names {names} != {list(torch_params)}"
    for name, param in module.named_parameters():
        assert param.grad is not None and param.grad.dtype == dtype, f"{name}.grad"
        assert_close(param.grad, torch_params[name].grad, what=f"{name}.grad", **kw)
    if check_state_after:
        compare_state(module, twin, **kw)
    return y, dx


def compare_state(module: nn.Module, twin: torch.nn.Module, **kw):
    """Every state-dict entry (parameters and buffers, incl. num_batches_tracked) agrees."""
    ours, theirs = module.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs), f"state keys {list(ours)} != {list(theirs)}"
    for key, value in ours.items():
        ref = theirs[key]
        if key.endswith("num_batches_tracked"):
            assert value.dtype == np.int64 and value.shape == () and int(value) == int(ref), key
        else:
            assert_close(value, ref, what=key, **kw)


def lenet5(namespace=nn):
    """DESIGN.md's LeNet-5 (28x28 input) from `handgrad.nn` or `torch.nn`: the same list of layers."""
    ns = namespace
    return ns.Sequential(
        ns.Conv2d(1, 6, 5, padding=2), ns.ReLU(), ns.MaxPool2d(2),
        ns.Conv2d(6, 16, 5), ns.ReLU(), ns.MaxPool2d(2),
        ns.Conv2d(16, 120, 5), ns.ReLU(), ns.Flatten(),
        ns.Linear(120, 84), ns.ReLU(), ns.Linear(84, 10),
    )


def assert_gradcheck(module_or_fn, inputs, tol: float = 1e-7, **kwargs):
    """handgrad.check.gradcheck with every relative error below `tol`; returns the errors."""
    from handgrad.check import gradcheck

    errors = gradcheck(module_or_fn, inputs, **kwargs)
    bad = {name: err for name, err in errors.items() if not err < tol}
    assert not bad, f"gradcheck errors above {tol}: {bad} (all: {dict(errors)})"
    return errors
