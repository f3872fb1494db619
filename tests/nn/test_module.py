"""The Module contract: parameters, state dicts with PyTorch's keys (both directions), strict loading,
backward-before-forward, gradient accumulation, train/eval, dtype casts, Sequential."""

from collections import OrderedDict

import numpy as np
import pytest
import torch

import handgrad
from handgrad import nn
from torch_helpers import (PATHS, TORCH_DTYPE, assert_close, compare_with_torch, lenet5, runner, to_torch_state,
                           torch_copy, torch_twin)


def small_bn_model(dtype=np.float32):
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=dtype), nn.BatchNorm2d(4, dtype=dtype), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 8, dtype=dtype),
                         nn.BatchNorm1d(8, dtype=dtype), nn.Tanh(), nn.Dropout(0.3), nn.Linear(8, 3, dtype=dtype))


# -- parameters and state-dict keys ----------------------------------------------------------


def test_lenet5_parameter_count_and_keys_equal_torch():
    model = lenet5()
    assert sum(p.data.size for p in model.parameters()) == 61_706
    keys = list(model.state_dict())
    torch_keys = list(lenet5(torch.nn).state_dict())
    assert keys == torch_keys
    assert {k.split(".")[0] for k in keys} == {"0", "3", "6", "9", "11"}
    assert [name for name, _ in model.named_parameters()] == [n for n, _ in lenet5(torch.nn).named_parameters()]
    assert all(v.shape == tuple(t.shape) for v, t in zip(model.state_dict().values(),
                                                        lenet5(torch.nn).state_dict().values()))


def test_state_dict_with_buffers_matches_torch_keys_and_shapes():
    model = small_bn_model()
    ours, theirs = model.state_dict(), torch_twin(model).state_dict()
    assert isinstance(ours, OrderedDict)
    assert list(ours) == list(theirs)
    assert "1.num_batches_tracked" in ours and "6.running_var" in ours
    for key, value in ours.items():
        assert isinstance(value, np.ndarray) and value.shape == tuple(theirs[key].shape), key
    assert ours["1.num_batches_tracked"].dtype == np.int64 and ours["1.num_batches_tracked"].ndim == 0


def test_nested_modules_named_as_in_torch():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
            self.head = nn.Linear(2, 1)

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
            self.head = torch.nn.Linear(2, 1)

    net = Net()
    assert list(net.state_dict()) == list(TorchNet().state_dict())
    assert [name for name, _ in net.named_modules()] == [name for name, _ in TorchNet().named_modules()]
    assert len(list(net.modules())) == 5
    assert [name for name, _ in net.named_buffers()] == [name for name, _ in TorchNet().named_buffers()]


def test_state_dict_returns_copies():
    model = nn.Linear(3, 2)
    state = model.state_dict()
    state["weight"][...] = 7
    assert not (model.weight.data == 7).any()


def test_module_without_init_refuses_attributes():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.zeros(2))

    with pytest.raises(RuntimeError, match="Module.__init__"):
        Broken()


def test_reassigning_attributes_updates_registration():
    module = nn.Linear(2, 2)
    module.bias = None
    assert list(module.state_dict()) == ["weight"]
    module.bias = nn.Parameter(np.zeros(2, np.float32))
    assert list(module.state_dict()) == ["weight", "bias"]
    bn = nn.BatchNorm1d(2)
    bn.running_mean = np.full(2, 3.0, np.float32)  # assigning a buffer keeps it a buffer, as in torch
    assert "running_mean" in bn.state_dict() and (bn.state_dict()["running_mean"] == 3).all()


# -- load_state_dict ----------------------------------------------------------------------------


