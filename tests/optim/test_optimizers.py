"""handgrad.optim against torch.optim: trajectories, state dicts, argument checks."""

import json
import re

import numpy as np
import pytest
import torch

from handgrad import nn, optim
from handgrad.nn.module import Parameter

SHAPES = [(8, 5), (8,), (3, 8)]
STEPS = 10

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=1.0, weight_decay=1.0)),  # 1.0 is no special value (mutation.md)
    ("Adam", dict()),
    ("Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, betas=(0.3, 0.9), eps=1e-6)),  # lerp weight >= 0.5
    ("AdamW", dict()),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, weight_decay=1.0)),  # 1.0 is no special value (mutation.md)
    ("AdamW", dict(lr=1e-2, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1)),  # AdamW passes betas and eps on
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(weight_decay=1.0)),
    ("RMSprop", dict()),
    ("RMSprop", dict(momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(weight_decay=1.0)),
    ("RMSprop", dict(centered=True, alpha=0.9)),
    ("RMSprop", dict(centered=True, momentum=0.5, alpha=0.4, eps=1e-6)),  # lerp weight >= 0.5
]
CASE_IDS = [f"{name}-{kwargs}" for name, kwargs in CASES]
# The edges of the valid ranges, which torch accepts too (0 is valid for eps, the betas and alpha).
EDGE_CASES = [
    ("Adam", dict(eps=0.0)),
    ("Adam", dict(lr=1e-2, betas=(0.0, 0.999))),
    ("Adam", dict(lr=1e-2, betas=(0.9, 0.0))),
    ("Adagrad", dict(eps=0.0)),
    ("RMSprop", dict(eps=0.0)),
    ("RMSprop", dict(alpha=0.0)),
]
EDGE_IDS = [f"edge-{name}-{kwargs}" for name, kwargs in EDGE_CASES]
TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def make_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(shape).astype(dtype)) for shape in SHAPES]


def gradient_sequence(dtype, steps=STEPS, seed=1):
    """Random gradients per step; parameter 1 has none on steps 3 and 4 (it must be skipped)."""
    rng = np.random.default_rng(seed)
    return [
        [None if (i == 1 and step in (3, 4)) else rng.standard_normal(shape).astype(dtype) for i, shape in enumerate(SHAPES)]
        for step in range(steps)
    ]


def run(opt, params, grads):
    for step_grads in grads:
        opt.zero_grad()
        for param, grad in zip(params, step_grads):
            if grad is not None:
                param.accumulate(grad)
        opt.step()


