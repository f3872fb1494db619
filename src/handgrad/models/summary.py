"""A layer table of any model: each layer's output shape and parameter count, and totals.

`summary(model, input_shape)` runs one forward pass on zeros of batch 1 in eval mode,
recording the output of every leaf module (a module with no submodules) as it is
called, so it works for any model, not only `Sequential`s. Each `Sequential` runs its
layers in the order they are listed (not with the ReLU/MaxPool2d swap its forward uses
for speed), so the table shows the layers as PyTorch would. The model's train/eval
mode is restored afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handgrad.nn import Module, Sequential


@dataclass(frozen=True)
class LayerRow:
    """One leaf module: its dotted name, class name, output shape (batch dimension left out) and parameters."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    parameters: int


@dataclass(frozen=True)
class Summary:
    """The layer table; `str()` renders it."""

    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    output_shape: tuple[int, ...]
    total_parameters: int

    def __str__(self) -> str:
        table = [("Layer", "Type", "Output shape", "Params"), ("input", "", _shape(self.input_shape), "")]
        table += [(row.name, row.type, _shape(row.output_shape), f"{row.parameters:,}") for row in self.rows]
        widths = [max(len(line[i]) for line in table) for i in range(4)]

        def render(line) -> str:
            return "  ".join([line[0].ljust(widths[0]), line[1].ljust(widths[1]), line[2].ljust(widths[2]),
                              line[3].rjust(widths[3])]).rstrip()

        rule = "-" * len(render(tuple("-" * w for w in widths)))
        lines = [render(table[0]), rule, *(render(line) for line in table[1:]), rule,
                 f"Total parameters: {self.total_parameters:,}", f"Output shape: {_shape(self.output_shape)}"]
        return "\n".join(lines)


def _shape(shape) -> str:
    return str(tuple(shape))


def summary(model: Module, input_shape) -> Summary:
    """The layer table of `model` for one input of shape `input_shape` (C, H, W), batch left out."""
    input_shape = tuple(int(s) for s in input_shape)
    leaves = [(name, module) for name, module in model.named_modules() if not module._modules]
    dtype = next((p.dtype for p in model.parameters()), np.float32)
    rows: list[LayerRow] = []
    counted: set[int] = set()
    was_training = model.training

    def recorder(name: str, module: Module):
        forward = module.forward

        def record(*args, **kwargs):
            out = forward(*args, **kwargs)
            params = 0 if id(module) in counted else sum(p.data.size for p in module._parameters.values())
            counted.add(id(module))
            rows.append(LayerRow(name or type(module).__name__, type(module).__name__, tuple(np.shape(out)[1:]), params))
            return out

        return record

    def in_order(sequential: Sequential):
        def forward(x):
            for layer in sequential:
                x = layer(x)
            return x

        return forward

    patched = [(module, recorder(name, module)) for name, module in leaves]
    patched += [(module, in_order(module)) for module in model.modules() if isinstance(module, Sequential)]
    for module, forward in patched:
        object.__setattr__(module, "forward", forward)
    try:
        model.eval()
        out = model(np.zeros((1, *input_shape), dtype=dtype))
    finally:
        for module, _ in patched:
            del module.__dict__["forward"]
        for module in model.modules():
            module._cache = None
        model.train(was_training)
    total = sum(p.data.size for p in model.parameters())
    return Summary(input_shape, tuple(rows), tuple(np.shape(out)[1:]), total)


def torch_code(model: Sequential) -> str:
    """Python that builds the `torch.nn.Sequential` equivalent of a registry model.

    Each layer's repr is already its torch.nn constructor call (the same arguments under
    the same names), so the torch model has the same state-dict keys and shapes, and
    `load_state_dict(safetensors.torch.load_file("model.safetensors"))` fills it.
    """
    if not isinstance(model, Sequential) or any(layer._modules for layer in model):
        raise TypeError("torch_code needs a Sequential of layers, as every registry model is")
    layers = "\n".join(f"    nn.{layer!r},  # {name}" for name, layer in model._modules.items())
    return f"from torch import nn\n\nmodel = nn.Sequential(\n{layers}\n)"
