"""`handgrad inspect` through the real command line: every picture for LeNet-5 and for the MLP,
given images, --out, and the mistakes (one line, exit status 2); the monitor's train flags."""

import shutil

import numpy as np
import pytest
from PIL import Image

from handgrad import data
from handgrad.inspect import PICTURES
from handgrad.train import default_data_dir
from handgrad.train.monitor import read_layers_csv

from .conftest import SMALL, assert_user_error, run_cli
from .test_errors import in_process


def wrote(result, folder) -> list[str]:
    """The pictures the command says it wrote into `folder`, checked to be real, non-blank PNGs."""
    assert result.returncode == 0, result.stderr
    names = []
    for line in result.stdout.splitlines():
        if line.startswith("wrote "):
            path = line.removeprefix("wrote ")
            assert path.startswith(str(folder)), path
            with Image.open(path) as image:
                assert image.format == "PNG" and min(image.size) >= 200, (path, image.size)
                assert np.asarray(image.convert("L")).std() > 5, f"{path} is blank"
            names.append(path.rsplit("/", 1)[1].removesuffix(".png"))
    return names


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """A 1-epoch MLP run on 300 images, with the monitor every 3 steps and a TensorBoard log."""
    root = tmp_path_factory.mktemp("mlp")
    result = run_cli("train", *SMALL, "--model", "mlp", "--epochs", "1", "--monitor-every", "3", "--tensorboard",
                     root / "tb", "--out", root / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    return root


def test_every_picture_of_a_lenet5_run_goes_into_its_directory(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run[0], run)
    result = run_cli("inspect", run)
    assert wrote(result, run) == list(PICTURES)
    assert result.stderr == ""


def test_given_images_and_a_subset_of_pictures_elsewhere(trained_run, tmp_path):
    images, _ = data.load_dataset("mnist", default_data_dir(), "test")
    Image.fromarray(255 - images[3]).resize((84, 84)).save(tmp_path / "zero.png")  # dark on light, larger
    Image.fromarray(images[4]).save(tmp_path / "four.png")
    result = run_cli("inspect", trained_run[0], tmp_path / "zero.png", tmp_path / "four.png", "--pictures",
                     "feature_maps,saliency.png", "--out", tmp_path / "pictures")
    assert wrote(result, tmp_path / "pictures") == ["feature_maps", "saliency"]


def test_an_mlp_has_no_filters_the_command_says_so_and_draws_the_rest(mlp_run):
    run = mlp_run / "run"
    result = run_cli("inspect", run)
    assert result.stdout.splitlines()[0] == "mlp has no Conv2d layer: no filters.png or feature_maps.png"
    assert wrote(result, run) == [name for name in PICTURES if name not in ("filters", "feature_maps")]
    rows = read_layers_csv(run / "layers.csv")
    assert sorted({row["iteration"] for row in rows}) == [1, 4, 7]  # 270 training images, batches of 32
    assert list((mlp_run / "tb").glob("events.out.tfevents.*"))
    line = assert_user_error(run_cli("inspect", run, "--pictures", "filters"))
    assert line.endswith("its model 'mlp' has no Conv2d layer, so it has no filters to draw")


@pytest.mark.parametrize("args, fragment", [
    (("inspect",), "the following arguments are required: RUN_DIR"),
    (("inspect", "{tmp}/gone"), "run directory {tmp}/gone does not exist"),
    (("inspect", "{tmp}"), "is not a handgrad run directory: it has no config.toml"),
    (("inspect", "{run}", "{tmp}/notes.png"), "cannot read image {tmp}/notes.png"),
    (("inspect", "{run}", "{tmp}/missing.png"), "image {tmp}/missing.png does not exist"),
    (("inspect", "{run}", "--pictures", "filters,weights"), "--pictures: weights is not a picture; valid: filters,"),
    (("inspect", "{run}", "--out", "{tmp}/notes.png"), "--out {tmp}/notes.png is a file, not a folder"),
    (("inspect", "{run}", "--limit", "-1"), "--limit must be 0 (all) or more, got -1"),
    (("train", "--guard-window", "50"), "'guard_window' (--guard-window) must be 0 (off) or at least --monitor-every"),
    (("train", "--monitor-every", "-5"), "'monitor_every' (--monitor-every) must be 0 (off) or more, got -5"),
    (("train", "--resume", "{run}", "--tensorboard", "{tmp}/tb"), "--tensorboard cannot be changed"),
])
def test_mistakes_get_one_line_and_exit_status_2(capsys, tmp_path, trained_run, args, fragment):
    (tmp_path / "notes.png").write_text("not a picture")
    fill = {"tmp": tmp_path, "run": trained_run[0]}
    line = in_process(capsys, *(arg.format(**fill) for arg in args))
    assert fragment.format(**fill) in line, line


def test_a_run_without_layers_csv_has_no_layers_picture(trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run[0], run)
    (run / "layers.csv").unlink()
    line = in_process(capsys, "inspect", run, "--pictures", "layers")
    assert "has no layers.csv (trained with --monitor-every 0" in line
