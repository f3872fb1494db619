"""lenet5-classic: momentum steps on the summed loss against PyTorch, the report's guard (NaN ends a run, the retrain rule), and
its NaN case as a trial result."""

import math

import numpy as np
import pytest
import torch
from torch_helpers import assert_close

from handgrad import models, nn, optim
from handgrad.experiments import StudyOptions, lenet5_classic

QUICK = StudyOptions(quick=True, log=lambda message: None)


def test_momentum_steps_on_the_summed_loss_match_torch():
    rng = np.random.default_rng(1)
    layer = nn.Linear(6, 4, dtype=np.float64)
    twin = torch.nn.Linear(6, 4, dtype=torch.float64)
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(layer.weight.data))
        twin.bias.copy_(torch.tensor(layer.bias.data))
    ours = optim.SGD(layer.parameters(), lr=0.01, momentum=0.9)
    theirs = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    loss = nn.CrossEntropyLoss(reduction="sum")  # the report's loss (the Trainer's loss_reduction="sum")
    for _ in range(3):
        x, y = rng.standard_normal((8, 6)), rng.integers(0, 4, 8)
        ours.zero_grad()
        loss(layer(x), y)
        layer.backward_parameters(loss.backward())
        ours.step()
        theirs.zero_grad()
        torch.nn.CrossEntropyLoss(reduction="sum")(twin(torch.tensor(x)), torch.tensor(y)).backward()
        theirs.step()
    assert_close(layer.weight.data, twin.weight, what="weight after 3 steps")
    assert_close(layer.bias.data, twin.bias, what="bias after 3 steps")


def _guard(window):
    model = models.build("lenet5", input_size=32, init="lecun")
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, optimizer, lenet5_classic.ReportGuard(model, optimizer, 0, 0.1, 0, window=window, init="lecun")


def test_report_guard_ends_the_run_at_the_first_non_finite_loss():
    _, _, guard = _guard(window=0)
    for step in (1, 2):
        assert guard.check_finite(2.3, 1, step)
        guard.observe(2.3, 1, step)
    with pytest.raises(lenet5_classic.NonFiniteLoss, match="iteration 3") as caught:
        guard.check_finite(float("nan"), 1, 3)
    assert caught.value.iteration == 3


def test_retrain_rule_redraws_the_weights_of_a_stuck_net_only():
    model, optimizer, guard = _guard(window=5)
    before = model.state_dict()
    for p in model.parameters():  # give the optimizer some state to clear
        p.grad = np.ones_like(p.data)
    optimizer.step()
    for step in range(1, 6):  # five iterations on the chance loss ln 10: no sign of convergence
        guard.observe(math.log(10), 1, step)
    assert guard.restarts == 1 and guard.firings == 1 and "retrain rule" in guard.events[0]
    after = model.state_dict()
    assert any(not np.array_equal(before[k], after[k]) for k in before if k.endswith("weight"))
    assert optimizer.state_dict()["state"] == {}
    for step in range(6, 11):  # a falling loss shows a sign of convergence: no restart
        guard.observe(0.5, 1, step)
    assert guard.restarts == 1
    assert guard.left_plateau_at == 1  # counted from the restart: the first low loss after it


def test_the_plateau_is_measured_without_the_rule_too():
    _, _, guard = _guard(window=0)
    for step in range(1, 31):
        guard.observe(math.log(10), 1, step)
    assert guard.left_plateau_at is None
    for step in range(31, 61):
        guard.observe(0.1, 1, step)
    # The mean of the last 20 losses drops below 0.9 ln 10 with the third low loss: (17 ln 10 + 0.3) / 20 < 0.9 ln 10.
    assert guard.left_plateau_at == 33 and guard.restarts == 0


def test_nan_case_is_a_result_not_a_crash():
    specs = lenet5_classic.variants(QUICK)
    result = lenet5_classic.trial("as-published-lr", specs["as-published-lr"], 0, QUICK)
    assert result.metrics["diverged"] == 1.0 and result.metrics["converged"] == 0.0
    assert 1 <= result.metrics["nan_iteration"] <= 5  # the report: "after 2-3 iterations"


def test_rate_variants_ask_for_14_seeds_and_the_curve_run_waits_for_the_runs_it_continues():
    specs = lenet5_classic.variants(StudyOptions())
    for name in ("as-published-original-init", "as-published-lecun", "as-published-lecun-lr0.008",
                 "as-published-retrain", "retrain-600"):
        assert specs[name].seeds == 14 and specs[name].config.loss_reduction == "sum"
    assert specs["mean-loss"].seeds == 14 and specs["mean-loss"].config.loss_reduction == "mean"
    assert "as-published-curve" not in specs and specs["fixed"].config.loss_reduction == "mean"
    from handgrad.experiments.common import Results, Trial

    done = Results([Trial("as-published-lecun", seed, {"converged": float(seed in (3, 8))}, 1.0)
                    for seed in range(14)])
    curve = lenet5_classic.variants(StudyOptions(), done)["as-published-curve"]
    assert curve.extra["converged_seeds"] == [3, 8] and curve.guard.keywords["window"] == 0
    assert curve.config.epochs == lenet5_classic.CURVE_EPOCHS
