"""Optimizers and learning-rate schedules with PyTorch's update rules, names and defaults.

    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.lr_scheduler.StepLR(opt, step_size=10)
"""

from handgrad.optim import lr_scheduler
from handgrad.optim.adagrad import Adagrad
from handgrad.optim.adam import Adam, AdamW
from handgrad.optim.optimizer import Optimizer
from handgrad.optim.rmsprop import RMSprop
from handgrad.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "lr_scheduler"]