def steps_beside_torch(opt, topt, params, tparams, grads):
    """Step both optimizers through `grads` and hold the parameters equal (float64)."""
    for step_grads in grads:
        for param, tparam, grad in zip(params, tparams, step_grads):
            param.grad = None if grad is None else grad.copy()
            tparam.grad = None if grad is None else torch.tensor(grad)
        opt.step()
        topt.step()
    for param, tparam in zip(params, tparams):
        np.testing.assert_allclose(param.data, tparam.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", CASES + EDGE_CASES, ids=CASE_IDS + EDGE_IDS)
def test_trajectory_matches_torch(name, kwargs, dtype):
    params = make_params(dtype)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt = getattr(optim, name)(params, **kwargs)
    topt = getattr(torch.optim, name)(tparams, foreach=False, **kwargs)
    for step_grads in gradient_sequence(dtype):
        opt.zero_grad()
        topt.zero_grad()
        for param, tparam, grad in zip(params, tparams, step_grads):
            if grad is not None:
                param.accumulate(grad)
                tparam.grad = torch.tensor(grad.copy())
        opt.step()
        topt.step()
        for param, tparam in zip(params, tparams):
            assert param.data.dtype == dtype
            np.testing.assert_allclose(param.data, tparam.detach().numpy(), **TOLERANCE[dtype])


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_state_dict_layout_matches_torch(name, kwargs):
    params = make_params(np.float64)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt = getattr(optim, name)(params, **kwargs)
    topt = getattr(torch.optim, name)(tparams, foreach=False, **kwargs)
    grads = gradient_sequence(np.float64, steps=3)
    run(opt, params, grads)
    for step_grads in grads:
        for tparam, grad in zip(tparams, step_grads):
            tparam.grad = None if grad is None else torch.tensor(grad)
        topt.step()

    ours, theirs = opt.state_dict(), topt.state_dict()
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in theirs["param_groups"]]
    for group, tgroup in zip(ours["param_groups"], theirs["param_groups"]):
        assert {k: v for k, v in tgroup.items() if k in group} == group
    assert ours["state"].keys() == theirs["state"].keys()
    for index, state in ours["state"].items():
        tstate = theirs["state"][index]
        assert state.keys() == tstate.keys()
        for key, value in state.items():
            if key == "step":
                assert isinstance(value, int) and value == float(tstate[key])
            else:
                np.testing.assert_allclose(value, tstate[key].numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_float32_stays_float32(name, kwargs):
    params = make_params(np.float32)
    opt = getattr(optim, name)(params, **kwargs)
    run(opt, params, gradient_sequence(np.float32, steps=3))
    assert all(p.data.dtype == np.float32 for p in params)
    for state in opt.state.values():
        for key, value in state.items():
            assert isinstance(value, int) if key == "step" else value.dtype == np.float32


def test_numpy_float64_hyperparameters_do_not_upcast():
    params = make_params(np.float32)
    opt = optim.Adam(params, lr=np.float64(1e-2), betas=(np.float64(0.9), np.float64(0.99)), weight_decay=np.float64(0.1))
    run(opt, params, gradient_sequence(np.float32, steps=2))
    assert all(p.data.dtype == np.float32 for p in params)


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_state_dict_round_trip_resumes_bit_exactly(name, kwargs):
    grads = gradient_sequence(np.float32, steps=6)
    straight = make_params(np.float32)
    run(getattr(optim, name)(straight, **kwargs), straight, grads)

    params = make_params(np.float32)
    opt = getattr(optim, name)(params, **kwargs)
    run(opt, params, grads[:3])
    saved = opt.state_dict()
    resumed = [Parameter(p.data.copy()) for p in params]
    run(opt, params, grads[3:])  # the saved state must not move with the optimizer
    new_opt = getattr(optim, name)(resumed)  # default hyper-parameters: the state dict restores them
    new_opt.load_state_dict(saved)
    run(new_opt, resumed, grads[3:])
    for param, resumed_param, reference in zip(params, resumed, straight):
        np.testing.assert_array_equal(param.data, reference.data)
        np.testing.assert_array_equal(resumed_param.data, reference.data)


def test_state_dict_is_a_copy_and_load_copies_in():
    params = make_params(np.float64)
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    run(opt, params, gradient_sequence(np.float64, steps=2))
    saved = opt.state_dict()
    buffer = saved["state"][0]["momentum_buffer"]
    assert buffer is not opt.state[params[0]]["momentum_buffer"]
    new_opt = optim.SGD(make_params(np.float64), lr=0.1, momentum=0.9)
    new_opt.load_state_dict(saved)
    loaded = new_opt.state[new_opt.param_groups[0]["params"][0]]["momentum_buffer"]
    assert loaded is not buffer
    np.testing.assert_array_equal(loaded, buffer)


def test_state_dict_survives_safetensors_and_json():
    from safetensors.numpy import load, save

    params = make_params(np.float32)
    opt = optim.Adam(params, lr=1e-2)
    run(opt, params, gradient_sequence(np.float32, steps=3))
    saved = opt.state_dict()
    arrays = {f"{i}.{k}": v for i, s in saved["state"].items() for k, v in s.items() if isinstance(v, np.ndarray)}
    meta = {
        "param_groups": saved["param_groups"],
        "steps": {i: s["step"] for i, s in saved["state"].items()},
    }
    arrays, meta = load(save(arrays)), json.loads(json.dumps(meta))
    state = {i: {"step": step} for i, step in meta["steps"].items()}  # keys are now strings
    for name, value in arrays.items():
        index, key = name.split(".")
        state[index][key] = value

    new_params = [Parameter(p.data.copy()) for p in params]
    new_opt = optim.Adam(new_params)
    new_opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    assert new_opt.param_groups[0]["lr"] == 1e-2
    grads = gradient_sequence(np.float32, steps=2, seed=7)
    run(opt, params, grads)
    run(new_opt, new_params, grads)
    for param, reference in zip(new_params, params):
        np.testing.assert_array_equal(param.data, reference.data)


def test_param_groups_match_torch():
    params = make_params(np.float64)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt = optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": tparams[:2]}, {"params": tparams[2:], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    steps_beside_torch(opt, topt, params, tparams, gradient_sequence(np.float64))
    assert opt.state_dict()["param_groups"][1]["params"] == [2]


def test_zero_grad():
    params = make_params(np.float32)
    opt = optim.SGD(params, lr=0.1)
    for p in params:
        p.accumulate(np.ones(p.shape, np.float32))
    grad = params[0].grad
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is grad and not grad.any()
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_step_returns_closure_loss():
    params = make_params(np.float32)
    assert optim.SGD(params, lr=0.1).step(lambda: 1.5) == 1.5


def test_default_learning_rates_are_torch_defaults():
    for name in ("SGD", "Adam", "AdamW", "Adagrad", "RMSprop"):
        ours = getattr(optim, name)(make_params(np.float32)).defaults
        theirs = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)]).defaults
        assert {k: v for k, v in theirs.items() if k in ours} == ours, name


