"""The Trainer: history, determinism, l2, the guard in a run, exact resume, and its speed."""

import io
import os
import re
import sys

import numpy as np
import pytest

import handgrad
from handgrad import data, models, nn
from handgrad.train import RunResult, Trainer, TrainConfig, TrainingDiverged, fit, load_run, read_csv, resume
from handgrad.train import trainer as trainer_module
from handgrad.train.monitor import read_layers_csv
from memory_helpers import peak_allocation


def quiet(limit=600, **settings):
    return TrainConfig(limit=limit, quiet=True, **settings)


def weights(model):
    return model.state_dict()


def assert_same_weights(a, b):
    assert list(a) == list(b)
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_fit_records_a_history_row_per_epoch_and_tests_at_the_end(small_data):
    lines = []
    result = fit(quiet(epochs=2, batch_size=32), data=small_data, log=lines.append)
    assert isinstance(result, RunResult) and result.out is None
    assert [row["epoch"] for row in result.history] == [1, 2]
    for row in result.history:
        assert set(row) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                            "guard_firings", "guard_events"}
        assert 0 <= row["train_accuracy"] <= 1 and 0 <= row["val_accuracy"] <= 1 and row["seconds"] > 0
    assert [row["lr"] for row in result.history] == [1e-3, pytest.approx(5e-4)]  # cosine over the 2 epochs
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
    assert result.test_accuracy > 0.5 and np.isfinite(result.test_loss)
    assert result.best_val_accuracy == max(row["val_accuracy"] for row in result.history)
    assert result.guard_firings == 0 and result.seconds > 0
    assert sum(p.data.size for p in result.model.parameters()) == 61_706
    assert lines[0].startswith("training lenet5 (61,706 parameters) on mnist: 540 training, 60 validation, 600 test")
    assert lines[1].startswith("epoch 1/2  train loss ") and len(lines) == 3


def test_same_seed_same_weights_different_seed_different_weights(small_data):
    config = quiet(epochs=1, model_options={"dropout": 0.3, "batch_norm": True})
    tiny = data_subset(small_data, 160)
    first, second = fit(config, data=tiny), fit(config, data=tiny)
    assert_same_weights(weights(first.model), weights(second.model))
    assert first.history[0]["train_loss"] == second.history[0]["train_loss"]
    other = fit(quiet(epochs=1, seed=1, model_options={"dropout": 0.3, "batch_norm": True}), data=tiny)
    assert not np.array_equal(weights(other.model)["0.weight"], weights(first.model)["0.weight"])


