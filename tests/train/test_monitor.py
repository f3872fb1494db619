"""The layer monitor: its numbers against PyTorch on a fixed batch, training bit-identical with it
on or off, its warnings, layers.csv, the guard reading its ratios, and the TensorBoard log."""

import math
import struct

import numpy as np
import pytest
import torch

from handgrad import models, nn, optim
from handgrad.train import DivergenceGuard, TrainConfig, Trainer, TrainingDiverged, fit, read_csv
from handgrad.train.monitor import (
    COLUMNS,
    LayerMonitor,
    forward_layers,
    read_layers_csv,
    write_layers_csv,
)
from torch_helpers import torch_copy


def quiet(limit=600, **settings):
    return TrainConfig(limit=limit, quiet=True, **settings)


def subset(prepared, n):
    import dataclasses

    return dataclasses.replace(prepared, x_train=prepared.x_train[:n], y_train=prepared.y_train[:n])


def torch_stats(kind: str, y: torch.Tensor) -> dict:
    y = y.detach().double()
    stats = {"mean": y.mean().item(), "std": y.std(unbiased=False).item(), "zero_fraction": None,
             "saturated_fraction": None}
    if kind == "ReLU":
        stats["zero_fraction"] = (y == 0).double().mean().item()
    elif kind == "Tanh":
        stats["saturated_fraction"] = (y.abs() > 0.99).double().mean().item()
    elif kind == "Sigmoid":
        stats["saturated_fraction"] = ((y < 0.01) | (y > 0.99)).double().mean().item()
    return stats


def sigmoid_net():
    return nn.Sequential(nn.Conv2d(1, 4, 5), nn.Sigmoid(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 12 * 12, 10))


