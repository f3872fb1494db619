"""Every study runs end to end in --quick mode and writes report.md, results.json and its PNG plots."""

import dataclasses
import json
import re
import subprocess

import numpy as np
import pytest

import handgrad

from handgrad import experiments
from handgrad.experiments import StudyOptions
from handgrad.experiments.report import REPORT_FILE, RESULTS_FILE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Tables each study must hold in results.json (name -> a column it must have).
EXPECTED_TABLES = {
    "mlp-vs-cnn": {"results": "test accuracy", "published": "published", "convergence": "converged (rate)",
                   "findings": "verdict", "dropout": "test acc", "dropout_findings": "verdict", "settings": "value"},
    "optimizers-and-augmentation": {"results": "test acc", "published": "published", "optimizers": "test acc",
                                    "findings": "verdict", "settings": "value"},
    "sanity-and-sweeps": {"initial_loss": "published", "overfit": "train acc", "sweeps": "val acc",
                          "base_epoch1": "published", "findings": "verdict", "best": "published"},
    "regularization": {"results": "val acc", "published": "published", "reload": "test acc reloaded"},
    "lenet5-classic": {"results": "converged", "nan": "published", "rates": "published", "findings": "verdict",
                       "fixed": "published", "procedures": "guard"},
    "parameter-counts": {"mlp_parameters": "published", "cnn_parameters": "published", "cnn_layers": "parameters (ours)"},
}


