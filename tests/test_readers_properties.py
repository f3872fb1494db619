"""Every reader of user input, fed truncated, flipped, oversized and wrong-typed input:
each answer is a valid result or the project's clear error (UserError), never another
exception. Fixed example budgets (`BUDGET`), derandomised under CI (tests/conftest.py).

Readers: the IDX reader, the safetensors model and resume-state loaders, a run folder
(load_run) and a Trainer taking a resume state, config.toml, the image reader and the
command-line parser (with train's settings checks).
"""

import gzip
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from handgrad import cli
from handgrad.data import read_idx, write_idx
from handgrad.errors import UserError
from handgrad.train import Trainer, TrainConfig, fit, load_model, load_run, load_state, read_image, save_state

BUDGET = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])
SMALL_BUDGET = settings(BUDGET, max_examples=25)


def mutations(valid: bytes):
    """Bytes made from `valid`: cut short, bytes flipped, junk appended, or all of it replaced."""
    n = len(valid)
    truncated = st.integers(0, max(n - 1, 0)).map(lambda k: valid[:k])
    flipped = st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 255)), min_size=1, max_size=8).map(
        lambda flips: _flip(valid, flips))
    extended = st.binary(min_size=1, max_size=64).map(lambda tail: valid + tail)
    return st.one_of(truncated, flipped, extended, st.binary(max_size=256))


def _flip(data: bytes, flips) -> bytes:
    out = bytearray(data)
    for position, mask in flips:
        out[position] ^= mask
    return bytes(out)


def write_temporary(data: bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(dir=_FUZZ_ROOT))
    (folder / name).write_bytes(data)
    return folder / name


_FUZZ_ROOT = None


@pytest.fixture(scope="module", autouse=True)
def fuzz_root(tmp_path_factory):
    global _FUZZ_ROOT
    _FUZZ_ROOT = tmp_path_factory.mktemp("fuzz")
    yield _FUZZ_ROOT


def valid_or_user_error(read, *args):
    """read(*args), or None when it raised UserError; any other exception fails the test."""
    try:
        return read(*args)
    except UserError as error:
        assert str(error), "an empty error message"
        return None


# -- IDX ----------------------------------------------------------------------------------
def _idx_bytes(array: np.ndarray, gzipped: bool) -> bytes:
    buffer = Path(tempfile.mkdtemp()) / ("a.idx.gz" if gzipped else "a.idx")
    write_idx(buffer, array)
    return buffer.read_bytes()


_IDX = [_idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), False),
        _idx_bytes(np.linspace(-1, 1, 10).astype(">f4"), False),
        _idx_bytes(np.arange(12, dtype=np.int16).reshape(3, 4), True)]


@BUDGET
@given(st.sampled_from(_IDX).flatmap(mutations))
def test_idx_reader(data):
    result = valid_or_user_error(read_idx, write_temporary(data, "images.idx"))
    assert result is None or isinstance(result, np.ndarray)


@SMALL_BUDGET
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4), st.sampled_from([0x08, 0x0D, 0x0E]))
def test_idx_reader_on_oversized_headers(shape, code):
    """A header may claim any size: the reader compares it with the bytes there, allocating nothing."""
    header = bytes([0, 0, code, len(shape)]) + np.asarray(shape, ">u4").tobytes()
    result = valid_or_user_error(read_idx, write_temporary(gzip.compress(header + b"\x00" * 16), "x.gz"))
    assert result is None or result.nbytes <= 16


