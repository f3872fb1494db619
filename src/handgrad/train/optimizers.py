"""The optimizer and learning-rate scheduler a (validated) TrainConfig asks for."""

from __future__ import annotations

from handgrad import optim
from handgrad.optim import Optimizer
from handgrad.train.config import TrainConfig


def build_optimizer(config: TrainConfig, params) -> Optimizer:
    """adam, adamw, sgd (no momentum), momentum (SGD with `config.momentum`), adagrad or rmsprop."""
    lr, decay = config.lr, config.weight_decay
    if config.optimizer == "sgd":
        return optim.SGD(params, lr=lr, weight_decay=decay)
    if config.optimizer == "momentum":
        return optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=decay)
    kinds = {"adam": optim.Adam, "adamw": optim.AdamW, "adagrad": optim.Adagrad, "rmsprop": optim.RMSprop}
    return kinds[config.optimizer](params, lr=lr, weight_decay=decay)


def build_scheduler(config: TrainConfig, optimizer: Optimizer):
    """None, StepLR, CosineAnnealingLR (over `config.epochs`) or ReduceLROnPlateau, stepped once per epoch."""
    if config.scheduler == "step":
        return optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step_size, gamma=config.lr_gamma)
    if config.scheduler == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler == "plateau":
        return optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=config.lr_gamma, patience=config.lr_patience)
    return None
