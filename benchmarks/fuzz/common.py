"""What the fuzz harnesses share: one scratch folder per process, the seed corpus, the
contract every reader keeps, and the atheris entry point.

The contract (as in tests/test_readers_properties.py): any input ends in a valid result
or a `handgrad.errors.UserError` with a message; any other exception is a finding, left
to propagate so atheris reports it and writes the input that caused it.

Nothing here imports handgrad or atheris at module level: a harness imports handgrad
inside `instrumented()`, which only instruments the modules imported for the first time
inside it, and the harnesses stay importable (by tests/test_fuzz_harnesses.py) without
atheris.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
import sys
import tempfile
from pathlib import Path

CORPUS_ROOT = Path(tempfile.gettempdir()) / "handgrad-fuzz-corpus"


@contextlib.contextmanager
def instrumented(fuzzing: bool):
    """atheris' coverage instrumentation of what is imported inside, when `fuzzing`."""
    if not fuzzing:
        yield
        return
    import atheris

    with atheris.instrument_imports():
        yield


@functools.cache
def scratch() -> Path:
    """This process's temporary folder (one for all inputs: a fresh folder per input would
    cost more than the readers themselves)."""
    folder = Path(tempfile.mkdtemp(prefix="handgrad-fuzz-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def write_input(data: bytes, name: str, folder: Path | None = None) -> Path:
    """`data` as the file `name` in `folder` (default: the scratch folder), replacing the last input."""
    path = (folder or scratch()) / name
    path.write_bytes(data)
    return path


def valid_or_user_error(read, *args):
    """read(*args), or None when it raised UserError; any other exception propagates."""
    from handgrad.errors import UserError

    try:
        return read(*args)
    except UserError as error:
        if not str(error):
            raise AssertionError(f"a UserError without a message from {read.__qualname__}") from error
        return None


@functools.cache
def tiny_run():
    """(run folder, its Trainer): one epoch of a tiny MLP on random images, saved as a run is
    (config.toml, model.safetensors, resume.safetensors). The epoch is Trainer.run's loop
    body, without finish()'s test and plots, which seeds do not need."""
    import numpy as np

    from handgrad.train import TrainConfig, Trainer
    from handgrad.train.dataset import PreparedData

    rng = np.random.default_rng(0)

    def split(n):
        return rng.standard_normal((n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)

    data = PreparedData(*split(64), *split(16), *split(16), mean=0.13, std=0.31, pad=0)
    out = scratch() / "seed-run"
    config = TrainConfig(model="mlp", model_options={"hidden": (4,)}, limit=64, epochs=1, batch_size=32,
                         quiet=True, out=str(out))
    trainer = Trainer(config, data=data).start()
    trainer.epoch += 1
    trainer.history.append(trainer.train_epoch())
    trainer.save_checkpoint()
    return out, trainer


def main(name: str, test_one_input, seeds) -> None:
    """Fuzz `test_one_input` with libFuzzer's flags from the command line, starting from
    `seeds()` written into the corpus folder of `name` (kept between runs)."""
    import atheris

    corpus = CORPUS_ROOT / name
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds()):
        (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *sys.argv[1:], str(corpus)], test_one_input)
    atheris.Fuzz()
