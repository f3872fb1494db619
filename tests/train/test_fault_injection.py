"""Faults injected into every write of one epoch's checkpoint.

The checkpoint after epoch 2 is written again and again, each time with the n-th of its
file operations (temporary file, write, fsync, rename, fsync of the folder) failing, for
every n: first as an error (a full disk: the write puts half its bytes down, then fails),
then as a SIGKILL of the process at that moment (in a forked child). After each, the run
folder must hold a loadable checkpoint (epoch 1's or epoch 2's), the error must name a run
file and never a temporary one, and `resume` must end with the very weights of an
uninterrupted run, leaving no temporary file behind.
"""

import errno
import os
import shutil
import signal

import numpy as np
import pytest

import handgrad
from handgrad.train import Trainer, TrainConfig, fit, load_model, load_state, resume
from handgrad.train import checkpoint
from handgrad.train import trainer as trainer_module

CONFIG = dict(model="mlp", limit=256, epochs=2, batch_size=64, val_fraction=0.25, quiet=True)
OPERATIONS = ("mkstemp", "write", "fsync", "replace")


class _StopBeforeSaving(Exception):
    pass


class Faults:
    """Counts the file operations of atomic_write; the `fail_at`-th one calls `fault(name)`."""

    def __init__(self, monkeypatch, fail_at=0, fault=None):
        self.count, self.fail_at, self.fault, self.names = 0, fail_at, fault, []
        self.real = {"mkstemp": checkpoint.tempfile.mkstemp, "write": checkpoint.os.write,
                     "fsync": checkpoint.os.fsync, "replace": checkpoint.os.replace}
        monkeypatch.setattr(checkpoint.tempfile, "mkstemp", self._wrap("mkstemp"))
        for name in ("write", "fsync", "replace"):
            monkeypatch.setattr(checkpoint.os, name, self._wrap(name))

    def _wrap(self, name):
        def operation(*args, **kwargs):
            self.count += 1
            self.names.append(name)
            if self.count == self.fail_at:
                if name == "write":  # half of the bytes reach the file first
                    self.real["write"](args[0], bytes(args[1][: len(args[1]) // 2]))
                self.fault(name)
            return self.real[name](*args, **kwargs)
        return operation


@pytest.fixture(autouse=True)
def no_waiting_for_the_disk_or_for_plots(monkeypatch):
    """fsync does nothing here: durability against power loss is not what these tests check
    (a killed process loses nothing the kernel holds), and the calls are still counted.
    Nor are the curves drawn at the end of each resumed run: they are no checkpoint."""
    monkeypatch.setattr(checkpoint.os, "fsync", lambda fd: None)
    monkeypatch.setattr(trainer_module, "plot_curves", lambda *args, **kwargs: None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(weights of an uninterrupted 2-epoch run, a folder holding epoch 1's checkpoint, the
    Trainer after epoch 2's training with its checkpoint not yet written)."""
    threads = handgrad.get_num_threads()
    handgrad.set_num_threads(1)  # no worker processes: the forked children share nothing with them
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer_module, "plot_curves", lambda *args, **kwargs: None)
        root = tmp_path_factory.mktemp("faults")
        straight = fit(TrainConfig(out=str(root / "straight"), **CONFIG)).model.state_dict()
        trainer = Trainer(TrainConfig(out=str(root / "epoch1"), **CONFIG))
        save = trainer.save_checkpoint

        def save_epoch_1_only():
            if trainer.epoch == 2:
                raise _StopBeforeSaving
            save()
        trainer.save_checkpoint = save_epoch_1_only
        with pytest.raises(_StopBeforeSaving):
            trainer.start().run()
        del trainer.save_checkpoint
    yield straight, root / "epoch1", trainer
    handgrad.set_num_threads(threads)


def operations_of_one_checkpoint(runs, tmp_path, monkeypatch):
    _, epoch1, trainer = runs
    trainer.out = tmp_path / "count"
    shutil.copytree(epoch1, trainer.out)
    with monkeypatch.context() as patch:
        faults = Faults(patch)
        trainer.save_checkpoint()
    assert faults.names.count("replace") == 4  # resume.safetensors, model.safetensors, history.csv, layers.csv
    return faults.count


def assert_resumes_exactly(folder, straight, allow_temporaries):
    temporaries = list(folder.glob(".*.tmp"))
    assert allow_temporaries or not temporaries, temporaries
    epoch = load_state(folder / "resume.safetensors")["epoch"]  # loadable, whole
    load_model(folder / "model.safetensors")
    assert epoch in (1, 2)
    result = resume(folder, quiet=True)
    assert not list(folder.glob(".*.tmp"))
    saved, _ = load_model(folder / "model.safetensors")
    for key, value in straight.items():
        assert np.array_equal(result.model.state_dict()[key], value), key
        assert np.array_equal(saved[key], value), key


def test_every_operation_of_a_checkpoint_failing_leaves_a_resumable_run(runs, tmp_path, monkeypatch):
    straight, epoch1, trainer = runs
    total = operations_of_one_checkpoint(runs, tmp_path, monkeypatch)
    for n in range(1, total + 1):
        folder = tmp_path / f"fail-{n}"
        shutil.copytree(epoch1, folder)
        trainer.out = folder

        def full_disk(name):
            raise OSError(errno.ENOSPC, f"No space left on device (injected into {name})")
        with monkeypatch.context() as patch:
            Faults(patch, n, full_disk)
            with pytest.raises(OSError) as caught:
                trainer.save_checkpoint()
        assert caught.value.filename in {str(folder / name) for name in
                                         ("resume.safetensors", "model.safetensors", "history.csv",
                                                                  "layers.csv")}, n
        assert_resumes_exactly(folder, straight, allow_temporaries=False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_sigkill_at_every_operation_of_a_checkpoint_leaves_a_resumable_run(runs, tmp_path, monkeypatch):
    straight, epoch1, trainer = runs
    total = operations_of_one_checkpoint(runs, tmp_path, monkeypatch)
    for n in range(1, total + 1):
        folder = tmp_path / f"kill-{n}"
        shutil.copytree(epoch1, folder)
        trainer.out = folder
        child = os.fork()
        if child == 0:  # pragma: no cover (the child never returns to pytest)
            try:
                Faults(monkeypatch, n, lambda name: os.kill(os.getpid(), signal.SIGKILL))
                trainer.save_checkpoint()
            finally:
                os._exit(0)
        _, status = os.waitpid(child, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (n, status)
        assert_resumes_exactly(folder, straight, allow_temporaries=True)
