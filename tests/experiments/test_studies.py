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
                          "base_epoch1": "published", "findings": "verdict", "best": "published"},
    "regularization": {"results": "val acc", "published": "published", "reload": "test acc reloaded"},
    "lenet5-classic": {"results": "converged", "nan": "published", "rates": "published", "findings": "verdict",
                       "fixed": "published", "procedures": "guard"},
    "parameter-counts": {"mlp_parameters": "published", "cnn_parameters": "published", "cnn_layers": "parameters (ours)"},
}


class _QuickReports(dict):
    """name -> output folder of that study run once in quick mode, run when first asked for (so that one
    study's failure fails its own tests only)."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, name):
        out = self.root / name
        path = experiments.run(name, StudyOptions(quick=True, out=out, log=lambda message: None))
        assert path == out / REPORT_FILE
        self[name] = out
        return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Every study run once in quick mode, on demand; name -> output folder."""
    return _QuickReports(tmp_path_factory.mktemp("experiments"))


def test_registry_lists_every_study():
    assert experiments.names() == list(EXPECTED_TABLES)
    for name in experiments.names():
        module = experiments.get(name)
        assert callable(module.variants) and callable(module.write_report)
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
    assert no_reg[1]["mean"] == pytest.approx(2.302585, abs=2e-3)
    assert with_reg[1]["mean"] == pytest.approx(2.5085, abs=5e-3)  # the report's 2.50854, from its net's weight count
    assert with_reg[2] == 2.50854087057


def test_sanity_report_does_not_name_a_data_set_the_source_does_not(reports):
    markdown = (reports["sanity-and-sweeps"] / REPORT_FILE).read_text(encoding="utf-8")
    assert "CIFAR" not in markdown
    assert "not named by the report" in markdown and "inferred 3×32×32 from the initial loss" in markdown


@pytest.mark.parametrize("name", ["sanity-and-sweeps", "lenet5-classic", "parameter-counts"])
def test_results_json_has_trials_and_summary_in_the_contract_shape(reports, name):
    results = json.loads((reports[name] / RESULTS_FILE).read_text())
    assert results["trials"]
    for trial in results["trials"]:
        assert set(trial) == {"variant", "seed", "metrics", "seconds"} and isinstance(trial["seed"], int)
    for trial in results["trials"]:
        for metric in trial["metrics"]:
            assert set(results["summary"][trial["variant"]][metric]) == {"n", "mean", "std", "ci95"}


def test_lenet5_quick_report_reproduces_the_nan_case_and_states_no_conclusions(reports):
    results = json.loads((reports["lenet5-classic"] / RESULTS_FILE).read_text())
    assert results["summary"]["as-published-lr"]["diverged"]["mean"] == 1.0
    assert results["summary"]["as-published-lr"]["converged"]["ci95"][1] > 0  # Wilson's interval around 0 of 1
    markdown = (reports["lenet5-classic"] / REPORT_FILE).read_text(encoding="utf-8")
    assert "Quick mode: no conclusions" in markdown and "10×" not in markdown