@pytest.mark.parametrize("build", [
    lambda: models.build("lenet5"),
    lambda: models.build("lenet5", activation="tanh", batch_norm=True),
    sigmoid_net,
], ids=["lenet5", "lenet5-tanh-batchnorm", "sigmoid-avgpool"])
def test_the_numbers_equal_pytorchs_on_a_fixed_batch(build, rng):
    """Every activation statistic, gradient norm, weight norm and update ratio of one sampled
    Adam step, against the same step in PyTorch computed directly."""
    model = build()
    x = rng.standard_normal((24, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 24)
    twin = torch_copy(model, np.float32)
    before = {name: p.detach().clone().double() for name, p in twin.named_parameters()}

    # PyTorch: layer by layer, then the step
    h, expected = torch.tensor(x), {}
    for (name, layer), torch_layer in zip(forward_layers(model), twin):
        h = torch_layer(h)
        expected[name] = torch_stats(type(layer).__name__, h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    loss.backward()
    grads = {name: p.grad.double().norm().item() for name, p in twin.named_parameters()}
    torch.optim.Adam(twin.parameters(), lr=1e-3).step()

    monitor = LayerMonitor(model, every=1)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    monitor.observe_forward(x, 1, 1, 1)
    optimizer.zero_grad()
    loss_fn(model(x), y)
    model.backward_parameters(loss_fn.backward())
    monitor.before_update()
    optimizer.step()
    ratios = monitor.after_update()

    rows = {row["name"]: row for row in monitor.rows}
    assert set(rows) == set(expected) | set(grads)
    for name, stats in expected.items():
        for key, value in stats.items():
            if value is None:
                assert rows[name][key] is None, (name, key)
            else:
                assert rows[name][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (name, key)
    for name, p in twin.named_parameters():
        old = before[name]
        # (a conv bias before BatchNorm has a gradient of 0 in exact arithmetic: rounding noise, hence abs)
        assert rows[name]["grad_norm"] == pytest.approx(grads[name], rel=1e-5, abs=1e-7), name
        assert rows[name]["weight_norm"] == pytest.approx(old.norm().item(), rel=1e-6), name
        if old.norm().item() == 0:  # BatchNorm's shift starts at 0: no ratio
            assert rows[name]["update_ratio"] is None and ratios[name] is None
        elif grads[name] > 1e-6:  # (Adam's step on a gradient of rounding noise is noise too)
            ratio = ((p.detach().double() - old).norm() / old.norm()).item()
            assert rows[name]["update_ratio"] == pytest.approx(ratio, rel=1e-4), name
            assert ratios[name] == rows[name]["update_ratio"]
    assert all(row["iteration"] == 1 and row["epoch"] == 1 and row["step"] == 1 for row in monitor.rows)
    kinds = {type(layer).__name__: name for name, layer in forward_layers(model)}
    if "ReLU" in kinds:
        assert 0 < rows[kinds["ReLU"]]["zero_fraction"] < 1
    else:
        assert [rows[kinds[k]]["saturated_fraction"] is not None for k in ("Tanh", "Sigmoid") if k in kinds] == [True]


@pytest.mark.parametrize("settings", [
    dict(batch_size=64),  # LeNet-5 at batch 64: its batches run in chunks on several cores
    dict(batch_size=32, model_options={"dropout": 0.3, "batch_norm": True}),  # random masks, running statistics
    dict(batch_size=16, model="mlp", l2=1e-3, optimizer="momentum"),
], ids=["lenet5-chunked", "lenet5-dropout-batchnorm", "mlp-l2-momentum"])
def test_training_is_bit_identical_with_the_monitor_on_or_off(small_data, settings):
    tiny = subset(small_data, 200)
    on = fit(quiet(epochs=2, monitor_every=1, **settings), data=tiny)
    off = fit(quiet(epochs=2, monitor_every=0, **settings), data=tiny)
    a, b = on.model.state_dict(), off.model.state_dict()
    assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in on.history]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in off.history]
    assert on.test_loss == off.test_loss


def test_samples_every_n_iterations_across_epochs(small_data):
    tiny = subset(small_data, 100)  # 7 steps of 16 per epoch
    trainer = Trainer(quiet(epochs=2, batch_size=16, model="mlp", monitor_every=3), data=tiny)
    trainer.run()
    sampled = sorted({(row["iteration"], row["epoch"], row["step"]) for row in trainer.monitor.rows})
    assert sampled == [(1, 1, 1), (4, 1, 4), (7, 1, 7), (10, 2, 3), (13, 2, 6)]
    per_sample = len(forward_layers(trainer.model)) + len(list(trainer.model.parameters()))
    assert len(trainer.monitor.rows) == 5 * per_sample


def test_warns_once_an_epoch_about_dead_layers_and_ratios_out_of_range(small_data):
    lines = []
    trainer = Trainer(quiet(epochs=1, batch_size=32, model="mlp", optimizer="sgd", lr=1e-9, monitor_every=2),
                      data=subset(small_data, 128), log=lines.append)
    trainer.model[1].bias.data[:] = -1e3  # every unit of the first hidden layer is negative: its ReLU is dead
    trainer.run()
    warnings = [line for line in lines if line.startswith("layer monitor:")]
    assert len(warnings) == 2, lines
    assert warnings[0].startswith("layer monitor: epoch 1: dead layer 2 (ReLU, at least 100.0% zeros")
    # float32 weights do not move at all under updates of ~1e-9
    assert "update-to-weight ratio outside [1e-05, 0.1] (median of the epoch's samples): 1.weight 0, 1.bias 0" \
        in warnings[1]


def test_a_healthy_run_gives_no_warning(small_data):
    lines = []
    fit(quiet(epochs=1, monitor_every=5), data=subset(small_data, 320), log=lines.append)
    assert not [line for line in lines if line.startswith("layer monitor:")], lines


def test_layers_csv_round_trip_and_a_malformed_file(tmp_path):
    rows = [dict.fromkeys(COLUMNS) | {"iteration": 1, "epoch": 1, "step": 1, "name": "1", "type": "ReLU",
                                     "mean": 0.25, "std": 0.5, "zero_fraction": 0.5},
            dict.fromkeys(COLUMNS) | {"iteration": 1, "epoch": 1, "step": 1, "name": "0.weight", "type": "Conv2d",
                                     "grad_norm": 0.1, "weight_norm": 2.0, "update_ratio": 1e-3}]
    write_layers_csv(tmp_path / "layers.csv", rows)
    assert (tmp_path / "layers.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    assert read_layers_csv(tmp_path / "layers.csv") == rows
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"other.csv: not a layers.csv file"):
        read_layers_csv(tmp_path / "other.csv")


# -- the guard reads the ratios --------------------------------------------------------------
def ratio_guard(window):
    model = nn.Sequential(nn.Linear(2, 2))
    return DivergenceGuard(model, optim.SGD(model.parameters(), lr=0.1), patience=0, ratio_window=window)


def advance(guard, iterations):
    for _ in range(iterations):
        guard.observe(1.0, 1, guard.iteration + 1)


def test_guard_fires_when_a_ratio_stays_out_of_range_for_the_window():
    guard = ratio_guard(window=10)
    advance(guard, 1)
    guard.check_ratios({"0.weight": 0.5, "0.bias": 1e-3}, 1, 1, {"0.weight": "Linear"})  # streak starts at 1
    advance(guard, 5)
    guard.check_ratios({"0.weight": 0.7, "0.bias": 1e-3}, 1, 6)
    assert guard.firings == 0
    advance(guard, 5)
    guard.check_ratios({"0.weight": 0.9, "0.bias": 1e-3}, 1, 11, {"0.weight": "Linear"})
    assert guard.firings == 1 and guard.optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    assert guard.events[0].startswith("divergence guard: update-to-weight ratio of 0.weight (Linear) above 0.1 "
                                      "for 10 iterations (now 0.9) at epoch 1, step 11; restored")


def test_guard_ratio_streaks_break_on_a_healthy_sample_and_undefined_ratios_are_ignored():
    guard = ratio_guard(window=4)
    for ratio in (1e-7, 1e-7, 1e-3, 1e-7, 1e-7):  # the healthy sample restarts the streak
        advance(guard, 2)
        guard.check_ratios({"0.weight": ratio, "0.bias": None}, 1, guard.iteration)
    assert guard.firings == 0
    advance(guard, 2)
    guard.check_ratios({"0.weight": 1e-7, "0.bias": None}, 1, guard.iteration)
    assert guard.firings == 1 and "0.weight below 1e-05 for 4 iterations" in guard.events[0]
    guard = ratio_guard(window=2)
    for ratio in (math.nan, math.nan):  # weights gone non-finite: exploding
        advance(guard, 2)
        guard.check_ratios({"0.weight": ratio}, 1, guard.iteration)
    assert guard.firings == 1 and "above 0.1" in guard.events[0]
    off = ratio_guard(window=0)
    for _ in range(3):
        advance(off, 5)
        off.check_ratios({"0.weight": 10.0}, 1, off.iteration)
    assert off.firings == 0


def test_guard_ratio_streaks_are_part_of_its_state():
    guard = ratio_guard(window=10)
    advance(guard, 3)
    guard.check_ratios({"0.weight": 0.5}, 1, 3)
    other = ratio_guard(window=10)
    other.load_state_dict(guard.state_dict())
    assert other.ratio_streaks == {"0.weight": ["above", 3]} and other.state_dict() == guard.state_dict()


def test_a_run_whose_updates_vanish_fires_the_guard_and_records_why(small_data, tmp_path):
    lines = []
    result = fit(quiet(epochs=1, batch_size=16, optimizer="sgd", lr=1e-8, guard_patience=0, guard_window=10,
                       monitor_every=5, guard_retries=5, out=str(tmp_path / "run")),
                 data=subset(small_data, 544), log=lines.append)  # 34 steps: samples at 1, 6, 11, ...
    assert result.guard_firings >= 1
    reason = "update-to-weight ratio of 0.weight (Conv2d) below 1e-05 for 10 iterations"
    assert reason in result.guard_events[0] and "at epoch 1, step 11;" in result.guard_events[0]
    assert any(reason in line for line in lines)
    row = read_csv(tmp_path / "run" / "history.csv")[0]
    assert row["guard_firings"] == result.guard_firings and row["guard_events"].count("divergence guard:") == \
        result.guard_firings and reason in row["guard_events"]


def test_the_guard_window_needs_the_monitor():
    with pytest.raises(ValueError, match=r"'guard_window' \(--guard-window\) must be 0 \(off\) or at least "
                                         r"--monitor-every \(100"):
        quiet(guard_window=50).validated()
    with pytest.raises(ValueError, match=r"--monitor-every \(0, which must not be 0\)"):
        quiet(guard_window=50, monitor_every=0).validated()
    with pytest.raises(ValueError, match=r"'monitor_every' \(--monitor-every\) must be 0 \(off\) or more"):
        quiet(monitor_every=-1).validated()
    assert quiet(guard_window=100).validated().guard_window == 100


# -- TensorBoard --------------------------------------------------------------------------------
def event_records(folder):
    """The Event protos of every event file in `folder` (TFRecord framing: length, crc, data, crc)."""
    from tensorboardX.proto import event_pb2

    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        payload = path.read_bytes()
        offset = 0
        while offset < len(payload):
            (length,) = struct.unpack_from("<Q", payload, offset)
            event = event_pb2.Event()
            event.ParseFromString(payload[offset + 12: offset + 12 + length])
            events.append(event)
            offset += 12 + length + 4
    return events


def test_tensorboard_gets_the_scalars_histograms_and_filters(small_data, tmp_path):
    pytest.importorskip("tensorboardX")
    result = fit(quiet(epochs=1, batch_size=32, monitor_every=4, tensorboard=str(tmp_path / "tb")),
                 data=subset(small_data, 160))  # 5 steps: samples at 1 and 5
    tags = {}
    for event in event_records(tmp_path / "tb"):
        for value in event.summary.value:
            kind = "image" if value.HasField("image") else "histo" if value.HasField("histo") else "scalar"
            tags.setdefault(value.tag, set()).add((kind, event.step))
    assert tags["update_ratio/0.weight"] == {("scalar", 1), ("scalar", 5)}
    assert tags["zero_fraction/1"] == {("scalar", 1), ("scalar", 5)}
    assert ("histo", 1) in tags["activations/0"] and ("histo", 5) in tags["gradients/11.bias"]
    assert tags["filters"] == {("image", 1)}
    assert tags["epoch/train_loss"] == {("scalar", 1)}
    assert "tensorboard" not in result.config.to_dict()  # where a run is shown is not part of it


def test_tensorboard_without_tensorboardx_is_a_clear_error(monkeypatch, small_data, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ValueError, match=r"--tensorboard needs tensorboardX, an optional extra: "
                                         r"pip install 'handgrad\[tensorboard\]'"):
        Trainer(quiet(tensorboard=str(tmp_path / "tb")), data=small_data)


def test_a_run_that_diverges_still_leaves_its_layer_samples(small_data, tmp_path):
    with pytest.raises(TrainingDiverged):
        fit(quiet(epochs=1, optimizer="sgd", lr=1e6, guard_retries=0, monitor_every=1, out=str(tmp_path / "run")),
            data=subset(small_data, 320))
    rows = read_layers_csv(tmp_path / "run" / "layers.csv")
    assert rows and rows[0]["iteration"] == 1 and (tmp_path / "run" / "layers.png").is_file()
