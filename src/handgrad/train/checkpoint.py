"""Checkpoint files: written atomically, read without unpickling anything.

- `model.safetensors`: the model's `state_dict()` under PyTorch's keys (loadable with
  `safetensors.torch.load_file` into the equivalent `torch.nn` model), with handgrad's
  description of the run (model name and options, normalisation) as JSON in the
  file's metadata.
- `resume.safetensors`: everything needed to continue a run exactly, in one file so a
  crash can never leave a mix of two epochs: a tree of dicts, lists and scalars (model,
  optimizer, scheduler, guard and trainer state) whose arrays are stored as tensors
  and whose rest is JSON in the metadata, each array replaced by {"__array__": key}.

Every file is written to a temporary file in the same directory, flushed, fsynced and
moved into place with `os.replace`, so readers see the old file or the new, never half.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import safetensors.numpy

from handgrad.errors import UserError

_MODEL_KEY = "handgrad"
_STATE_KEY = "handgrad_state"
TEMP_SUFFIX = ".tmp"  # atomic_write's temporary files: .NAME.XXXXXXXX.tmp
_FILE_MODE = 0o644  # mkstemp's files are private (0o600); run files are ordinary files


def atomic_write(path: str | Path, payload: bytes | str) -> None:
    """Write `payload` to `path` atomically (temp file, fsync, os.replace, fsync of the directory).

    A failure (no space left, no permission, ...) removes the temporary file and raises
    the OSError with `path` as its filename, never the temporary file's name.
    """
    path = Path(path)
    payload = payload.encode("utf-8") if isinstance(payload, str) else payload
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        try:
            try:
                os.fchmod(fd, _FILE_MODE)
                view = memoryview(payload)
                while view:  # os.write may write less than asked
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def remove_temporaries(directory: str | Path) -> None:
    """Delete what `atomic_write`s cut short by a crash (or SIGKILL) left in `directory`."""
    for stale in Path(directory).glob(f".*{TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)


def read_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(arrays, metadata) of a safetensors file; a corrupt file, or a tensor with nan or inf
    values, raises UserError naming the file (and the tensor)."""
    path = Path(path)
    payload = path.read_bytes()
    try:
        (header_size,) = struct.unpack("<Q", payload[:8])
        header = json.loads(payload[8 : 8 + header_size])
        arrays = safetensors.numpy.load(payload)
    except Exception as exc:  # safetensors raises its own error type for malformed files
        raise UserError(f"{path}: not a valid safetensors file ({exc})") from exc
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        metadata = {}
    for key, value in arrays.items():
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            bad = value.size - int(np.count_nonzero(np.isfinite(value)))
            raise UserError(f"{path}: tensor {key!r} holds {bad:,} non-finite value{'s' if bad != 1 else ''} "
                            f"(nan or inf) of {value.size:,}; the file is corrupt or the run had diverged")
    return arrays, metadata


def save_model(path: str | Path, state_dict: dict, info: dict) -> None:
    """Write a model's state dict as safetensors, with `info` (JSON) in the metadata."""
    arrays = {key: np.asarray(value, order="C") for key, value in state_dict.items()}
    atomic_write(path, safetensors.numpy.save(arrays, metadata={_MODEL_KEY: json.dumps(info)}))


def load_model(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """(state dict, info) of a model file; info is {} for files written by other tools."""
    arrays, metadata = read_safetensors(path)
    try:
        info = json.loads(metadata.get(_MODEL_KEY, "{}"))
    except (json.JSONDecodeError, TypeError, RecursionError) as exc:
        raise UserError(f"{path}: corrupt handgrad metadata ({exc!r})") from exc
    if not isinstance(info, dict):
        raise UserError(f"{path}: corrupt handgrad metadata (a {type(info).__name__}, not a table)")
    return arrays, info


def save_state(path: str | Path, tree: dict) -> None:
    """Write a tree of dicts, lists, tuples, scalars and arrays (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    packed = _pack(tree, "", arrays)
    atomic_write(path, safetensors.numpy.save(arrays, metadata={_STATE_KEY: json.dumps(packed)}))


def load_state(path: str | Path) -> dict:
    """The tree `save_state` wrote; a corrupt or foreign file raises ValueError naming it."""
    arrays, metadata = read_safetensors(path)
    if _STATE_KEY not in metadata:
        raise UserError(f"{path}: not a handgrad resume file (no {_STATE_KEY!r} metadata)")
    try:
        tree = _unpack(json.loads(metadata[_STATE_KEY]), arrays)
    except (json.JSONDecodeError, KeyError, TypeError, RecursionError) as exc:
        raise UserError(f"{path}: corrupt resume state ({exc!r})") from exc
    if not isinstance(tree, dict):
        raise UserError(f"{path}: corrupt resume state (a {type(tree).__name__}, not a table)")
    return tree


def _pack(value, key: str, arrays: dict):
    """JSON-able form of `value`; arrays go to `arrays` under dotted keys."""
    if isinstance(value, np.ndarray):
        if key in arrays:
            raise ValueError(f"two arrays of the state would be stored under the key {key!r}")
        arrays[key] = np.asarray(value, order="C")
        return {"__array__": key}
    if isinstance(value, dict):
        return {str(k): _pack(v, f"{key}.{k}" if key else str(k), arrays) for k, v in value.items()}
    if isinstance(value, tuple):
        return {"__tuple__": [_pack(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_pack(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} at {key!r} in a checkpoint")


def _unpack(value, arrays: dict):
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        if set(value) == {"__tuple__"}:
            return tuple(_unpack(v, arrays) for v in value["__tuple__"])
        return {k: _unpack(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, arrays) for v in value]
    return value
