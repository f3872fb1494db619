"""Study `parameter-counts` (report 003, theory part): the model summary reproduces the report's answers.

Question 1: an MLP with 10 inputs, a hidden layer of 50 and 3 outputs, ReLU everywhere.
The report writes the weights as (in, out): W_h (10, 50), W_o (50, 3); handgrad and
PyTorch store a Linear's weight as (out, in), the transpose. Parameters:
10·50 + 50 + 50·3 + 3 = 703.

Question 2: three 3×3 convolutions of stride 2 with SAME padding, 100/200/400 maps, on
200×300 RGB images: 2,800 + 180,200 + 720,400 = 903,400 parameters. SAME padding with
stride 2 gives ceil(size / 2); for a 3×3 kernel a symmetric padding of 1 gives the same
output sizes (100×150, 50×75, 25×38), so Conv2d(..., 3, stride=2, padding=1) is the
layer. No training: `summary` runs one forward pass on zeros.
"""

from __future__ import annotations

from pathlib import Path

from handgrad import models, nn
from handgrad.experiments.common import StudyOptions
from handgrad.experiments.report import Report

NAME = "parameter-counts"
TITLE = "Parameter counts: the model summary against report 003's theory answers"
SOURCE = "003_c6070f143db6ceb6.txt"


def build_mlp() -> nn.Sequential:
    """10 → 50 → 3 with ReLU after both layers, as in the report's Y = ReLU(ReLU(X W_h + b_h) W_o + b_o)."""
    return nn.Sequential(nn.Linear(10, 50), nn.ReLU(), nn.Linear(50, 3), nn.ReLU())


def build_cnn() -> nn.Sequential:
    """Three 3×3 stride-2 SAME convolutions, 3 → 100 → 200 → 400 maps."""
    return nn.Sequential(
        nn.Conv2d(3, 100, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(100, 200, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(200, 400, 3, stride=2, padding=1), nn.ReLU(),
    )


def same_output(size: int, stride: int) -> int:
    """TensorFlow's SAME output size: ceil(size / stride)."""
    return -(-size // stride)


def run(options: StudyOptions) -> Path:
    out = options.output(NAME)
    report = Report(NAME, TITLE, out, {**options.meta(), "source": SOURCE})
    report.text(f"Source: `{SOURCE}`, theory questions 1 and 2. Nothing is trained, so `--quick`, `--dataset`, "
                f"`--epochs` and `--seed` change nothing here. The tables come from "
                f"`handgrad.models.summary(model, input_shape)`, which runs one forward pass on zeros and records "
                f"each layer's output shape and parameter count.")

    # -- question 1 ---------------------------------------------------------------------------
    mlp = build_mlp()
    mlp_summary = models.summary(mlp, (10,))
    report.heading("Question 1: MLP 10 → 50 → 3")
    report.text("`Sequential(Linear(10, 50), ReLU(), Linear(50, 3), ReLU())`, batch size m:")
    report.text("```\n" + str(mlp_summary) + "\n```")
    hidden, output = mlp[0], mlp[2]
    report.table("mlp_shapes", ["quantity", "ours (handgrad/PyTorch layout)", "ours in the report's (in, out) layout",
                                "published"], [
        ["input X", "(m, 10)", "(m, 10)", "(m, 10)"],
        ["W_h", str(hidden.weight.shape), str(hidden.weight.shape[::-1]), "(10, 50)"],
        ["b_h", str(hidden.bias.shape), str(hidden.bias.shape), "(50,)"],
        ["W_o", str(output.weight.shape), str(output.weight.shape[::-1]), "(50, 3)"],
        ["b_o", str(output.bias.shape), str(output.bias.shape), "(3,)"],
        ["output Y", f"(m, {mlp_summary.output_shape[0]})", f"(m, {mlp_summary.output_shape[0]})", "(m, 3)"],
    ], caption="Shapes. handgrad stores a Linear weight as (out, in), like PyTorch; the report writes X·W, i.e. "
               "(in, out). They are transposes of each other.")
    mlp_total = mlp_summary.total_parameters
    report.comparison("mlp_parameters", [
        ["hidden layer parameters (10·50 + 50)", mlp_summary.rows[0].parameters, 550, ""],
        ["output layer parameters (50·3 + 3)", mlp_summary.rows[2].parameters, 153, ""],
        ["total parameters", mlp_total, 703, "not stated in the report; 550 + 153 from its shapes"],
    ], caption="Parameters, ours vs the report's shapes", digits=0)

    # -- question 2 ---------------------------------------------------------------------------
    cnn = build_cnn()
    cnn_summary = models.summary(cnn, (3, 200, 300))
    report.heading("Question 2: three 3×3 stride-2 SAME convolutions on 200×300 RGB")
    report.text("`Conv2d(3, 100, 3, stride=2, padding=1)`, `Conv2d(100, 200, ...)`, `Conv2d(200, 400, ...)`, each "
                "followed by ReLU. SAME padding with stride 2 yields ceil(size / 2) outputs; a symmetric padding of 1 "
                "gives exactly those sizes for a 3×3 kernel (TensorFlow would put the odd pixel on one side only, "
                "which changes neither the shapes nor the parameter count).")
    report.text("```\n" + str(cnn_summary) + "\n```")
    conv_rows = [row for row in cnn_summary.rows if row.type == "Conv2d"]
    published = [2800, 180200, 720400]
    maps = [3, 100, 200, 400]
    h, w = 200, 300
    shape_rows = []
    for i, row in enumerate(conv_rows):
        h, w = same_output(h, 2), same_output(w, 2)
        shape_rows.append([f"conv{i + 1}", str(row.output_shape), str((maps[i + 1], h, w)), row.parameters,
                           f"(3·3·{maps[i]})·{maps[i + 1]} + {maps[i + 1]} = {published[i]:,}"])
    report.table("cnn_layers", ["layer", "output shape (ours)", "SAME output shape ceil(n/2)", "parameters (ours)",
                                "published formula"], shape_rows,
                 caption="Each layer: output shape (channels, height, width) and parameters")
    report.comparison("cnn_parameters", [
        *[[f"conv{i + 1} parameters", row.parameters, published[i], ""] for i, row in enumerate(conv_rows)],
        ["total parameters", cnn_summary.total_parameters, 903400, ""],
    ], caption="Parameters, ours vs published", digits=0)
    ok = mlp_total == 703 and cnn_summary.total_parameters == 903400 and \
        [row.parameters for row in conv_rows] == published
    report.heading("Verdict")
    report.text("The summary reproduces every published count exactly." if ok else
                "**The summary does not reproduce the published counts**; see the tables above.")
    report.record("reproduced", ok)
    return report.write()