def test_load_state_dict_refuses_missing_unexpected_and_wrong_shape():
    model, other = small_bn_model(), small_bn_model()
    state = other.state_dict()
    missing = OrderedDict((k, v) for k, v in state.items() if k not in ("0.bias", "6.running_mean"))
    with pytest.raises(ValueError, match=r"missing keys: 0\.bias, 6\.running_mean"):
        model.load_state_dict(missing)
    extra = OrderedDict(state, **{"5.gamma": np.zeros(3), "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected keys: 5\.gamma, extra"):
        model.load_state_dict(extra)
    wrong = OrderedDict(state)
    wrong["5.weight"] = np.zeros((8, 35), np.float32)
    with pytest.raises(ValueError, match=r"5\.weight: shape \(8, 35\).*\(8, 36\)"):
        model.load_state_dict(wrong)
    wrong_nbt = OrderedDict(state)
    wrong_nbt["1.num_batches_tracked"] = np.array([3])
    with pytest.raises(ValueError, match=r"1\.num_batches_tracked"):
        model.load_state_dict(wrong_nbt)
    # a refused load changes nothing
    before = model.state_dict()
    with pytest.raises(ValueError):
        model.load_state_dict(OrderedDict(wrong, extra=np.zeros(1)))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_check_state_dict_refuses_as_load_does_and_copies_nothing():
    from handgrad.nn.mode import shapes_only

    model, state = small_bn_model(), small_bn_model().state_dict()
    before = model.state_dict()
    assert model.check_state_dict(state) == ([], [])
    wrong = OrderedDict((k, v) for k, v in state.items() if k != "0.bias")
    wrong["5.weight"] = np.zeros((8, 35), np.float32)
    with pytest.raises(ValueError) as checked:
        model.check_state_dict(wrong)
    with pytest.raises(ValueError) as loaded:
        model.load_state_dict(wrong)
    assert str(checked.value) == str(loaded.value) == ("cannot load state dict into Sequential: missing keys: 0.bias; "
                                                       "5.weight: shape (8, 35) in the state dict, (8, 36) in the model")
    assert model.check_state_dict({"0.weight": state["0.weight"]}, strict=False)[1] == []
    for key, value in model.state_dict().items():  # a check copies nothing
        np.testing.assert_array_equal(value, before[key])
    with shapes_only():  # a model without memory checks a state dict the same way
        placeholders = small_bn_model()
    assert placeholders.check_state_dict(state) == ([], [])
    with pytest.raises(ValueError, match=r"^cannot load state dict into Sequential: missing keys: 0\.bias; 5\.weight"):
        placeholders.check_state_dict(wrong)


def test_load_state_dict_non_strict():
    model, other = small_bn_model(), small_bn_model()
    state = other.state_dict()
    partial = OrderedDict((k, v) for k, v in state.items() if not k.startswith("9."))
    partial["head.weight"] = np.zeros(1)
    missing, unexpected = model.load_state_dict(partial, strict=False)
    assert missing == ["9.weight", "9.bias"] and unexpected == ["head.weight"]
    np.testing.assert_array_equal(model[0].weight.data, other[0].weight.data)
    assert not np.array_equal(model[9].weight.data, other[9].weight.data)
    with pytest.raises(ValueError, match="shape"):  # shapes are still checked, as in torch
        model.load_state_dict({"0.weight": np.zeros((1, 1))}, strict=False)


def test_load_state_dict_copies_and_casts_to_existing_dtype():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    weight_array = model[0].weight.data
    state = {k: v.astype(np.float64) + 0.1 if v.dtype.kind == "f" else v for k, v in model.state_dict().items()}
    state["1.num_batches_tracked"] = np.array(5.0)  # even a float count lands as int64
    model.load_state_dict(state)
    assert model[0].weight.data is weight_array and weight_array.dtype == np.float32  # copied into, cast
    np.testing.assert_allclose(model[0].weight.data, state["0.weight"], rtol=1e-6)
    assert model[1].num_batches_tracked.dtype == np.int64 and int(model[1].num_batches_tracked) == 5
    state["0.weight"][...] = 99  # later changes to the source do not leak in
    assert not (model[0].weight.data == 99).any()
    # float64 values into a float64 model: copied exactly, no detour through float32
    model.double()
    exact = {k: np.random.default_rng(1).standard_normal(v.shape) if v.dtype.kind == "f" else v
             for k, v in model.state_dict().items()}
    model.load_state_dict(exact)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, exact[key])
        assert value.dtype == exact[key].dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_handgrad_state_loads_into_torch_with_identical_outputs(dtype):
    handgrad.manual_seed(1)
    model = small_bn_model(dtype)
    rng = np.random.default_rng(0)
    for _ in range(2):  # train a little so the running statistics are not the defaults
        model(rng.standard_normal((4, 2, 6, 6)).astype(dtype))
    model.eval()
    twin = torch_twin(model).to(torch.float64 if dtype == np.float64 else torch.float32)
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    twin.eval()
    assert int(twin[1].num_batches_tracked) == 2
    x = rng.standard_normal((3, 2, 6, 6)).astype(dtype)
    assert_close(model(x), twin(torch.tensor(x)), dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_state_loads_into_handgrad_with_identical_outputs(dtype):
    torch.manual_seed(0)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    twin = lenet5(torch.nn).to(tdtype)
    model = lenet5()
    if dtype == np.float64:
        model.double()
    model.load_state_dict(twin.state_dict())  # torch tensors straight in
    for key, value in twin.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value.numpy())
    x = np.random.default_rng(0).random((5, 1, 28, 28)).astype(dtype)
    assert_close(model(x), twin(torch.tensor(x)), dtype=dtype)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lenet5_forward_backward_matches_torch(dtype, path):
    handgrad.manual_seed(3)
    model = lenet5()
    if dtype == np.float64:
        model.double()
    x = np.random.default_rng(1).random((3, 1, 28, 28)).astype(dtype)
    compare_with_torch(model, x, path=path)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_model_with_batchnorm_matches_torch_train_and_eval(dtype, path):
    handgrad.manual_seed(4)
    model = small_bn_model(dtype)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 2, 6, 6)).astype(dtype)
    model[8].p = 0.0  # dropout off, so torch's and handgrad's random masks cannot differ
    compare_with_torch(model, x, rng=rng, path=path)
    model.eval()
    model.zero_grad()
    compare_with_torch(model, x, rng=rng, path=path)


