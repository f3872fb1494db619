"""Training: `fit(TrainConfig) -> RunResult`, `resume(run_dir)`, checkpoints, the divergence guard.

    from handgrad.train import TrainConfig, fit
    result = fit(TrainConfig(model="lenet5", epochs=3, out="runs/demo"))
    print(result.test_accuracy, result.history[-1])

Modules: config (TrainConfig), dataset (the arrays of a run), trainer (Trainer, fit,
resume), guard (DivergenceGuard), checkpoint (safetensors files, atomic writes),
history (history.csv), evaluate (metrics in batches), plots (curves, confusion),
run (reading a run directory back), images (pictures to MNIST layout).
"""

from handgrad.train.checkpoint import load_model, load_state, save_model, save_state
from handgrad.train.config import DEFAULT_LR, LOSS_REDUCTIONS, OPTIMIZERS, SCHEDULERS, TrainConfig, read_settings
from handgrad.train.dataset import PreparedData, class_names, default_data_dir, prepare
from handgrad.train.evaluate import Evaluation, confusion_matrix, evaluate, probabilities
from handgrad.train.guard import DivergenceGuard, TrainingDiverged
from handgrad.train.history import read_csv
from handgrad.train.images import load_image, read_image
from handgrad.train.run import SavedRun, load_run
from handgrad.train.trainer import RunResult, Trainer, fit, resume

__all__ = [
    "DEFAULT_LR", "LOSS_REDUCTIONS", "OPTIMIZERS", "SCHEDULERS", "DivergenceGuard", "Evaluation", "PreparedData",
    "RunResult", "SavedRun", "TrainConfig", "Trainer", "TrainingDiverged", "class_names", "confusion_matrix",
    "default_data_dir", "evaluate", "fit", "load_image", "load_model", "load_run", "load_state", "prepare",
    "probabilities", "read_csv", "read_image", "read_settings", "resume", "save_model", "save_state",
]
