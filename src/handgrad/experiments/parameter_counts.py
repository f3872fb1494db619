"""Study `parameter-counts` (report 003, theory part): the model summary reproduces the report's answers.

Question 1: an MLP with 10 inputs, a hidden layer of 50 and 3 outputs, ReLU everywhere.
The report writes the weights as (in, out): W_h (10, 50), W_o (50, 3); handgrad and
PyTorch store a Linear's weight as (out, in), the transpose. Parameters:
10·50 + 50 + 50·3 + 3 = 703.

Question 2: three 3×3 convolutions of stride 2 with SAME padding, 100/200/400 maps, on
200×300 RGB images: 2,800 + 180,200 + 720,400 = 903,400 parameters. SAME padding with
stride 2 gives ceil(size / 2); for a 3×3 kernel a symmetric padding of 1 gives the same
output sizes (100×150, 50×75, 25×38), so Conv2d(..., 3, stride=2, padding=1) is the
layer. No training: `summary` runs one forward pass on zeros. The counts are
deterministic, so the study has one variant (`summary`) whose trial builds both models and
counts; every seed gives the same numbers.
"""

from __future__ import annotations

from pathlib import Path

from handgrad import models, nn
from handgrad.experiments.common import Results, StudyOptions, Trial, Variant
from handgrad.experiments.report import Report

NAME = "parameter-counts"
TITLE = "Parameter counts: the model summary against report 003's theory answers"
SOURCE = "003_c6070f143db6ceb6.txt"
METRIC = "reproduced"
PUBLISHED_CONV = [2800, 180200, 720400]


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


def variants(options: StudyOptions, done=None) -> dict:
    """One variant, no training: the summaries of both models."""
    return {"summary": Variant(label="model summary", deterministic=True)}


def trial(name: str, variant: Variant, seed: int, options: StudyOptions) -> Trial:
    """Build both models and count their parameters (the seed changes nothing)."""
    mlp, cnn = build_mlp(), build_cnn()
    mlp_summary, cnn_summary = models.summary(mlp, (10,)), models.summary(cnn, (3, 200, 300))
    conv_rows = [row for row in cnn_summary.rows if row.type == "Conv2d"]
    metrics = {"mlp_hidden": float(mlp_summary.rows[0].parameters), "mlp_output": float(mlp_summary.rows[2].parameters),
               "mlp_total": float(mlp_summary.total_parameters), "cnn_total": float(cnn_summary.total_parameters),
               **{f"conv{i + 1}": float(row.parameters) for i, row in enumerate(conv_rows)}}
    metrics["reproduced"] = float(mlp_summary.total_parameters == 703 and cnn_summary.total_parameters == 903400
                                  and [row.parameters for row in conv_rows] == PUBLISHED_CONV)
    record = {"mlp_summary": str(mlp_summary), "cnn_summary": str(cnn_summary),
              "mlp_shapes": {"W_h": list(mlp[0].weight.shape), "b_h": list(mlp[0].bias.shape),
                             "W_o": list(mlp[2].weight.shape), "b_o": list(mlp[2].bias.shape),
                             "Y": list(mlp_summary.output_shape)},
              "conv_shapes": [list(row.output_shape) for row in conv_rows]}
    return Trial(name, seed, metrics, 0.0, record)