# -- safetensors: model and resume files ---------------------------------------------------
@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A real 1-epoch run folder (tiny MLP) and its Trainer."""
    out = tmp_path_factory.mktemp("run") / "run"
    config = TrainConfig(model="mlp", model_options={"hidden": (8,)}, limit=64, epochs=1, batch_size=32,
                         quiet=True, out=str(out))
    fit(config)
    return out, Trainer(TrainConfig(**{**config.__dict__, "out": None}))


@BUDGET
@given(data=st.data())
def test_model_and_resume_file_readers(saved_run, data):
    out, _ = saved_run
    name = data.draw(st.sampled_from(["model.safetensors", "resume.safetensors"]))
    mutated = data.draw(mutations((out / name).read_bytes()))
    reader = load_model if name == "model.safetensors" else load_state
    result = valid_or_user_error(reader, write_temporary(mutated, name))
    assert result is None or isinstance(result, (tuple, dict))


def _leaves(tree, path=()):
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(tree, (list, tuple)) and tree:
        for i, value in enumerate(tree):
            yield from _leaves(value, (*path, i))
    else:
        yield path


def _replace(tree, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {**tree, head: _replace(tree[head], rest, value)}
    items = list(tree)
    items[head] = _replace(items[head], rest, value)
    return tuple(items) if isinstance(tree, tuple) else items


WRONG_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(lambda shape, kind: np.zeros(shape, kind), st.lists(st.integers(0, 3), max_size=2).map(tuple),
              st.sampled_from(["float32", "float64", "int64", "uint8"])))


@BUDGET
@given(data=st.data())
def test_a_trainer_takes_a_resume_state_with_any_value_wrong(saved_run, data):
    """Wrong-typed values anywhere in the state tree (what a hand-edited or foreign file holds)."""
    out, trainer = saved_run
    state = load_state(out / "resume.safetensors")
    path = data.draw(st.sampled_from(sorted(_leaves(state), key=repr)))
    mutated = _replace(state, path, data.draw(WRONG_VALUES))
    file = Path(tempfile.mkdtemp(dir=_FUZZ_ROOT)) / "resume.safetensors"
    try:
        save_state(file, mutated)
    except (TypeError, ValueError):  # not storable as a resume file at all
        return
    tree = valid_or_user_error(load_state, file)
    if tree is not None:
        valid_or_user_error(trainer.load_state, tree, str(file))


@pytest.mark.parametrize("path", [("rng", "uinteger"), ("rng", "state", "state"), ("rng", "state", "inc")])
def test_found_by_the_property_above_a_negative_generator_state(saved_run, path):
    out, trainer = saved_run
    state = _replace(load_state(out / "resume.safetensors"), path, -1)
    with pytest.raises(UserError, match="resume.safetensors: incomplete or corrupt resume state .*OverflowError"):
        trainer.load_state(state, str(out / "resume.safetensors"))


@SMALL_BUDGET
@given(data=st.data())
def test_run_folder_loader(saved_run, data):
    out, _ = saved_run
    name = data.draw(st.sampled_from(["model.safetensors", "config.toml"]))
    folder = Path(tempfile.mkdtemp(dir=_FUZZ_ROOT))
    for file in ("model.safetensors", "config.toml"):
        (folder / file).write_bytes((out / file).read_bytes())
    (folder / name).write_bytes(data.draw(mutations((out / name).read_bytes())))
    valid_or_user_error(load_run, folder)


# -- config.toml ---------------------------------------------------------------------------
_SETTINGS = list(TrainConfig().to_dict())
TOML_VALUES = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=10),
                        st.lists(st.integers(-3, 3), max_size=3),
                        st.dictionaries(st.sampled_from(["dropout", "hidden", "batch_norm", "x"]),
                                        st.one_of(st.integers(-2, 2), st.floats(-1, 2), st.text(max_size=4),
                                                  st.lists(st.integers(0, 9), max_size=2)), max_size=2))


@BUDGET
@given(st.dictionaries(st.sampled_from(_SETTINGS + ["unknown"]), TOML_VALUES, max_size=4))
def test_config_files_with_wrong_values(settings_):
    path = write_temporary(tomli_w.dumps(settings_).encode(), "config.toml")
    config = valid_or_user_error(TrainConfig.from_toml, path)
    if config is not None:
        valid_or_user_error(config.validated)


@BUDGET
@given(mutations(TrainConfig(epochs=3, model_options={"dropout": 0.5}).validated().to_toml().encode()))
def test_config_files_cut_and_flipped(data):
    config = valid_or_user_error(TrainConfig.from_toml, write_temporary(data, "config.toml"))
    if config is not None:
        valid_or_user_error(config.validated)


# -- images --------------------------------------------------------------------------------
def _picture(mode: str, kind: str) -> bytes:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (12, 10), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


_PICTURES = [_picture("L", "PNG"), _picture("RGBA", "PNG"), _picture("P", "PNG"), _picture("RGB", "JPEG"),
             _picture("L", "GIF"), _picture("RGB", "BMP"), _picture("L", "TIFF")]


@BUDGET
@given(st.sampled_from(_PICTURES).flatmap(mutations))
def test_image_reader(data):
    result = valid_or_user_error(read_image, write_temporary(data, "picture"))
    if result is not None:
        image, note = result
        assert image.shape == (28, 28) and image.dtype == np.uint8 and (note is None or isinstance(note, str))


# -- the command line ----------------------------------------------------------------------
_WORDS = ["train", "evaluate", "predict", "summary", "experiment", "--model", "--lr", "--epochs", "--limit",
          "--model-option", "--augment", "--batch-size", "--optimizer", "--scheduler", "--resume", "--config",
          "--val-fraction", "--guard-factor", "--seed", "--list", "--quick", "lenet5", "mlp", "adam", "0", "-1",
          "1e999", "nan", "3", "0.5", "dropout=0.5", "hidden=8,8", "batch_norm=yes", "rotate=10", "spin=2",
          "x=", "=", "", "--", "-h"]


@BUDGET
@given(st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=6)), max_size=6))
def test_command_line_parser(argv):
    """Parsing and train's settings checks (no command is run); --help's exit is argparse's own."""
    parser = cli.build_parser()
    try:
        args = valid_or_user_error(parser.parse_args, argv)
    except SystemExit as exit:  # --help / -h printed the help
        assert exit.code == 0
        return
    if args is not None and args.command == "train" and not args.resume and not args.config:
        valid_or_user_error(cli.train_config, args)
