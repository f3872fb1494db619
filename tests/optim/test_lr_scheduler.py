"""handgrad.optim.lr_scheduler against torch.optim.lr_scheduler: the learning-rate sequences."""

import json
import math

import numpy as np
import pytest
import torch

from handgrad import optim
from handgrad.nn.module import Parameter
from handgrad.optim import lr_scheduler

EPOCHS = 40
LRS = [0.1, 0.03]  # two param groups

SCHEDULES = [
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("CosineAnnealingLR", dict(T_max=10)),  # runs past T_max, through the restart branch
    ("CosineAnnealingLR", dict(T_max=13, eta_min=1e-3)),
]
# A metric that improves, stalls, wobbles within the threshold and rises again.
METRICS = [1.0, 0.9, 0.8, 0.8, 0.8, 0.79999, 0.8, 0.7, 0.7, 0.7, 0.7, 0.71, 0.72, 0.5, 0.5, 0.5,
           0.5, 0.5, 0.5, 0.6, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.39]
PLATEAUS = [
    dict(),
    dict(patience=2),
    dict(patience=1, factor=0.5, cooldown=2),
    dict(patience=0, factor=0.5, min_lr=0.01),
    dict(patience=1, min_lr=[0.05, 1e-4]),
    dict(patience=1, threshold=0.05, threshold_mode="abs"),
    dict(mode="max", patience=2, factor=0.3),
    dict(mode="max", patience=1, threshold=0.1, threshold_mode="abs", cooldown=1),
]


def optimizers():
    """A handgrad and a torch SGD, each with two param groups at LRS."""
    ours = optim.SGD([{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in LRS])
    theirs = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in LRS])
    return ours, theirs


def learning_rates(opt, scheduler, metrics=None):
    """The lrs in force at each epoch, stepping the scheduler after each (with a metric if given)."""
    seen = []
    for epoch in range(EPOCHS if metrics is None else len(metrics)):
        seen.append([group["lr"] for group in opt.param_groups])
        opt.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[epoch])
        assert scheduler.get_last_lr() == [group["lr"] for group in opt.param_groups]
    return seen


@pytest.mark.parametrize("name,kwargs", SCHEDULES)
def test_schedule_matches_torch(name, kwargs):
    opt, topt = optimizers()
    ours = learning_rates(opt, getattr(lr_scheduler, name)(opt, **kwargs))
    theirs = learning_rates(topt, getattr(torch.optim.lr_scheduler, name)(topt, **kwargs))
    assert ours == theirs  # the same float operations: equal, not merely close
    assert [g["initial_lr"] for g in opt.param_groups] == LRS


def test_cosine_follows_the_closed_form():
    opt, _ = optimizers()
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    for epoch, lrs in enumerate(learning_rates(opt, scheduler)):
        expected = [0.01 + (lr - 0.01) * (1 + math.cos(math.pi * epoch / 10)) / 2 for lr in LRS]
        np.testing.assert_allclose(lrs, expected, rtol=1e-12)


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=[str(k) for k in PLATEAUS])
def test_reduce_on_plateau_matches_torch(kwargs):
    opt, topt = optimizers()
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tscheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    metrics = METRICS if kwargs.get("mode") != "max" else [2 - m for m in METRICS]
    ours, theirs = learning_rates(opt, scheduler, metrics), learning_rates(topt, tscheduler, metrics)
    assert ours == theirs
    assert ours[-1] != ours[0]  # the metric sequence does trigger reductions
    assert scheduler.last_epoch == tscheduler.last_epoch == len(metrics)


def resume(make_scheduler, metrics=None):
    """Run 15 epochs, checkpoint optimizer and scheduler through JSON, rebuild, run 15 more."""
    opt, _ = optimizers()
    scheduler = make_scheduler(opt)
    epochs = metrics or [None] * 30
    for metric in epochs[:15]:
        scheduler.step() if metric is None else scheduler.step(metric)
    opt_state = json.loads(json.dumps(opt.state_dict()))
    sched_state = json.loads(json.dumps(scheduler.state_dict()))

    new_opt, _ = optimizers()
    new_scheduler = make_scheduler(new_opt)
    new_opt.load_state_dict(opt_state)
    new_scheduler.load_state_dict(sched_state)
    seen = []
    for metric in epochs[15:]:
        new_scheduler.step() if metric is None else new_scheduler.step(metric)
        seen.append(new_scheduler.get_last_lr())
    return seen, new_scheduler


@pytest.mark.parametrize("name,kwargs", SCHEDULES)
def test_state_dict_round_trip(name, kwargs):
    resumed, scheduler = resume(lambda opt: getattr(lr_scheduler, name)(opt, **kwargs))
    topt = optimizers()[1]
    tscheduler = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    straight = []
    for epoch in range(30):
        topt.step()
        tscheduler.step()
        straight.append(tscheduler.get_last_lr())
    assert resumed == straight[15:]
    assert scheduler.last_epoch == 30


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=[str(k) for k in PLATEAUS])
def test_reduce_on_plateau_state_dict_round_trip(kwargs):
    metrics = (METRICS if kwargs.get("mode") != "max" else [2 - m for m in METRICS])[:30]
    resumed, _ = resume(lambda opt: lr_scheduler.ReduceLROnPlateau(opt, **kwargs), metrics)
    opt, _ = optimizers()
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    straight = []
    for metric in metrics:
        scheduler.step(metric)
        straight.append(scheduler.get_last_lr())
    assert resumed == straight[15:]


