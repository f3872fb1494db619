"""Every study runs end to end in --quick mode and writes report.md, results.json and its PNG plots."""

import json
import re

import pytest

from handgrad import experiments
from handgrad.experiments import StudyOptions
from handgrad.experiments.report import REPORT_FILE, RESULTS_FILE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Tables each study must hold in results.json (name -> a column it must have).
EXPECTED_TABLES = {
    "mlp-vs-cnn": {"results": "test acc", "published": "published", "dropout": "test acc", "settings": "value"},
    "optimizers-and-augmentation": {"results": "test acc", "published": "published", "optimizers": "test acc"},
    "sanity-and-sweeps": {"initial_loss": "published", "overfit": "train acc", "sweeps": "val acc",
                          "best": "published"},
    "regularization": {"results": "val acc", "published": "published", "reload": "test acc reloaded"},
    "lenet5-classic": {"results": "test acc", "error_rates": "test error", "guard": "guard firings"},
    "parameter-counts": {"mlp_parameters": "published", "cnn_parameters": "published", "cnn_layers": "parameters (ours)"},
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Run every study once in quick mode; name -> output folder."""
    root = tmp_path_factory.mktemp("experiments")
    outputs = {}
    for name in experiments.names():
        outputs[name] = root / name
        path = experiments.run(name, StudyOptions(quick=True, out=root / name, log=lambda message: None))
        assert path == root / name / REPORT_FILE
    return outputs


def test_registry_lists_every_study():
    assert experiments.names() == list(EXPECTED_TABLES)
    for name in experiments.names():
        assert callable(experiments.get(name))
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*mlp-vs-cnn"):
        experiments.get("nope")


@pytest.mark.parametrize("name", list(EXPECTED_TABLES))
def test_quick_study_writes_report_results_and_plots(reports, name):
    out = reports[name]
    markdown = (out / REPORT_FILE).read_text(encoding="utf-8")
    results = json.loads((out / RESULTS_FILE).read_text(encoding="utf-8"))
    assert results["study"] == name
    assert markdown.startswith("# ")
    for table, column in EXPECTED_TABLES[name].items():
        assert table in results["tables"], f"{name}: no table {table!r}"
        assert column in results["tables"][table]["columns"]
        assert results["tables"][table]["rows"], f"{name}: table {table!r} is empty"
    # every table of results.json is a Markdown table in the report
    assert len(re.findall(r"^\|( --- \|)+$", markdown, flags=re.M)) == len(results["tables"])
    # every plot exists, is a PNG, and is embedded
    for figure in results["figures"]:
        assert (out / figure).read_bytes()[:8] == PNG_MAGIC
        assert f"]({figure})" in markdown
    if name != "parameter-counts":
        assert results["figures"], f"{name} drew no plot"
        assert "Quick mode" in markdown


def test_published_comparison_has_differences(reports):
    table = json.loads((reports["mlp-vs-cnn"] / RESULTS_FILE).read_text())["tables"]["published"]
    assert table["columns"] == ["quantity", "ours", "published", "difference", "note"]
    row = next(r for r in table["rows"] if r[0] == "CNN: test accuracy")
    assert row[2] == 0.9197
    assert row[3] == pytest.approx(row[1] - row[2])


def test_parameter_counts_reproduce_the_report(reports):
    results = json.loads((reports["parameter-counts"] / RESULTS_FILE).read_text())
    assert results["values"]["reproduced"] is True
    cnn = {row[0]: row for row in results["tables"]["cnn_parameters"]["rows"]}
    assert cnn["total parameters"][1] == 903400 and cnn["total parameters"][3] == 0
    mlp = {row[0]: row for row in results["tables"]["mlp_parameters"]["rows"]}
    assert mlp["total parameters"][1] == 703
    shapes = [row[1] for row in results["tables"]["cnn_layers"]["rows"]]
    assert shapes == ["(100, 100, 150)", "(200, 50, 75)", "(400, 25, 38)"]


def test_regularization_reloads_the_saved_weights(reports):
    results = json.loads((reports["regularization"] / RESULTS_FILE).read_text())
    rows = results["tables"]["reload"]["rows"]
    assert len(rows) == 5
    assert all(row[1] == row[2] and row[3] is True for row in rows)
    for variant in ("baseline", "dropout", "l2", "tuned-l2", "batch-norm"):
        assert (reports["regularization"] / "runs" / variant / "model.safetensors").is_file()


def test_sanity_initial_loss_is_ln10(reports):
    rows = json.loads((reports["sanity-and-sweeps"] / RESULTS_FILE).read_text())["tables"]["initial_loss"]["rows"]
    no_reg, with_reg = rows[0], rows[1]
    assert no_reg[1] == pytest.approx(2.302585, abs=2e-3)
    assert with_reg[1] == pytest.approx(2.5085, abs=5e-3)  # the report's 2.50854, from its net's weight count
