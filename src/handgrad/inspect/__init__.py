"""Pictures of a trained run: what the network learned and where it fails (`handgrad inspect`).

    from handgrad.inspect import inspect_run
    written = inspect_run("runs/lenet5-mnist-...")          # {picture name: path}

Modules: analysis (saliency by handgrad's own backward pass, penultimate-layer
features, PCA, the most confident mistakes, accuracy per class), pictures (the
matplotlib figures), run (which pictures a run gets, and where they go), cli (the
`handgrad inspect` command).
"""

from handgrad.inspect.analysis import (
    confident_mistakes,
    penultimate_features,
    per_class_accuracy,
    principal_components,
    saliency,
)
from handgrad.inspect.run import PICTURES, inspect_run

__all__ = ["PICTURES", "confident_mistakes", "inspect_run", "penultimate_features", "per_class_accuracy",
           "principal_components", "saliency"]
