"""TrainConfig: checking, defaults that depend on the optimizer, and the TOML round trip."""

import pytest

from handgrad.train import DEFAULT_LR, TrainConfig, read_settings
from memory_helpers import peak_allocation


def test_validated_fills_the_learning_rate_and_weight_decay_of_the_optimizer():
    assert TrainConfig().validated().lr == 1e-3
    for name, lr in DEFAULT_LR.items():
        config = TrainConfig(optimizer=name).validated()
        assert config.lr == lr
        assert config.weight_decay == (1e-2 if name == "adamw" else 0.0)
    assert TrainConfig(optimizer="sgd", lr=0.5, weight_decay=1e-4).validated().lr == 0.5


def test_validated_resolves_the_model_options():
    config = TrainConfig(model_options={"batch_norm": "true", "dropout": "0.2"}).validated()
    assert config.model_options["batch_norm"] is True and config.model_options["dropout"] == 0.2
    assert config.model_options["activation"] == "relu"  # defaults filled in


@pytest.mark.parametrize("changes, message", [
    ({"lr": -0.1}, r"setting 'lr' \(--lr\) must be a positive number, got -0.1"),
    ({"lr": float("nan")}, r"setting 'lr'"),
    ({"epochs": 0}, r"'epochs' \(--epochs\) must be at least 1"),
    ({"epochs": "three"}, r"'epochs' \(--epochs\) expects an integer, got 'three'"),
    ({"batch_size": 0}, r"'batch_size'"),
    ({"val_fraction": 1.0}, r"'val_fraction' \(--val-fraction\) must be in \[0, 1\)"),
    ({"optimizer": "lbfgs"}, r"'lbfgs' is not valid; valid values: adam, sgd, momentum, adagrad, rmsprop, adamw"),
    ({"scheduler": "linear"}, r"valid values: none, step, cosine, plateau"),
    ({"weight_decay": -1.0}, r"'weight_decay'"),
    ({"l2": -1.0}, r"'l2' \(--l2\) must be 0 or more"),
    ({"momentum": 1.0}, r"'momentum'"),
    ({"augment": "spin=3"}, r"unknown augmentation 'spin'"),
    ({"augment": "rotate=10", "augment_copies": 1}, r"'augment_copies' \(--augment-copies\) must be 2 or more"),
    ({"model": "vgg"}, r"unknown model 'vgg'"),
    ({"model_options": {"dropout": 1.5}}, r"option dropout=1.5 must lie in \[0, 1\)"),
    ({"model": "mlp", "model_options": {"input_size": 27}}, r"input_size=27: the data sets' images are 28x28"),
    # widths no memory holds, and past NumPy's index range (fuzzing finds)
    ({"model": "mlp", "model_options": {"hidden": [10**13]}}, r"^model 'mlp' with options .*: its 7,950,000,000,000,010 parameters need 59232115\.7 GiB to train \(values and gradients\), more than this machine's [0-9.]+ GiB of memory$"),
    ({"model": "mlp", "model_options": {"hidden": [10**18]}}, r"^model 'mlp' with options .*: its parameters are too large for an array \(iterator is too large\)$"),
    ({"guard_factor": 1.0}, r"'guard_factor'"),
    ({"seed": -1}, r"'seed'"),
])
def test_bad_settings_raise_naming_the_setting(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes).validated()


def test_checking_a_large_model_allocates_none_of_it():
    # a fuzzing find: checking a valid three-layer convnet of 2.6e8 parameters (1 GB) filled
    # the fuzzer's memory, because the check built and initialised the whole model
    config = TrainConfig(model="three-layer-convnet", model_options={"input_size": 1428, "hidden_dim": 1})
    assert peak_allocation(config.validated) < 2**20


def test_a_model_whose_values_and_gradients_exceed_the_memory_is_refused(monkeypatch):
    from handgrad.train import config as config_module

    options = {"hidden": [1024]}  # 784·1024 + 1024 + 1024·10 + 10 = 814,090 float32 parameters: 6.2 MiB to train
    monkeypatch.setattr(config_module, "_physical_memory", lambda: 814_090 * 4 * 2)
    TrainConfig(model="mlp", model_options=options).validated()
    monkeypatch.setattr(config_module, "_physical_memory", lambda: 814_090 * 4 * 2 - 1)
    with pytest.raises(ValueError, match=r"^model 'mlp' with options .*: its 814,090 parameters need 0\.0 GiB to train"):
        TrainConfig(model="mlp", model_options=options).validated()
    monkeypatch.setattr(config_module, "_physical_memory", lambda: None)  # a system that does not say
    TrainConfig(model="mlp", model_options={"hidden": [10**9]}).validated()


def test_settings_are_checked_before_the_model_is_built(monkeypatch):
    # a fuzzing find: in_channels=2 with input_size=1405 built a 6.5 GB three-layer convnet
    # before the in_channels check refused it
    from handgrad import models

    monkeypatch.setattr(models, "build", lambda *args, **kwargs: pytest.fail("the model was built"))
    config = TrainConfig(model="three-layer-convnet", model_options={"in_channels": 2, "input_size": 1405})
    with pytest.raises(ValueError, match="^model option input_size=1405: the data sets' images are 28x28"):
        config.validated()


def test_toml_round_trip_keeps_every_setting(tmp_path):
    config = TrainConfig(model="convnet", model_options={"channels": "4,8", "dropout": 0.1}, epochs=2, lr=3e-4,
                         l2=1e-4, augment="rotate=5", augment_copies=3, data_dir="somewhere", out="x",
                         quiet=True).validated()
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    again = TrainConfig.from_toml(path).validated()
    assert again.out is None and again.quiet is False  # how a run is shown is not a setting
    again.out, again.quiet = config.out, config.quiet
    assert again == config
    assert "out" not in read_settings(path) and read_settings(path)["model_options"]["channels"] == [4, 8]


def test_bad_config_files(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("epochs = = 3\n")
    with pytest.raises(ValueError, match=r"bad.toml: not valid TOML"):
        read_settings(path)
    path.write_text("epochs = 3\nlearning_rate = 0.1\n")
    with pytest.raises(ValueError, match=r"bad.toml: unknown setting 'learning_rate'; valid settings: model"):
        read_settings(path)
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match=r"not a text file"):
        read_settings(path)
    with pytest.raises(FileNotFoundError):
        read_settings(tmp_path / "missing.toml")