def test_explicit_l2_adds_its_term_to_the_loss_and_its_gradient_to_the_weights_only(small_data):
    lam, lr, n = 0.05, 0.1, 32
    subset = data_subset(small_data, n)
    result = fit(quiet(epochs=1, batch_size=n, optimizer="sgd", lr=lr, l2=lam, val_fraction=0.0), data=subset)

    handgrad.manual_seed(0)  # the same start as the trainer's
    model = models.build("lenet5")
    loss_fn = nn.CrossEntropyLoss()
    (x, y), = list(data.Batches(subset.x_train, subset.y_train, n, seed=0, epoch=0))
    loss = loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    penalised = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    penalty = 0.5 * lam * sum(float(np.sum(w.data.astype(np.float64) ** 2)) for w in penalised)
    expected = {}
    for name, p in model.named_parameters():
        grad = p.grad + lam * p.data if name.endswith("weight") else p.grad
        expected[name] = p.data - lr * grad
    assert result.history[0]["train_loss"] == pytest.approx(loss + penalty, rel=1e-5)
    trained = weights(result.model)
    for name, value in expected.items():
        np.testing.assert_allclose(trained[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_summed_loss_steps_with_torchs_summed_cross_entropy_gradient_and_records_the_mean(small_data):
    import torch
    from torch_helpers import torch_copy

    lr, wd, n = 1e-3, 5e-3, 32
    subset = data_subset(small_data, n)
    result = fit(quiet(epochs=1, batch_size=n, optimizer="sgd", lr=lr, weight_decay=wd, val_fraction=0.0,
                       loss_reduction="sum"), data=subset)

    handgrad.manual_seed(0)  # the same start as the trainer's
    twin = torch_copy(models.build("lenet5"), np.float32)
    (x, y), = list(data.Batches(subset.x_train, subset.y_train, n, seed=0, epoch=0))
    loss = torch.nn.CrossEntropyLoss(reduction="sum")(twin(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    with torch.no_grad():
        torch.optim.SGD(twin.parameters(), lr=lr, weight_decay=wd).step()
    assert result.history[0]["train_loss"] == pytest.approx(loss.item() / n, rel=1e-5)  # shown as the mean
    trained = weights(result.model)
    for name, value in twin.state_dict().items():
        np.testing.assert_allclose(trained[name], value.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    with pytest.raises(ValueError, match="loss_reduction.*'none' is not valid"):
        quiet(loss_reduction="none").validated()


def data_subset(prepared, n):
    """The first n training images of `prepared`, with its test set."""
    return trainer_module.PreparedData(prepared.x_train[:n], prepared.y_train[:n], prepared.x_val[:0],
                                       prepared.y_val[:0], prepared.x_test, prepared.y_test, prepared.mean,
                                       prepared.std, prepared.pad)


def test_without_validation_the_history_has_no_validation_metrics(small_data):
    result = fit(quiet(epochs=1, val_fraction=0.0, scheduler="plateau"), data=data_subset(small_data, 64))
    assert result.history[0]["val_loss"] is None and result.best_val_accuracy is None


def test_a_diverging_run_is_rescued_by_the_guard_and_counts_its_firings(small_data):
    lines = []
    result = fit(quiet(epochs=1, optimizer="sgd", lr=1e3, guard_factor=1e-4, batch_size=32), data=small_data,
                 log=lines.append)
    assert result.guard_firings == 1 == result.history[0]["guard_firings"]
    assert result.history[0]["lr"] == pytest.approx(0.1)
    assert any(line.startswith("divergence guard: the loss exploded") and "from 1e+03 to 0.1" in line for line in lines)
    assert result.history[0]["train_loss"] < 2.5  # counts only the steps after the rescue
    assert np.isfinite(result.test_loss) and result.test_accuracy > 0.15


def test_a_run_that_keeps_diverging_gives_up(small_data):
    with pytest.raises(TrainingDiverged, match=r"after the guard had already lowered the learning rate 1 times"):
        fit(quiet(epochs=1, optimizer="sgd", lr=1e6, guard_retries=1, guard_factor=0.5), data=small_data)


def test_schedulers_change_the_recorded_learning_rate(small_data):
    tiny = data_subset(small_data, 32)
    step = fit(quiet(epochs=3, scheduler="step", lr_step_size=1, lr_gamma=0.5), data=tiny)
    assert [row["lr"] for row in step.history] == [1e-3, 5e-4, 2.5e-4]
    constant = fit(quiet(epochs=2, scheduler="none"), data=tiny)
    assert [row["lr"] for row in constant.history] == [1e-3, 1e-3]


def test_a_run_directory_holds_every_file_and_a_longer_run_resumes_exactly(tmp_path):
    """Extending a 1-epoch run to 2 equals a 2-epoch run (for schedules that do not depend on the length)."""
    settings = dict(limit=200, scheduler="step", lr_gamma=0.5, model_options={"dropout": 0.2, "batch_norm": True})
    straight = fit(quiet(epochs=2, out=str(tmp_path / "a"), **settings))
    fit(quiet(epochs=1, out=str(tmp_path / "b"), **settings))
    resumed = resume(tmp_path / "b", epochs=2, quiet=True)
    assert_same_weights(weights(straight.model), weights(resumed.model))
    for run in ("a", "b"):
        names = {p.name for p in (tmp_path / run).iterdir()}
        assert names == {"config.toml", "history.csv", "model.safetensors", "resume.safetensors", "summary.json",
                         "curves.png", "layers.csv", "layers.png"}
    # the monitor's samples of the first epoch survive the resume, and the second epoch's equal the straight run's
    assert read_layers_csv(tmp_path / "b" / "layers.csv") == read_layers_csv(tmp_path / "a" / "layers.csv")
    rows = read_csv(tmp_path / "b" / "history.csv")
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[1]["train_loss"] == pytest.approx(straight.history[1]["train_loss"], rel=0, abs=0)
    assert TrainConfig.from_toml(tmp_path / "b" / "config.toml").epochs == 2
    saved = load_run(tmp_path / "b")
    assert_same_weights(weights(saved.model), weights(straight.model))
    assert (saved.mean, saved.std, saved.pad) == (straight.mean, straight.std, 0)
    assert not saved.model.training
    with pytest.raises(ValueError, match=r"already holds a run; continue it with --resume"):
        fit(quiet(epochs=1, out=str(tmp_path / "a")))
    with pytest.raises(ValueError, match=r"has already trained 2 epochs; --epochs 1 cannot shorten it"):
        resume(tmp_path / "a", epochs=1)


def test_batches_are_float32_c_contiguous_and_the_model_is_not_copied_per_step(small_data, monkeypatch):
    trainer = Trainer(quiet(epochs=1, batch_size=16, model="mlp"), data=small_data)
    seen, copies = [], []
    forward, state_dict = trainer.engine.forward, trainer.model.state_dict  # the steps run through the engine
    monkeypatch.setattr(trainer.engine, "forward", lambda x: seen.append((x.dtype, x.flags.c_contiguous)) or forward(x),
                        raising=False)
    monkeypatch.setattr(trainer.model, "state_dict", lambda: copies.append(1) or state_dict(), raising=False)
    trainer.epoch = 1
    trainer.train_epoch()
    steps = -(-540 // 16)
    assert seen[:steps] == [(np.float32, True)] * steps
    assert len(copies) <= steps // 100 + 1


def test_checkpoint_order_puts_the_resume_file_first(tmp_path, small_data, monkeypatch):
    written = []
    replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: written.append(os.path.basename(dst)) or replace(src, dst))
    fit(quiet(epochs=1, out=str(tmp_path / "run")), data=data_subset(small_data, 32))
    assert written == ["config.toml", "resume.safetensors", "model.safetensors", "history.csv", "layers.csv",
                       "summary.json", "curves.png", "layers.png"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_progress_bar_with_running_loss_and_accuracy_shows_on_a_terminal(small_data, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(trainer_module, "BAR_INTERVAL", 0)
    fit(TrainConfig(epochs=1, batch_size=16, model="mlp"), data=data_subset(small_data, 320))
    shown = terminal.getvalue().replace("\r", "\n").splitlines()
    bars = [line for line in shown if line.startswith("epoch 1/1: ")]
    for done in (10, 20):
        assert any(re.search(rf"{done}/20 .*batch/s, loss \d\.\d{{4}} acc \d+\.\d\d%]", line) for line in bars), bars
    assert any(line.startswith("epoch 1/1  train loss") for line in shown)  # the epoch line, above the bar


def test_quiet_runs_show_nothing(small_data, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    fit(quiet(epochs=1, batch_size=16, model="mlp"), data=data_subset(small_data, 320))
    assert terminal.getvalue() == ""


def test_weights_that_do_not_fit_a_large_model_are_refused_before_the_model_is_built(tmp_path):
    # a fuzzing find: config.toml asking for an MLP of 5.2e8 parameters (2 GB, so valid) beside
    # another model's weights; loading (and resuming) built and initialised the whole model first
    from handgrad.train import checkpoint

    (tmp_path / "config.toml").write_text(TrainConfig(model="mlp", model_options={"hidden": (666666,)}).to_toml())
    small = models.build("mlp", hidden=(4,)).state_dict()
    checkpoint.save_model(tmp_path / "model.safetensors", small, {"mean": 0.1, "std": 0.3})
    checkpoint.save_state(tmp_path / "resume.safetensors", {"format": 1, "epoch": 1, "model": small})
    for load, name in ((load_run, "model"), (resume, "resume")):
        def refused():
            with pytest.raises(ValueError, match=rf"{name}\.safetensors does not fit the run's model 'mlp': cannot load "
                                                 r"state dict into Sequential: 1\.weight: shape \(4, 784\) in the state "
                                                 r"dict, \(666666, 784\) in the model; "):
                load(tmp_path)

        assert peak_allocation(refused) < 2**20, name
