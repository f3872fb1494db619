"""`handgrad evaluate`, `predict` and `summary` through the real command line."""

from PIL import Image

from handgrad import data
from handgrad.train import default_data_dir, load_run

from .conftest import run_cli


def test_evaluate_prints_loss_accuracy_and_the_confusion_matrix(trained_run):
    out, _ = trained_run
    result = run_cli("evaluate", out, "--limit", "500")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{out}: lenet5 on mnist test split (500 images)"
    assert lines[1].startswith("loss ") and "accuracy " in lines[1]
    matrix = [line.split() for line in lines[4:14]]
    assert [row[0] for row in matrix] == [str(i) for i in range(10)]
    assert sum(int(count) for row in matrix for count in row[1:11]) == 500
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_prints_a_class_and_its_probability_per_image(trained_run, tmp_path):
    out, _ = trained_run
    images, labels = data.load_dataset("mnist", default_data_dir(), "test")
    paths = []
    for i in range(3):
        Image.fromarray(images[i]).save(tmp_path / f"digit{i}.png")
        paths.append(tmp_path / f"digit{i}.png")
    inverted = Image.fromarray(255 - images[0]).resize((112, 112)).convert("RGB")
    inverted.save(tmp_path / "paper.jpg")
    paths.append(tmp_path / "paper.jpg")
    result = run_cli("predict", out, *paths)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    run = load_run(out)
    expected = run.model(data.to_float(images[:3], run.mean, run.std)).argmax(axis=1)
    for line, path, k in zip(lines, paths, expected):
        name, predicted, _, probability = line.split()
        assert name == f"{path}:" and int(predicted) == k and 0.1 <= float(probability) <= 1
    assert lines[3].split()[1] == lines[0].split()[1]  # the same digit, dark on light and 4x larger


def test_summary_prints_the_layer_table_and_totals():
    result = run_cli("summary", "--model", "lenet5", "--model-option", "batch_norm=true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "lenet5 (batch_norm=true)"
    assert "BatchNorm2d" in result.stdout and "(120, 1, 1)" in result.stdout
    assert "Total parameters: 61,750" in result.stdout


def test_summary_torch_prints_the_torch_model_and_the_normalisation(capsys):
    from handgrad import data as hg_data
    from handgrad.cli import main

    assert main(["summary", "--model", "lenet5", "--model-option", "input_size=32", "--torch"]) == 0
    out = capsys.readouterr().out
    assert "    nn.Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(0, 0), bias=True),  # 0\n" in out
    assert "    nn.Linear(in_features=84, out_features=10, bias=True),  # 11\n)" in out
    images, _ = hg_data.load_dataset("mnist", default_data_dir(), "train")
    mean, std = hg_data.dataset_stats(images)  # all 60,000; the run's split holds 54,000 of them
    line = next(line for line in out.splitlines() if line.startswith("Inputs as handgrad trains on them"))
    assert "float32 (N, 1, 32, 32)" in line and "bordered by 2 pixels" in line
    shown = [float(word) for word in line.replace(",", " ").split() if word[:1].isdigit() and "." in word]
    assert abs(shown[0] - mean) < 2e-3 and abs(shown[1] - std) < 2e-3