def test_state_dict_is_a_copy():
    opt, _ = optimizers()
    scheduler = lr_scheduler.StepLR(opt, step_size=2)
    state = scheduler.state_dict()
    state["base_lrs"].append(1.0)
    assert scheduler.base_lrs == LRS
    assert "optimizer" not in state


def test_keeps_an_existing_initial_lr():
    opt, _ = optimizers()
    for group in opt.param_groups:
        group["initial_lr"], group["lr"] = 1.0, 0.5
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    assert scheduler.base_lrs == [1.0, 1.0] and scheduler.get_last_lr() == [0.5, 0.5]


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda opt: lr_scheduler.StepLR(opt, step_size=0), ValueError, "Invalid step_size: 0"),
        (lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=0), ValueError, "Invalid T_max: 0"),
        (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=1.0), ValueError, "Invalid factor: 1.0"),
        (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, mode="low"), ValueError, "Invalid mode: 'low'"),
        (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="x"), ValueError, "Invalid threshold_mode"),
        (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.0]), ValueError, "expected 2 min_lrs"),
        (lambda opt: lr_scheduler.StepLR(object(), step_size=1), TypeError, "object is not an Optimizer"),
        (lambda opt: lr_scheduler.ReduceLROnPlateau(object()), TypeError, "object is not an Optimizer"),
    ],
)
def test_invalid_arguments(make, error, message):
    opt, _ = optimizers()
    with pytest.raises(error, match=message):
        make(opt)


def plateau_lrs_match_torch(metrics, lrs=LRS, **kwargs):
    ours = optim.SGD([{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in lrs])
    theirs = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs])
    seen = learning_rates(ours, lr_scheduler.ReduceLROnPlateau(ours, **kwargs), metrics)
    assert seen == learning_rates(theirs, torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kwargs), metrics)
    return seen


@pytest.mark.parametrize(
    "mode,threshold_mode,metrics",
    [  # threshold 0.1: rel and abs draw the line apart (best 2: 1.8 against 1.9; best 0.5: 0.45 against 0.4)
        ("min", "rel", [2.0, 1.85, 1.85, 0.5, 0.42, 0.42, 0.3]),
        ("min", "abs", [2.0, 1.85, 1.85, 0.5, 0.42, 0.42, 0.3]),
        ("max", "rel", [2.0, 2.15, 2.15, 3.0, 0.5, 0.5, 4.0]),
        ("max", "abs", [0.5, 0.58, 0.58, 2.0, 2.15, 2.15, 4.0]),
    ],
)
def test_reduce_on_plateau_threshold_modes_draw_their_own_line(mode, threshold_mode, metrics):
    """Each metric here is better under one threshold mode and not under the other, and
    patience 0 turns every epoch that is not better into a reduction."""
    plateau_lrs_match_torch(metrics, mode=mode, threshold_mode=threshold_mode, threshold=0.1, patience=0, factor=0.5)


@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
def test_reduce_on_plateau_an_equal_metric_is_no_improvement(threshold_mode):
    """With threshold 0 the metric must be strictly better: a repeat is a bad epoch."""
    seen = plateau_lrs_match_torch([1.0, 1.0, 1.0, 1.0], threshold=0.0, threshold_mode=threshold_mode, patience=1)
    assert seen[-1] != seen[0]


@pytest.mark.parametrize("metric", [math.nan, math.inf])
@pytest.mark.parametrize("patience", [0, 1])
def test_reduce_on_plateau_a_first_metric_that_is_not_better_is_a_bad_epoch(metric, patience):
    """nan and inf are not below the initial best (inf), so the first epoch already counts."""
    plateau_lrs_match_torch([metric, metric, 1.0, 1.0, 1.0], patience=patience)


def test_reduce_on_plateau_a_cut_of_exactly_eps_is_skipped():
    """lr 0.5 halved changes by 0.25 = eps: skipped, as in torch (more than eps is needed)."""
    seen = plateau_lrs_match_torch([1.0, 2.0, 2.0, 2.0], lrs=[1.0, 0.5], patience=0, factor=0.5, eps=0.25)
    assert seen[-1] == [0.5, 0.5]


def test_reduce_on_plateau_last_lr_before_any_step():
    opt, topt = optimizers()
    assert lr_scheduler.ReduceLROnPlateau(opt).get_last_lr() == LRS
    assert torch.optim.lr_scheduler.ReduceLROnPlateau(topt).get_last_lr() == LRS


def test_a_scheduler_without_get_lr_says_so():
    class Bare(lr_scheduler.LRScheduler):
        pass

    opt, topt = optimizers()
    with pytest.raises(NotImplementedError, match="^Bare does not define get_lr\\(\\)$"):
        Bare(opt)
    with pytest.raises(NotImplementedError):  # so does torch's base class
        torch.optim.lr_scheduler.LRScheduler(topt)