def write_report(options: StudyOptions, results: Results) -> Path:
    out = options.output(NAME)
    report = Report(NAME, TITLE, out, {**options.meta(), "source": SOURCE})
    report.use(results)
    report.text(f"Source: `{SOURCE}`, theory questions 1 and 2. Nothing is trained, so `--quick`, `--dataset`, "
                f"`--epochs` and `--seeds` change nothing here (the counts are deterministic; every trial gives the "
                f"same numbers). The tables come from "
                f"`handgrad.models.summary(model, input_shape)`, which runs one forward pass on zeros and records "
                f"each layer's output shape and parameter count.")
    first = results.of("summary")[0]
    m, record = first.metrics, first.record
    # -- question 1 ---------------------------------------------------------------------------
    report.heading("Question 1: MLP 10 → 50 → 3")
    report.text("`Sequential(Linear(10, 50), ReLU(), Linear(50, 3), ReLU())`, batch size m:")
    report.text("```\n" + record["mlp_summary"] + "\n```")
    shapes = {key: tuple(value) for key, value in record["mlp_shapes"].items()}
    report.table("mlp_shapes", ["quantity", "ours (handgrad/PyTorch layout)", "ours in the report's (in, out) layout",
                                "published"], [
        ["input X", "(m, 10)", "(m, 10)", "(m, 10)"],
        ["W_h", str(shapes["W_h"]), str(shapes["W_h"][::-1]), "(10, 50)"],
        ["b_h", str(shapes["b_h"]), str(shapes["b_h"]), "(50,)"],
        ["W_o", str(shapes["W_o"]), str(shapes["W_o"][::-1]), "(50, 3)"],
        ["b_o", str(shapes["b_o"]), str(shapes["b_o"]), "(3,)"],
        ["output Y", f"(m, {shapes['Y'][0]})", f"(m, {shapes['Y'][0]})", "(m, 3)"],
    ], caption="Shapes. handgrad stores a Linear weight as (out, in), like PyTorch; the report writes X·W, i.e. "
               "(in, out). They are transposes of each other.")
    report.comparison("mlp_parameters", [
        ["hidden layer parameters (10·50 + 50)", int(m["mlp_hidden"]), 550, ""],
        ["output layer parameters (50·3 + 3)", int(m["mlp_output"]), 153, ""],
        ["total parameters", int(m["mlp_total"]), 703, "not stated in the report; 550 + 153 from its shapes"],
    ], caption="Parameters, ours vs the report's shapes", digits=0)

    # -- question 2 ---------------------------------------------------------------------------
    report.heading("Question 2: three 3×3 stride-2 SAME convolutions on 200×300 RGB")
    report.text("`Conv2d(3, 100, 3, stride=2, padding=1)`, `Conv2d(100, 200, ...)`, `Conv2d(200, 400, ...)`, each "
                "followed by ReLU. SAME padding with stride 2 yields ceil(size / 2) outputs; a symmetric padding of 1 "
                "gives exactly those sizes for a 3×3 kernel (TensorFlow would put the odd pixel on one side only, "
                "which changes neither the shapes nor the parameter count).")
    report.text("```\n" + record["cnn_summary"] + "\n```")
    counts = [int(m[f"conv{i + 1}"]) for i in range(3)]
    published = PUBLISHED_CONV
    maps = [3, 100, 200, 400]
    h, w = 200, 300
    shape_rows = []
    for i, (shape, count) in enumerate(zip(record["conv_shapes"], counts)):
        h, w = same_output(h, 2), same_output(w, 2)
        shape_rows.append([f"conv{i + 1}", str(tuple(shape)), str((maps[i + 1], h, w)), count,
                           f"(3·3·{maps[i]})·{maps[i + 1]} + {maps[i + 1]} = {published[i]:,}"])
    report.table("cnn_layers", ["layer", "output shape (ours)", "SAME output shape ceil(n/2)", "parameters (ours)",
                                "published formula"], shape_rows,
                 caption="Each layer: output shape (channels, height, width) and parameters")
    report.comparison("cnn_parameters", [
        *[[f"conv{i + 1} parameters", count, published[i], ""] for i, count in enumerate(counts)],
        ["total parameters", int(m["cnn_total"]), 903400, ""],
    ], caption="Parameters, ours vs published", digits=0)
    ok = bool(m["reproduced"])
    report.heading("Verdict")
    report.text("The summary reproduces every published count exactly." if ok else
                "**The summary does not reproduce the published counts**; see the tables above.")
    report.record("reproduced", ok)
    return report.write()
