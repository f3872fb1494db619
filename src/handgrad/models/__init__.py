"""The model zoo: `build(name, **options)`, `names()`, and `summary(model, input_shape)`.

    model = handgrad.models.build("lenet5", activation="tanh", pool="avg")
    print(handgrad.models.summary(model, (1, 28, 28)))

Registered models: "mlp", "convnet", "three-layer-convnet", "lenet5" (see `zoo`).
"""

from handgrad.models import zoo  # noqa: F401  (registers the models)
from handgrad.models.registry import (
    build,
    convert,
    input_shape,
    names,
    options,
    parse_assignments,
    register,
    resolve_options,
    spec,
)
from handgrad.models.summary import LayerRow, Summary, summary, torch_code

__all__ = [
    "build", "convert", "input_shape", "names", "options", "parse_assignments", "register", "resolve_options",
    "spec", "summary", "Summary", "LayerRow", "torch_code",
]
