"""Fuzz the model-file loader (`handgrad.train.load_model`) from a real model.safetensors."""

import common

with common.instrumented(__name__ == "__main__"):
    from handgrad.train import load_model


def read(data: bytes):
    return common.valid_or_user_error(load_model, common.write_input(data, "model.safetensors"))


def TestOneInput(data: bytes) -> None:
    read(data)


def seeds() -> list[bytes]:
    out, _ = common.tiny_run()
    return [(out / "model.safetensors").read_bytes()]


if __name__ == "__main__":
    common.main("model", TestOneInput, seeds)
