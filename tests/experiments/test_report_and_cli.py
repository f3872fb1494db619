"""The report writer and the `experiment` subcommand."""

import argparse
import json
import math

import pytest

from handgrad.experiments import cli
from handgrad.experiments.report import Report, fmt, markdown_table, signed, smooth


def test_markdown_table_and_formats():
    table = markdown_table(["a", "b"], [[1, 0.123456], ["x|y", None]])
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| 1 | 0.1235 |", "| x\\|y | – |"]
    assert fmt(903400) == "903,400"
    assert fmt(float("nan")) == "–"
    assert fmt(True) == "yes"
    assert signed(-0.01234) == "−0.0123" and signed(0.5) == "+0.5000"


def test_report_writes_markdown_json_and_figure(tmp_path):
    report = Report("demo", "A demo", tmp_path, {"quick": True})
    report.text("Some text.")
    report.table("numbers", ["name", "value"], [["pi", math.pi], ["inf", float("inf")]])
    report.comparison("published", [("accuracy", 0.93, 0.9197), ("words", "fast", "slow")])
    report.figure("plot.png", lambda figure: figure.subplots().plot([1, 2], [3, 4]), "A plot")
    report.record("curve", [1.0, float("nan")])
    path = report.write()
    markdown = path.read_text()
    assert "| pi | 3.1416 |" in markdown and "![A plot](plot.png)" in markdown
    assert "| accuracy | 0.9300 | 0.9197 | +0.0103 |  |" in markdown
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert results["tables"]["numbers"]["rows"] == [["pi", math.pi], ["inf", None]]
    difference = results["tables"]["published"]["rows"][0][3]
    assert difference == pytest.approx(0.93 - 0.9197)
    assert results["tables"]["published"]["rows"][1][3] is None
    assert results["values"]["curve"] == [1.0, None]
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="written twice"):
        report.table("numbers", ["x"], [[1]])
    with pytest.raises(ValueError, match="has 1 cells, expected 2"):
        report.table("bad", ["x", "y"], [[1]])


def test_smooth_is_a_moving_average():
    assert list(smooth([1, 2, 3, 4], 2)) == [1.0, 1.5, 2.5, 3.5]
    assert list(smooth([5.0], 50)) == [5.0]


def _parser():
    parser = argparse.ArgumentParser(prog="handgrad")
    cli.add_experiment_parser(parser.add_subparsers(dest="command"))
    return parser


def test_list_prints_every_study(capsys):
    args = _parser().parse_args(["experiment", "--list"])
    assert cli.run_experiment_command(args) == 0
    out = capsys.readouterr().out
    for name in ("mlp-vs-cnn", "optimizers-and-augmentation", "sanity-and-sweeps", "regularization",
                 "lenet5-classic", "parameter-counts"):
        assert name in out


def test_unknown_or_missing_name_is_a_user_error(capsys):
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        cli.run_experiment_command(_parser().parse_args(["experiment", "nope"]))
    with pytest.raises(ValueError, match="give a study NAME"):
        cli.run_experiment_command(_parser().parse_args(["experiment"]))
    with pytest.raises(ValueError, match="--epochs must be at least 1"):
        cli.run_experiment_command(_parser().parse_args(["experiment", "parameter-counts", "--epochs", "0"]))
    import handgrad.cli

    assert handgrad.cli.main(["experiment", "nope"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_command_runs_a_study_into_out(tmp_path, capsys):
    import handgrad.cli

    assert handgrad.cli.main(["experiment", "parameter-counts", "--out", str(tmp_path / "pc")]) == 0
    assert (tmp_path / "pc" / "report.md").is_file() and (tmp_path / "pc" / "results.json").is_file()
    assert "parameter-counts: wrote" in capsys.readouterr().out


def test_all_puts_each_study_in_its_own_folder(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(cli.experiments, "run", lambda name, options: ran.append((name, options)) or tmp_path)
    args = _parser().parse_args(["experiment", "all", "--quick", "--out", str(tmp_path), "--seeds", "3",
                                 "--dataset", "fashion-mnist", "--epochs", "2"])
    assert cli.run_experiment_command(args) == 0
    assert [name for name, _ in ran] == cli.experiments.names()
    for name, options in ran:
        assert options.out == tmp_path / name
        assert options.quick and options.seeds == 3 and options.dataset == "fashion-mnist" and options.epochs == 2


def test_a_training_subset_is_cut_before_augmenting():
    from handgrad.experiments.common import data_for
    from handgrad.train import TrainConfig

    plain = TrainConfig(limit=300, seed=1).validated()
    augmented = TrainConfig(limit=300, seed=1, augment="rotate=10,translate=2", augment_copies=3).validated()
    cut = data_for(plain, train_images=50)
    both = data_for(augmented, train_images=50)
    assert len(cut.y_train) == 50 and len(both.y_train) == 150
    assert (both.x_train[:50] == cut.x_train).all() and (both.y_train[50:100] == cut.y_train).all()
    assert not (both.x_train[50:100] == cut.x_train).all()


def test_handgrad_command_runs_experiments(tmp_path, capsys):
    import handgrad.cli

    assert "experiment" in handgrad.cli.COMMANDS, "the experiment subcommand is not wired into handgrad.cli"
    assert handgrad.cli.main(["experiment", "--list"]) == 0
    assert "regularization" in capsys.readouterr().out
    assert handgrad.cli.main(["experiment", "parameter-counts", "--out", str(tmp_path / "pc")]) == 0
    assert (tmp_path / "pc" / "report.md").is_file()
    assert handgrad.cli.main(["experiment", "nope"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err


def test_the_committed_index_of_studies_is_up_to_date():
    """reports/experiments/README.md is what the committed results.json files say (regenerate it with
    `python -c "from handgrad import experiments; from handgrad.experiments.report import write_index;
    write_index('reports/experiments', {n: s.summary for n, s in experiments.STUDIES.items()})"`)."""
    from pathlib import Path

    from handgrad import experiments
    from handgrad.experiments.report import render_index

    root = Path(__file__).resolve().parents[2] / "reports" / "experiments"
    expected = render_index(root, {name: study.summary for name, study in experiments.STUDIES.items()})
    assert (root / "README.md").read_text(encoding="utf-8") == expected