class QuickReports(dict):
    """name -> output folder of the study, run once in quick mode when first asked for."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, name):
        path = experiments.run(name, StudyOptions(quick=True, out=self.root / name, log=lambda message: None))
        assert path == self.root / name / REPORT_FILE
        self[name] = self.root / name
        return self[name]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    return QuickReports(tmp_path_factory.mktemp("experiments"))


def test_registry_lists_every_study():
    assert experiments.names() == list(EXPECTED_TABLES)
    for name in experiments.names():
        module = experiments.get(name)
        assert callable(module.variants) and callable(module.write_report), f"{name} is not on the trial engine"
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


# Studies on the trial engine, whose reports end with their provenance.
CONVERTED = ["mlp-vs-cnn", "optimizers-and-augmentation"]


@pytest.mark.parametrize("name", CONVERTED)
def test_results_hold_the_trials_and_their_summary_and_the_report_its_provenance(reports, name):
    results = json.loads((reports[name] / RESULTS_FILE).read_text())
    module = experiments.get(name)
    wanted = set(module.variants(StudyOptions(quick=True)))
    assert {t["variant"] for t in results["trials"]} == wanted
    for t in results["trials"]:
        assert set(t) == {"variant", "seed", "metrics", "seconds", "commit"} and t["seed"] == 0
        assert t["commit"] == results["provenance"]["git_commit"]  # every trial ran on this checkout
        assert {"train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss"} <= set(t["metrics"])
        summary = results["summary"][t["variant"]]["test_acc"]
        assert summary["n"] == 1 and summary["mean"] == t["metrics"]["test_acc"] and summary["ci95"] == [None, None]
    assert next(iter(module.variants(StudyOptions(quick=True)))).startswith("as-published"), \
        "the literal setting comes first"
    markdown = (reports[name] / REPORT_FILE).read_text()
    provenance = results["provenance"]
    assert provenance["command"] == f"handgrad experiment {name} --quick --out {reports[name]}"
    assert provenance["handgrad_version"] == handgrad.__version__ and provenance["cores"] >= 1
    assert re.fullmatch(r"[0-9a-f]{40}( \+ uncommitted changes)?|unknown.*", provenance["git_commit"])
    for line in (f"- command: `{provenance['command']}`", "- seeds: 0 for every variant", "- wall time: ",
                 f"git commit `{provenance['git_commit']}`", f"- cores: {provenance['cores']}",
                 f"- the trials ran on: `{provenance['git_commit']}` ({len(results['trials'])})"):
        assert line in markdown
    # a quick report draws no conclusions
    assert "Quick mode: no conclusions" in markdown
    for row in results["tables"]["findings"]["rows"]:
        assert row[2].startswith("not measurable")


def test_mlp_vs_cnn_compares_the_literal_setting_with_the_published_numbers(reports):
    results = json.loads((reports["mlp-vs-cnn"] / RESULTS_FILE).read_text())
    rows = {r[0]: r for r in results["tables"]["published"]["rows"]}
    row = rows["CNN, as published (mean loss): test accuracy"]
    assert row[2] == 0.9197 and row[1]["mean"] == results["summary"]["as-published-cnn"]["test_acc"]["mean"]
    assert "CNN, as published, summed loss: test accuracy" in rows
    trials = {t["variant"]: t for t in results["trials"]}
    assert trials["as-published-summed-cnn"]["metrics"]["converged"] in (0.0, 1.0)


def test_optimizers_study_records_figure_3_and_the_l2_term(reports):
    results = json.loads((reports["optimizers-and-augmentation"] / RESULTS_FILE).read_text())
    assert "figure3.png" in results["figures"]
    rows = {r[0]: r for r in results["tables"]["published"]["rows"]}
    assert rows["as published: validation accuracy"][2] == 0.834
    trials = {t["variant"]: t["metrics"] for t in results["trials"]}
    assert trials["as-published"]["l2_term"] > 0 and trials["no-l2"]["l2_term"] == 0
    assert 0.1 <= trials["lr-0.1"]["top_class_share"] <= 1


def test_augmenting_before_the_split_puts_augmented_images_in_validation(tmp_path):
    from handgrad.experiments import optimizers_and_augmentation as study

    config = study.variants(StudyOptions(quick=True))["as-published"].config
    prepared = study.augmented_before_split(config)
    originals = len(prepared.y_train) + len(prepared.y_val)
    assert originals == study.COPIES * 400 and len(prepared.y_val) == originals // 10
    # Validation images that are no original: the originals come first, the split is random.
    plain = study.augmented_before_split(dataclasses.replace(config, augment_copies=1, augment="none"))
    known = {image.tobytes() for image in np.concatenate([plain.x_train, plain.x_val])}
    assert sum(image.tobytes() not in known for image in prepared.x_val) > len(prepared.y_val) // 3


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
    assert sorted(t["variant"] for t in results["trials"]) == sorted(
        ["baseline", "dropout", "l2", "as-published-tuned-l2", "tuned-l2", "batch-norm"])
    for trial in results["trials"]:  # each trial saved its weights, reloaded them and tested again
        assert trial["metrics"]["reloaded_test_acc"] == trial["metrics"]["test_acc"]
        assert trial["metrics"]["reload_equal"] == 1.0
    assert all(row[3]["mean"] == 1.0 for row in results["tables"]["reload"]["rows"])


def test_regularization_as_published_tuned_l2_continues_the_trained_l2_model(reports):
    trials = {t["variant"]: t for t in json.loads((reports["regularization"] / RESULTS_FILE).read_text())["trials"]}
    continued, l2 = trials["as-published-tuned-l2"]["metrics"], trials["l2"]["metrics"]
    # It starts where the L2 model (same seed) ended; quick mode's validation split is under 1,000 images, so
    # its starting loss is over the same images as the L2 model's last validation loss.
    assert continued["start_val_loss"] == pytest.approx(l2["val_loss"], rel=1e-6)
    assert "start_val_loss" not in trials["tuned-l2"]["metrics"]


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
        assert set(trial) == {"variant", "seed", "metrics", "seconds", "commit"} and isinstance(trial["seed"], int)
    for trial in results["trials"]:
        for metric in trial["metrics"]:
            assert set(results["summary"][trial["variant"]][metric]) == {"n", "mean", "std", "ci95"}


def test_lenet5_quick_report_reproduces_the_nan_case_and_states_no_conclusions(reports):
    results = json.loads((reports["lenet5-classic"] / RESULTS_FILE).read_text())
    assert results["summary"]["as-published-lr"]["diverged"]["mean"] == 1.0
    assert results["summary"]["as-published-lr"]["converged"]["ci95"][1] > 0  # Wilson's interval around 0 of 1
    markdown = (reports["lenet5-classic"] / REPORT_FILE).read_text(encoding="utf-8")
    assert "Quick mode: no conclusions" in markdown and "10×" not in markdown


def test_the_commit_is_dirty_when_tracked_files_change_but_not_for_study_outputs(tmp_path):
    from handgrad.experiments.common import git_commit

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "src").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "src" / "code.py").write_text("x = 1\n")
    (tmp_path / "reports" / "report.md").write_text("old\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    clean = git_commit(tmp_path / "src")
    assert re.fullmatch(r"[0-9a-f]{40}", clean)
    (tmp_path / "reports" / "report.md").write_text("a study wrote this\n")
    assert git_commit(tmp_path / "src") == clean
    (tmp_path / "src" / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path / "src") == clean + " + uncommitted changes"


def test_a_report_written_part_way_says_so_at_the_top():
    from handgrad.experiments.common import quick_note

    said = []
    report = type("Report", (), {"text": lambda self, line: said.append(line)})()
    quick_note(report, StudyOptions(unfinished=(9, 39)))
    assert said == ["> **Part-way:** 9 of the study's 39 trials have not finished; the tables cover the 30 that "
                    "have. Run the same command again to continue."]
    said.clear()
    quick_note(report, StudyOptions())
    assert said == []
