"""Fuzz the resume-state loader (`handgrad.train.load_state`) and, as a resume does, a
Trainer taking the tree it returns (`Trainer.load_state`), from a real resume.safetensors."""

import common

with common.instrumented(__name__ == "__main__"):
    import handgrad
    from handgrad.train import Trainer, load_state


def read(data: bytes):
    path = common.write_input(data, "resume.safetensors")
    tree = common.valid_or_user_error(load_state, path)
    if tree is None:
        return None
    generator = handgrad.default_generator().bit_generator
    kept = generator.state  # a Trainer and a resume set the global generator: each input starts from this one
    try:
        _, seed_trainer = common.tiny_run()
        trainer = Trainer(seed_trainer.config, data=seed_trainer.data)  # fresh: an input's answer is its own

        def resume_from(tree):
            trainer.load_state(tree, str(path))
            return tree

        return common.valid_or_user_error(resume_from, tree)
    finally:
        generator.state = kept


def TestOneInput(data: bytes) -> None:
    read(data)


def seeds() -> list[bytes]:
    out, _ = common.tiny_run()
    return [(out / "resume.safetensors").read_bytes()]


if __name__ == "__main__":
    common.main("resume", TestOneInput, seeds)
