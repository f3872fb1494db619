"""The scaling plot of the speed benchmark: epoch time against batch size and image size."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402


def plot(by_batch: dict, by_image: dict, path: str) -> None:
    """by_batch: model → {batch: (ours, theirs)} seconds per epoch;
    by_image: image size → (ours, theirs) milliseconds per step (wide CNN, batch 64)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (model, times), colour in zip(by_batch.items(), ("tab:blue", "tab:orange")):
        batches = sorted(times)
        left.plot(batches, [times[b][0] for b in batches], "o-", color=colour, label=f"{model}, handgrad")
        left.plot(batches, [times[b][1] for b in batches], "s--", color=colour, label=f"{model}, PyTorch")
    left.set(xscale="log", yscale="log", xlabel="batch size", ylabel="seconds per epoch (60,000 images)",
             title="Training time against batch size")
    left.set_xticks(sorted({b for t in by_batch.values() for b in t}), labels=[str(b) for b in sorted({b for t in by_batch.values() for b in t})])
    left.legend(fontsize=8)
    sizes = sorted(by_image)
    right.plot(sizes, [by_image[s][0] for s in sizes], "o-", label="handgrad")
    right.plot(sizes, [by_image[s][1] for s in sizes], "s--", label="PyTorch")
    right.set(xscale="log", yscale="log", xlabel="image side (pixels)", ylabel="milliseconds per training step",
              title="Wide CNN, batch 64: time against image size")
    right.set_xticks(sizes, labels=[str(s) for s in sizes])
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    fig.savefig(path, dpi=110)
