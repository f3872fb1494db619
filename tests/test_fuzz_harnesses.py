"""The fuzz harnesses of benchmarks/fuzz/, run without atheris: each one's seeds are valid
inputs of its reader, each one keeps the contract (a result or a UserError) on a few
mutations of them, and every input a fuzzing run saved in benchmarks/fuzz/crashes/ is
replayed, so a crash found stays a test once it is fixed."""

import importlib
import random
import sys
from pathlib import Path

import pytest

from handgrad.errors import UserError

FUZZ = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz"
sys.path.insert(0, str(FUZZ))

HARNESSES = ["idx", "model", "resume", "run", "config", "image", "cli"]
# crash file (relative to benchmarks/fuzz/crashes/) -> the finding it still shows, until fixed
KNOWN_CRASHES: dict[str, str] = {}


def harness(name: str):
    return importlib.import_module(f"fuzz_{name}")


def mutations(seed: bytes, rng: random.Random) -> list[bytes]:
    """`seed` cut short, with bytes flipped, with junk after it, and random bytes of its length."""
    n = len(seed)
    flipped = bytearray(seed)
    for _ in range(1 + n // 64):
        flipped[rng.randrange(n)] ^= rng.randrange(1, 256)
    return [seed[: rng.randrange(n)], seed[: n // 2], bytes(flipped), seed + rng.randbytes(16),
            bytes(seed[:1]) + rng.randbytes(max(n - 1, 0)), b""]


@pytest.mark.parametrize("name", HARNESSES)
def test_the_seeds_are_valid_inputs(name):
    module = harness(name)
    seeds = module.seeds()
    assert seeds
    for seed in seeds:
        assert module.read(seed) is not None, f"a seed of {name} is refused: fuzzing would start from nothing"


@pytest.mark.parametrize("name", HARNESSES)
def test_the_harness_keeps_the_contract_on_mutated_seeds(name):
    module, rng = harness(name), random.Random(f"fuzz-{name}")
    for seed in module.seeds():
        for data in mutations(seed, rng):
            module.TestOneInput(data)


@pytest.mark.parametrize("name", HARNESSES)
def test_saved_crash_inputs_replay_without_another_exception(name):
    """Every input saved under crashes/<name>/ ends in a result or a UserError; a known
    crash not yet fixed is expected to fail, and to fail as it did when found."""
    module = harness(name)
    for path in sorted((FUZZ / "crashes" / name).glob("*")):
        finding = KNOWN_CRASHES.get(f"{name}/{path.name}")
        if finding is None:
            module.TestOneInput(path.read_bytes())
        else:
            with pytest.raises(Exception, match=finding) as caught:
                module.TestOneInput(path.read_bytes())
            assert not isinstance(caught.value, UserError), f"{path.name} is fixed: take it off KNOWN_CRASHES"
