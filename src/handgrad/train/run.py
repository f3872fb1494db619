"""Reading a run directory back: its config, its model with the saved weights, its normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from handgrad import models
from handgrad.errors import MissingFileError, UserError
from handgrad.nn import Module
from handgrad.nn.mode import shapes_only
from handgrad.train import checkpoint
from handgrad.train.config import TrainConfig
from handgrad.train.dataset import normalisation, padding
from handgrad.train.files import CONFIG_FILE, MODEL_FILE


@dataclass
class SavedRun:
    """A run directory's config, its model (weights loaded, eval mode) and how its inputs are normalised."""

    path: Path
    config: TrainConfig
    model: Module
    mean: float
    std: float
    pad: int


def check_weights(config: TrainConfig, state: dict, where: Path) -> None:
    """Refuse weights (a state dict) that do not fit the model of `config`, naming `where` they came
    from; checked on the model built without memory, before a large model takes its memory."""
    with shapes_only():
        model = models.build(config.model, **config.model_options)
    _fit(model.check_state_dict, state, where, config.model)


def _fit(load, state: dict, where: Path, model: str) -> None:
    try:
        load(state)
    except ValueError as exc:
        raise UserError(f"{where} does not fit the run's model {model!r}: {exc}") from exc


def load_run(run_dir: str | Path) -> SavedRun:
    """Load the model of `run_dir`; a missing directory or file, or weights that do not fit, raise."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingFileError(f"run directory {run_dir} does not exist")
    config_path, model_path = run_dir / CONFIG_FILE, run_dir / MODEL_FILE
    if not config_path.is_file():
        raise MissingFileError(f"{run_dir} is not a handgrad run directory: it has no {CONFIG_FILE}")
    if not model_path.is_file():
        raise MissingFileError(f"{run_dir} has no {MODEL_FILE} yet (no epoch has finished)")
    config = TrainConfig.from_toml(config_path).validated()
    state, info = checkpoint.load_model(model_path)
    check_weights(config, state, model_path)
    model = models.build(config.model, **config.model_options)
    _fit(model.load_state_dict, state, model_path, config.model)
    model.eval()
    if "mean" in info and "std" in info:
        mean, std = float(info["mean"]), float(info["std"])
    else:  # weights written by another tool: recompute from the data, as the run did
        mean, std = normalisation(config)
    return SavedRun(run_dir, config, model, mean, std, padding(config))