# -- backward contract ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lenet5, small_bn_model, lambda: nn.Linear(2, 2)])
def test_backward_without_forward_raises(make):
    model = make()
    with pytest.raises(RuntimeError, match="backward\\(\\) called without a forward\\(\\)"):
        model.backward(np.zeros((1, 10), np.float32))


def test_second_backward_after_one_forward_raises(rng):
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    y = model(rng.standard_normal((2, 3)).astype(np.float32))
    model.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="without a forward"):
        model.backward(np.ones_like(y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_accumulate_like_torch_and_zero_grad_clears(dtype):
    handgrad.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, dtype=dtype), nn.ReLU(), nn.Flatten(), nn.Linear(27, 4, dtype=dtype))
    twin = torch_copy(model, dtype)
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.standard_normal((2, 1, 5, 5)).astype(dtype)
        g = rng.standard_normal((2, 4)).astype(dtype)
        model(x)
        model.backward(g)
        twin(torch.tensor(x)).backward(torch.tensor(g))
    for name, p in twin.named_parameters():
        ours = dict(model.named_parameters())[name].grad
        assert ours.dtype == dtype
        assert_close(ours, p.grad, dtype=dtype, what=name)
    # twice the same batch gives exactly twice the gradient
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    x = rng.standard_normal((2, 1, 5, 5)).astype(dtype)
    g = rng.standard_normal((2, 4)).astype(dtype)
    model(x); model.backward(g)
    once = [p.grad.copy() for p in model.parameters()]
    model(x); model.backward(g)
    for p, first in zip(model.parameters(), once):
        np.testing.assert_allclose(p.grad, 2 * first, rtol=1e-6)
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


def test_parameter_accessors():
    p = nn.Parameter(np.zeros((3, 2), np.float32))
    assert p.shape == (3, 2) and p.dtype == np.float32 and p.grad is None
    p.accumulate(np.ones((3, 2)))
    assert p.grad.dtype == np.float32 and (p.grad == 1).all()
    p.accumulate(np.ones((3, 2)))
    assert (p.grad == 2).all()
    assert "Parameter" in repr(p)


# -- modes and dtypes --------------------------------------------------------------------------------


def test_train_eval_propagate():
    model = nn.Sequential(small_bn_model(), nn.Sequential(nn.Dropout(), nn.ReLU()))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())
    model[1].train()
    assert model[1][0].training and not model[0][1].training


def test_to_double_float_cast_parameters_and_float_buffers():
    model = small_bn_model()
    rng = np.random.default_rng(0)
    y = model(rng.standard_normal((4, 2, 6, 6)).astype(np.float32))
    model.backward(np.ones_like(y))
    assert model.double() is model
    for name, p in model.named_parameters():
        assert p.dtype == np.float64 and p.grad.dtype == np.float64, name
    state = model.state_dict()
    for key, value in state.items():
        expected = np.int64 if key.endswith("num_batches_tracked") else np.float64
        assert value.dtype == expected, key
    assert int(state["1.num_batches_tracked"]) == 1
    x = rng.standard_normal((4, 2, 6, 6))
    assert model(x).dtype == np.float64
    assert list(model.state_dict()) == list(state)  # buffers still registered
    assert model.float() is model
    assert all(v.dtype == (np.int64 if k.endswith("tracked") else np.float32) for k, v in model.state_dict().items())
    model.to(np.float64)
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[1].num_batches_tracked.dtype == np.int64
    model.to("float32")
    assert all(p.dtype == np.float32 for p in model.parameters())
    model.train()
    assert model(x.astype(np.float32)).dtype == np.float32


