"""Fuzz the run-folder loader (`handgrad.train.load_run`): a real run folder with one of
its two files replaced by the input. The first byte picks which: even model.safetensors,
odd config.toml; the rest is the file."""

import common

with common.instrumented(__name__ == "__main__"):
    from handgrad.train import load_run

FILES = ("model.safetensors", "config.toml")


def read(data: bytes):
    out, _ = common.tiny_run()
    folder = common.scratch() / "run"
    folder.mkdir(exist_ok=True)
    fuzzed = FILES[data[0] & 1] if data else FILES[0]
    for name in FILES:
        common.write_input(data[1:] if name == fuzzed else (out / name).read_bytes(), name, folder)
    return common.valid_or_user_error(load_run, folder)


def TestOneInput(data: bytes) -> None:
    read(data)


def seeds() -> list[bytes]:
    out, _ = common.tiny_run()
    return [bytes([i]) + (out / name).read_bytes() for i, name in enumerate(FILES)]


if __name__ == "__main__":
    common.main("run", TestOneInput, seeds)
