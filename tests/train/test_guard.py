"""The divergence guard: restore, lower the learning rate, count, give up."""

import math

import numpy as np
import pytest

from handgrad import nn, optim
from handgrad.train import DivergenceGuard, TrainingDiverged
from handgrad.train import guard as guard_module


def make(patience=0, retries=2):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    optimizer = optim.Adam(model.parameters(), lr=0.1)
    messages = []
    return model, optimizer, DivergenceGuard(model, optimizer, patience, 0.5, retries, log=messages.append), messages


def train_step(model, optimizer):
    x = np.ones((4, 3), np.float32) * np.arange(4, dtype=np.float32)[:, None]
    optimizer.zero_grad()
    model(x)
    model.backward(np.ones((4, 2), np.float32))
    optimizer.step()


def test_a_non_finite_loss_restores_the_snapshot_and_lowers_the_learning_rate():
    model, optimizer, guard, messages = make()
    start = model.state_dict()
    train_step(model, optimizer)
    assert guard.check_finite(1.0, 1, 1)
    assert not guard.check_finite(math.nan, 1, 2)
    assert all(np.array_equal(value, start[key]) for key, value in model.state_dict().items())
    assert optimizer.state == {}  # the optimizer state of the snapshot: no steps yet
    assert optimizer.param_groups[0]["lr"] == 0.05
    assert guard.firings == 1 and len(messages) == 1
    assert "loss became nan at epoch 1, step 2" in messages[0] and "from 0.1 to 0.05" in messages[0]


def test_it_gives_up_after_its_retries():
    _, _, guard, _ = make(retries=2)
    guard.check_finite(math.inf, 1, 1)
    guard.check_finite(math.inf, 1, 2)
    with pytest.raises(TrainingDiverged, match=r"loss became inf at epoch 1, step 3, after the guard had already "
                                               r"lowered the learning rate 2 times \(now 0.025\)"):
        guard.check_finite(math.inf, 1, 3)


def test_no_progress_for_patience_iterations_fires():
    model, optimizer, guard, messages = make(patience=5)
    for step in range(1, 6):
        guard.observe(2.3, 1, step)
    assert guard.firings == 0  # the first loss is the best so far; 4 more without progress
    guard.observe(2.3, 1, 6)
    assert guard.firings == 1 and "no progress for 5 iterations at epoch 1, step 6" in messages[0]


def test_snapshots_follow_new_best_losses_at_most_every_snapshot_every_iterations(monkeypatch):
    monkeypatch.setattr(guard_module, "SNAPSHOT_EVERY", 3)
    model, optimizer, guard, _ = make()
    for step, loss in enumerate([2.0, 1.9, 1.8, 1.7, 1.6], 1):
        train_step(model, optimizer)
        guard.observe(loss, 1, step)
    assert guard.snapshot_iteration == 3
    snapshot = {k: v.copy() for k, v in guard.snapshot["model"].items()}
    guard.fire("test")
    assert all(np.array_equal(value, snapshot[key]) for key, value in model.state_dict().items())
    assert optimizer.state_dict()["state"][0]["step"] == 3


def test_state_dict_round_trip():
    model, optimizer, guard, _ = make(patience=10)
    guard.observe(1.0, 1, 1)
    guard.fire("test")
    state = guard.state_dict()
    _, _, other, _ = make(patience=10)
    other.load_state_dict(state)
    assert other.state_dict() == state


def test_a_finite_loss_a_hundred_times_the_first_fires_as_an_explosion():
    _, optimizer, guard, messages = make(patience=1000)
    guard.observe(2.3, 1, 1)
    guard.observe(4500.0, 1, 2)  # the smoothed loss: 227, just below 100 x 2.3
    assert guard.firings == 0
    guard.observe(5.6e36, 1, 3)
    assert guard.firings == 1 and optimizer.param_groups[0]["lr"] == 0.05
    assert "the loss exploded at epoch 1, step 3 (smoothed loss 2.8e+35" in messages[0]


def test_with_patience_0_only_non_finite_losses_fire():
    _, _, guard, _ = make(patience=0)
    guard.observe(2.3, 1, 1)
    guard.observe(5.6e36, 1, 2)
    assert guard.firings == 0


def test_a_model_at_chance_after_a_firing_is_a_failed_run():
    _, _, guard, _ = make(patience=1000)
    guard.check_learned(0.1, 10)  # no firing: a poor model, not a failed guard
    guard.fire("the loss exploded")
    guard.check_learned(0.15, 10)  # 1.5 x chance: learnt something
    with pytest.raises(TrainingDiverged, match=r"at chance level after the divergence guard fired 1 time "
                                               r"\(accuracy 11.90% with 10 classes\); last firing: divergence "
                                               r"guard: the loss exploded"):
        guard.check_learned(0.119, 10)
    _, _, off, _ = make(patience=0)
    off.fire("nan")
    off.check_learned(0.1, 10)  # patience 0: the studies' setting, which reports such runs itself


def test_the_first_loss_is_part_of_the_state():
    _, _, guard, _ = make(patience=10)
    guard.observe(2.5, 1, 1)
    _, _, other, _ = make(patience=10)
    other.load_state_dict(guard.state_dict())
    assert other.first_loss == 2.5
    state = guard.state_dict()
    del state["first_loss"]  # a resume file of an older handgrad
    other.load_state_dict(state)
    assert other.first_loss is None