# -- Sequential ------------------------------------------------------------------------------------------


def test_sequential_indexing_slicing_len_iteration():
    layers = [nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3)]
    model = nn.Sequential(*layers)
    assert len(model) == 5
    assert list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[-1] and model[3] is layers[3]
    with pytest.raises(IndexError):
        model[5]
    tail = model[3:]
    assert isinstance(tail, nn.Sequential) and len(tail) == 2 and list(tail) == layers[3:]
    assert list(tail.state_dict()) == ["4.weight", "4.bias"]  # original names kept, as in torch
    assert list(model[::2].state_dict()) == ["0.weight", "0.bias", "4.weight", "4.bias"]
    torch_model = torch_twin(model)
    assert list(torch_model[3:].state_dict()) == list(tail.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(model(x), model[2:](model[:2](x)))
    assert model.append(nn.ReLU()) is model and len(model) == 6 and isinstance(model[5], nn.ReLU)
    assert "Conv2d" in repr(model) and "(4): Linear" in repr(model)


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_sequential_forward_backward_is_composition(rng):
    a, b = nn.Linear(3, 4, dtype=np.float64), nn.Tanh()
    model = nn.Sequential(a, b)
    x = rng.standard_normal((2, 3))
    y = model(x)
    np.testing.assert_array_equal(y, np.tanh(x @ a.weight.data.T + a.bias.data))
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(model.backward(g), (g * (1 - y**2)) @ a.weight.data, rtol=1e-14)


def test_empty_sequential_is_identity():
    x = np.ones((2, 3))
    assert nn.Sequential()(x) is x and len(nn.Sequential()) == 0


def test_base_module_forward_backward_not_implemented():
    with pytest.raises(NotImplementedError):
        nn.Module()(np.zeros(1))
    with pytest.raises(NotImplementedError):
        nn.Module().backward(np.zeros(1))


# -- backward_parameters: the parameter gradients of backward, without the input's -------------


def _parameter_grads(model):
    return {name: p.grad.copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("make, x_shape", [
    (lambda: nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64), (6, 2, 4, 4)),
    (lambda: nn.Linear(5, 4, dtype=np.float64), (6, 5)),
    (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Flatten(), nn.Linear(12, 4, dtype=np.float64)), (6, 2, 4, 4)),
    (lambda: nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(32, 4, dtype=np.float64)), (6, 2, 4, 4)),  # no parameters first
    (lambda: small_bn_model(np.float64), (6, 2, 6, 6)),
])
@pytest.mark.parametrize("path", PATHS)
def test_backward_parameters_gives_backwards_parameter_gradients(make, x_shape, path, rng):
    model = make()
    run = runner(model, path)
    x = rng.standard_normal(x_shape)
    handgrad.manual_seed(0)
    y = run(x)
    grad_out = rng.standard_normal(y.shape)
    run.backward(grad_out)
    expected = _parameter_grads(model)
    model.zero_grad()
    handgrad.manual_seed(0)  # the same dropout masks
    run(x)
    assert run.backward_parameters(grad_out) is None
    actual = _parameter_grads(model)
    assert list(actual) == list(expected)
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    with pytest.raises(RuntimeError, match="without a forward"):
        run.backward_parameters(grad_out)  # the cache was used up, as by backward


def test_accumulate_copies_unless_the_array_is_owned():
    param = nn.Parameter(np.zeros((2, 3), np.float32))
    grad = np.ones((2, 3), np.float32)
    param.accumulate(grad)
    assert param.grad is not grad
    param.grad = None
    param.accumulate(grad, owned=True)
    assert param.grad is grad
    param.grad = None
    param.accumulate(np.ones((3, 2), np.float32).T, owned=True)  # not C-contiguous: copied
    assert param.grad.flags.c_contiguous and param.grad.base is None
    param.accumulate(grad, owned=True)  # later calls add in place
    np.testing.assert_array_equal(param.grad, 2 * np.ones((2, 3)))


# -- what the contract says in words: messages, keyword arguments, prefixes, repr -------------------


