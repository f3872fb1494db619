"""TensorBoard event files of a run (`--tensorboard DIR`), through tensorboardX.

tensorboardX is an optional extra (`pip install 'handgrad[tensorboard]'`; it needs no
torch or TensorFlow). Written: at every sample of the layer monitor, its scalars
(`mean/0`, `update_ratio/3.weight`, ...) and histograms of each layer's output and each
parameter's gradient; after every epoch, the history row's numbers (`epoch/train_loss`,
...) and the first conv layer's filters as one image (`filters`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handgrad import nn
from handgrad.errors import UserError
from handgrad.nn import Module

SCALARS = ("mean", "std", "zero_fraction", "saturated_fraction", "grad_norm", "weight_norm", "update_ratio")


class TensorBoardLog:
    """A tensorboardX SummaryWriter on `folder`, fed by the trainer and the layer monitor."""

    def __init__(self, folder: str | Path):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise UserError("--tensorboard needs tensorboardX, an optional extra: "
                             "pip install 'handgrad[tensorboard]'") from None
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(logdir=str(folder))

    def activations(self, iteration: int, outputs: list[tuple[str, np.ndarray]]) -> None:
        for name, y in outputs:
            self._histogram(f"activations/{name}", y, iteration)

    def gradients(self, iteration: int, gradients: list[tuple[str, np.ndarray]]) -> None:
        for name, grad in gradients:
            self._histogram(f"gradients/{name}", grad, iteration)

    def scalars(self, iteration: int, rows: list[dict]) -> None:
        for row in rows:
            for key in SCALARS:
                if row.get(key) is not None:
                    self.writer.add_scalar(f"{key}/{row['name']}", row[key], iteration)

    def epoch(self, row: dict, model: Module) -> None:
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(f"epoch/{key}", value, row["epoch"])
        conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        if conv is not None:
            self.writer.add_image("filters", tile(conv.weight.data), row["epoch"], dataformats="HW")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def _histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        values = np.asarray(values).reshape(-1)
        if values.size and np.isfinite(values).all():  # a diverging run's nan would stop the writer
            self.writer.add_histogram(tag, values, step)


def tile(weight: np.ndarray, pad: int = 1) -> np.ndarray:
    """Conv kernels (out, in, kh, kw) as one grey image in [0, 1]: a row per output channel,
    a column per input channel, each kernel scaled to its own range."""
    out_channels, in_channels, kh, kw = weight.shape
    low = weight.min(axis=(2, 3), keepdims=True)
    span = weight.max(axis=(2, 3), keepdims=True) - low
    scaled = (weight - low) / np.where(span > 0, span, 1)
    image = np.ones((out_channels * (kh + pad) + pad, in_channels * (kw + pad) + pad), dtype=np.float32)
    for o in range(out_channels):
        for i in range(in_channels):
            image[pad + o * (kh + pad): pad + o * (kh + pad) + kh,
                  pad + i * (kw + pad): pad + i * (kw + pad) + kw] = scaled[o, i]
    return image