@pytest.mark.parametrize(
    "name,kwargs,message",
    [
        ("SGD", dict(lr=-1.0), "Invalid learning rate: -1.0"),
        ("SGD", dict(momentum=-0.5), "Invalid momentum value: -0.5"),
        ("SGD", dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
        ("SGD", dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
        ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), "Nesterov momentum requires"),
        ("Adam", dict(lr=-1e-3), "Invalid learning rate: -0.001"),
        ("Adam", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
        ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        ("Adam", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
        ("AdamW", dict(weight_decay=-0.01), "Invalid weight_decay value: -0.01"),
        ("Adagrad", dict(lr=-1.0), "Invalid learning rate: -1.0"),
        ("Adagrad", dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
        ("Adagrad", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
        ("Adagrad", dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value value: -1.0"),
        ("Adagrad", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
        ("RMSprop", dict(lr=-1.0), "Invalid learning rate: -1.0"),
        ("RMSprop", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
        ("RMSprop", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
        ("RMSprop", dict(alpha=-0.1), "Invalid alpha value: -0.1"),
        ("RMSprop", dict(momentum=-0.1), "Invalid momentum value: -0.1"),
    ],
)
def test_invalid_arguments(name, kwargs, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):  # the message starts so, not only contains it
        getattr(optim, name)(make_params(np.float32), **kwargs)
    with pytest.raises(ValueError):  # torch agrees these are invalid
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"])
def test_a_zero_learning_rate_is_valid_and_moves_nothing(name):
    """torch rejects only lr < 0; with lr = 0 a step leaves every parameter as it was."""
    params = make_params(np.float64)
    before = [p.data.copy() for p in params]
    getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], lr=0.0)
    run(getattr(optim, name)(params, lr=0.0), params, gradient_sequence(np.float64, steps=2))
    for param, data in zip(params, before):
        np.testing.assert_array_equal(param.data, data)


def anchored(message):
    return "^" + re.escape(message) + "$"


def test_invalid_params():
    """The whole message, not only a part of it (torch raises the same exception types)."""
    p = make_params(np.float32)[0]
    with pytest.raises(ValueError, match=anchored("optimizer got an empty parameter list")):
        optim.SGD([])
    with pytest.raises(TypeError, match=anchored("params must be an iterable of Parameters or dicts, not a single Parameter")):
        optim.SGD(p)
    with pytest.raises(TypeError, match=anchored("optimizer can only optimize Parameters, but one of the params is ndarray")):
        optim.SGD([p.data])
    with pytest.raises(TypeError, match=anchored("a param group's params must be an ordered collection, not a set")):
        optim.SGD([{"params": {p}}])
    with pytest.raises(TypeError, match=anchored("param_group must be a dict, not int")):
        optim.SGD([{"params": [p]}, 5])
    with pytest.raises(ValueError, match=anchored("some parameters appear more than once in the optimizer's param groups")):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    t = torch.zeros(1, requires_grad=True)
    with pytest.raises(TypeError):
        torch.optim.SGD([{"params": [t]}, 5])


def test_a_group_may_hold_a_single_parameter():
    """`{"params": p}` is the group `{"params": [p]}`, as in torch."""
    params = make_params(np.float64)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt = optim.SGD([{"params": params[0]}, {"params": params[1:]}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": tparams[0]}, {"params": tparams[1:]}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["params"] == [params[0]]
    steps_beside_torch(opt, topt, params, tparams, gradient_sequence(np.float64, steps=3))


def test_load_state_dict_rejects_mismatches():
    opt = optim.Adam(make_params(np.float32))
    run(opt, opt.param_groups[0]["params"], gradient_sequence(np.float32, steps=1))
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": make_params(np.float32)[:1]}, {"params": make_params(np.float32)[1:]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match="has 3 parameters, the optimizer.s has 2"):
        optim.Adam(make_params(np.float32)[:2]).load_state_dict(saved)
    swapped = [Parameter(np.zeros(s[::-1], np.float32)) for s in SHAPES]
    with pytest.raises(ValueError, match=anchored("loaded state 'exp_avg' of parameter 0 has shape (8, 5), the parameter has (5, 8)")):
        optim.Adam(swapped).load_state_dict(saved)
    stray = {"state": {**saved["state"], 7: saved["state"][0]}, "param_groups": saved["param_groups"]}
    with pytest.raises(ValueError, match=anchored("loaded state dict has state for parameter 7, which no param group lists")):
        optim.Adam(make_params(np.float32)).load_state_dict(stray)


def test_load_state_dict_casts_the_arrays_to_the_parameters_dtype():
    """A float64 run's state loaded into float32 parameters is float32 state (the docstring)."""
    opt = optim.Adam(make_params(np.float64))
    run(opt, opt.param_groups[0]["params"], gradient_sequence(np.float64, steps=2))
    params = make_params(np.float32)
    new_opt = optim.Adam(params)
    new_opt.load_state_dict(opt.state_dict())
    for param in params:
        assert [new_opt.state[param][k].dtype for k in ("exp_avg", "exp_avg_sq")] == [np.float32] * 2
    run(new_opt, params, gradient_sequence(np.float32, steps=1))
    assert all(p.data.dtype == np.float32 for p in params)
    assert all(v.dtype == np.float32 for s in new_opt.state_dict()["state"].values() for v in s.values() if isinstance(v, np.ndarray))


def test_saved_and_loaded_hyperparameters_are_copies_even_when_mutable():
    """A group's values may be lists (torch keeps `"betas": [0.9, 0.99]` as given); the state
    dict is a snapshot (its docstring: a copy), and loading one copies it in (as torch's does)."""
    params = make_params(np.float32)
    opt = optim.Adam([{"params": params, "betas": [0.9, 0.99]}])
    saved = opt.state_dict()
    opt.param_groups[0]["betas"][0] = 0.5
    assert saved["param_groups"][0]["betas"] == [0.9, 0.99]
    new_opt = optim.Adam(make_params(np.float32))
    new_opt.load_state_dict(saved)
    saved["param_groups"][0]["betas"][1] = 0.1
    assert new_opt.param_groups[0]["betas"] == [0.9, 0.99]
    tparam = torch.zeros(1, requires_grad=True)
    tsaved = torch.optim.Adam([{"params": [tparam], "betas": [0.9, 0.99]}]).state_dict()
    topt = torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    topt.load_state_dict(tsaved)
    tsaved["param_groups"][0]["betas"][1] = 0.1
    assert topt.param_groups[0]["betas"] == [0.9, 0.99]


def test_an_optimizer_without_an_update_says_so():
    class Bare(optim.Optimizer):
        pass

    params = make_params(np.float32)
    opt = Bare(params, dict(lr=0.1))
    with pytest.raises(NotImplementedError, match=anchored("Bare does not define _update()")):
        run(opt, params, gradient_sequence(np.float32, steps=1))
    with pytest.raises(NotImplementedError):  # so does torch's base class
        torch.optim.Optimizer([torch.zeros(1)], dict(lr=0.1)).step()


@pytest.mark.parametrize("weight", [0.5, 1.0])
def test_lerp_matches_torch_bit_for_bit_where_its_formula_switches(weight):
    """torch.lerp computes start + w (end - start) for |w| < 0.5 and end - (1 - w) (end - start)
    otherwise. At w = 0.5 and 1 the product is exact, so torch's fused multiply-add and
    NumPy's two roundings agree and only the choice of formula shows (w = 1 gives end)."""
    from handgrad.optim.optimizer import lerp_

    rng = np.random.default_rng(0)
    start = rng.standard_normal(4096).astype(np.float32)
    end = (rng.standard_normal(4096) * 1e3).astype(np.float32)
    ours = start.copy()
    lerp_(ours, end, weight, np.empty_like(ours))
    np.testing.assert_array_equal(ours, torch.lerp(torch.tensor(start), torch.tensor(end), weight).numpy())


def test_adam_in_blocks_is_identical_to_one_call(monkeypatch):
    """Adam's element-wise step runs block by block; every number equals the one-call run."""
    import handgrad.optim.optimizer as optimizer_module

    trajectories = []
    for block in (1 << 40, 3):  # one call per parameter; blocks of 3 elements
        monkeypatch.setattr(optimizer_module, "BLOCK", block)
        params, grads = make_params(np.float32), gradient_sequence(np.float32)
        opt = optim.Adam(params, lr=1e-2)
        run(opt, params, grads)
        trajectories.append([p.data.copy() for p in params] + [s[k] for s in opt.state.values() for k in ("exp_avg", "exp_avg_sq")])
    for blocked, whole in zip(*trajectories):
        np.testing.assert_array_equal(blocked, whole)


def test_in_blocks_runs_non_contiguous_arrays_in_one_call(monkeypatch):
    import handgrad.optim.optimizer as optimizer_module

    monkeypatch.setattr(optimizer_module, "BLOCK", 4)
    calls, a = [], np.ones((10, 10))[:, ::2]
    optimizer_module.in_blocks(lambda x: calls.append(x.size) or x.__imul__(3), a)
    assert calls == [50] and (a == 3).all()


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_small_parameters_updated_together_match_one_at_a_time(name, kwargs, monkeypatch):
    """Small parameters of an element-wise optimizer are updated in one call on their
    concatenation (here the three of SHAPES, parameter 1 apart on the steps after it has no
    gradient): every number, of the parameters and of the state, is the one-by-one number."""
    import handgrad.optim.optimizer as optimizer_module

    results = []
    for small in (optimizer_module.SMALL_PARAMETER, 0):  # together; one at a time
        monkeypatch.setattr(optimizer_module, "SMALL_PARAMETER", small)
        params = make_params(np.float32) + [Parameter(np.ones((70, 70), np.float32))]  # and one too large
        opt = getattr(optim, name)(params, **kwargs)
        grads = [step + [np.full((70, 70), 0.01 * i, np.float32)] for i, step in enumerate(gradient_sequence(np.float32))]
        run(opt, params, grads)
        results.append((params, opt.state))
    (together, together_state), (alone, alone_state) = results
    for a, b in zip(together, alone):
        np.testing.assert_array_equal(a.data, b.data)
        assert together_state[a].keys() == alone_state[b].keys()
        for key, value in alone_state[b].items():
            np.testing.assert_array_equal(together_state[a][key], value, err_msg=key)


def test_updates_together_write_the_state_in_place_and_only_for_elementwise_optimizers(monkeypatch):
    params = make_params(np.float32)
    opt = optim.Adam(params)
    calls = []
    update = opt._update
    monkeypatch.setattr(opt, "_update", lambda *args: calls.append(args[0]) or update(*args))
    run(opt, params, gradient_sequence(np.float32, steps=2))
    assert len(calls) == 2  # one call a step for all three
    exp_avg = opt.state[params[0]]["exp_avg"]
    run(opt, params, gradient_sequence(np.float32, steps=1))
    assert opt.state[params[0]]["exp_avg"] is exp_avg

    class NormalizedSGD(optim.SGD):  # not element-wise: each parameter's step depends on its norm
        elementwise = False

        def _update(self, param, grad, state, group):
            super()._update(param, grad / np.linalg.norm(grad), state, group)

    params = make_params(np.float64)
    opt = NormalizedSGD(params, lr=0.1)
    calls.clear()
    update = opt._update
    monkeypatch.setattr(opt, "_update", lambda *args: calls.append(args[0]) or update(*args))
    run(opt, params, gradient_sequence(np.float64, steps=1))
    assert calls == params


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_batch_norms_weight_and_bias_in_one_group_match_torch(name, kwargs):
    """BatchNorm's weight and bias have the same shape and sit in one group, so the joint
    update of small parameters must give each its own numbers back (not the other's)."""
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Linear(6, 6))  # three (6,)-shaped parameters
    params = list(model.parameters())
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt = getattr(optim, name)(params, **kwargs)
    topt = getattr(torch.optim, name)(tparams, foreach=False, **kwargs)
    rng = np.random.default_rng(7)
    arrays = [p.data for p in params]
    for _ in range(5):
        opt.zero_grad()
        topt.zero_grad()
        for param, tparam in zip(params, tparams):
            grad = rng.standard_normal(param.shape).astype(np.float32)
            param.accumulate(grad)
            tparam.grad = torch.tensor(grad.copy())
        opt.step()
        topt.step()
        for (key, param), tparam in zip(model.named_parameters(), tparams):
            np.testing.assert_allclose(param.data, tparam.detach().numpy(), **TOLERANCE[np.float32], err_msg=key)
    assert all(param.data is array for param, array in zip(params, arrays)), "a step rebound .data"


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_a_step_writes_into_each_parameters_own_array(name, kwargs):
    """Views of `.data` (the worker processes' shared memory, a user's own references) see
    every step: the optimizer writes in place, small parameters and large ones alike."""
    params = make_params(np.float32) + [Parameter(np.ones((70, 70), np.float32))]
    views = [p.data[...] for p in params]
    before = [v.copy() for v in views]
    opt = getattr(optim, name)(params, **kwargs)
    grads = [step + [np.full((70, 70), 0.01, np.float32)] for step in gradient_sequence(np.float32, steps=2)]
    run(opt, params, grads)
    for param, view, old in zip(params, views, before):
        assert np.shares_memory(param.data, view) and np.array_equal(param.data, view)
        assert not np.array_equal(view, old)


def test_a_saved_param_group_lists_its_params_last_as_torchs_does():
    """Keys a scheduler adds after the group was made (initial_lr) still come before "params",
    so a JSON checkpoint reads as torch's."""
    from handgrad.optim import lr_scheduler

    opt = optim.SGD(make_params(np.float32), lr=0.1)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    lr_scheduler.StepLR(opt, step_size=2)
    torch.optim.lr_scheduler.StepLR(topt, step_size=2)
    ours, theirs = opt.state_dict()["param_groups"][0], topt.state_dict()["param_groups"][0]
    assert list(ours)[-2:] == list(theirs)[-2:] == ["initial_lr", "params"]