def test_unimplemented_forward_and_backward_name_the_subclass():
    class NoForward(nn.Module):
        pass

    class NoBackward(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(NotImplementedError, match=r"^NoForward does not define forward\(\)$"):
        NoForward()(np.zeros(1))
    with pytest.raises(NotImplementedError, match=r"^NoBackward does not define backward\(\)$"):
        NoBackward().backward(np.zeros(1))

    class TorchNoForward(torch.nn.Module):  # torch's message names the subclass too
        pass

    with pytest.raises(NotImplementedError, match=r"\[TorchNoForward\]"):
        TorchNoForward()(torch.zeros(1))


def test_call_passes_keyword_arguments_to_forward_as_torch_does():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    class TorchScale(torch.nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    np.testing.assert_array_equal(Scale()(np.ones(2), factor=3.0), [3.0, 3.0])
    np.testing.assert_array_equal(TorchScale()(torch.ones(2), factor=3.0).numpy(), [3.0, 3.0])


def test_named_parameters_and_buffers_with_a_prefix_match_torch():
    model = small_bn_model()
    twin = torch_twin(model)
    ours = [name for name, _ in model.named_parameters("net")]
    assert ours == [name for name, _ in twin.named_parameters("net")]
    assert ours[0] == "net.0.weight"
    ours = [name for name, _ in model.named_buffers("net")]
    assert ours == [name for name, _ in twin.named_buffers("net")]
    assert ours[0] == "net.1.running_mean"


def test_load_state_dict_message_names_the_model_and_every_problem():
    model = nn.Sequential(nn.Linear(3, 2))
    state = {"0.weight": np.zeros((2, 4), np.float32), "1.bias": np.zeros(2, np.float32)}
    expected = (r"^cannot load state dict into Sequential: missing keys: 0\.bias; unexpected keys: 1\.bias; "
                r"0\.weight: shape \(2, 4\) in the state dict, \(2, 3\) in the model$")
    with pytest.raises(ValueError, match=expected):
        model.load_state_dict(state)
    with pytest.raises(RuntimeError, match="for Sequential"):  # torch also names the model
        torch.nn.Sequential(torch.nn.Linear(3, 2)).load_state_dict({k: torch.tensor(v) for k, v in state.items()})


@pytest.mark.parametrize("start, cast, expected", [
    (np.float64, lambda m: m.float(), np.float32),
    (np.float64, lambda m: m.to(np.float32), np.float32),
    (np.float32, lambda m: m.double(), np.float64),
])
def test_to_casts_existing_gradients_as_torch_does(start, cast, expected, rng):
    model = nn.Linear(3, 2, dtype=start)
    twin = torch_copy(model, start)
    x = rng.standard_normal((4, 3)).astype(start)
    model.backward(np.ones_like(model(x)))
    twin(torch.tensor(x)).sum().backward()
    before = model.weight.grad.copy()
    assert cast(model) is model
    twin.to(TORCH_DTYPE[np.dtype(expected)])
    for p, t in zip(model.parameters(), twin.parameters()):
        assert p.dtype == expected and p.grad.dtype == expected
        assert t.grad.dtype == TORCH_DTYPE[np.dtype(expected)]
    np.testing.assert_array_equal(model.weight.grad, before.astype(expected))


def test_repr_of_nested_modules_equals_torch():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Tanh(), nn.Sigmoid()))
            self.head = nn.ReLU()

    class TorchNet(torch.nn.Module):  # the same class name as Net in the repr
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.ReLU(),
                                                torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Sigmoid()))
            self.head = torch.nn.ReLU()

    TorchNet.__name__ = "Net"
    assert repr(Net()) == repr(TorchNet())
    assert repr(Net()) == ("Net(\n  (features): Sequential(\n    (0): ReLU()\n    (1): Sequential(\n"
                           "      (0): Tanh()\n      (1): Sigmoid()\n    )\n  )\n  (head): ReLU()\n)")
    model = nn.Sequential(nn.Tanh(), nn.Sequential(nn.ReLU()))
    assert repr(model) == repr(torch_twin(model))


def test_sequential_refusal_names_the_argument_and_its_type():
    with pytest.raises(TypeError, match=r"^Sequential: argument 1 is function, not a Module$"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_append_names_children_as_torch_does():
    model = nn.Sequential(nn.Linear(2, 3))
    model.append(nn.ReLU()).append(nn.Linear(3, 1))
    twin = torch.nn.Sequential(torch.nn.Linear(2, 3))
    twin.append(torch.nn.ReLU()).append(torch.nn.Linear(3, 1))
    names = [name for name, _ in model.named_children()]
    assert names == [name for name, _ in twin.named_children()] == ["0", "1", "2"]
    assert list(model.state_dict()) == list(twin.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
