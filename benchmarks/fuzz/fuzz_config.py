"""Fuzz the reading of a run's config.toml (`TrainConfig.from_toml`, as `load_run` reads it)
and the settings checks after it (`validated`)."""

import common

with common.instrumented(__name__ == "__main__"):
    from handgrad.train import TrainConfig


def read(data: bytes):
    config = common.valid_or_user_error(TrainConfig.from_toml, common.write_input(data, "config.toml"))
    return None if config is None else common.valid_or_user_error(config.validated)


def TestOneInput(data: bytes) -> None:
    read(data)


def seeds() -> list[bytes]:
    out, _ = common.tiny_run()
    configs = [TrainConfig(), TrainConfig(epochs=3, model_options={"dropout": 0.5, "batch_norm": True}),
               TrainConfig(model="convnet", model_options={"channels": (4, 8), "hidden": 16}, optimizer="sgd",
                           scheduler="step", lr_step_size=2, augment="rotate=10,translate=2", augment_copies=3),
               TrainConfig(model="three-layer-convnet", dataset="fashion-mnist", scheduler="plateau", lr=0.01,
                           guard_window=200, monitor_every=100, limit=500, val_fraction=0.0)]
    return [(out / "config.toml").read_bytes()] + [config.validated().to_toml().encode() for config in configs]


if __name__ == "__main__":
    common.main("config", TestOneInput, seeds)
