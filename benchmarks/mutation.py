"""Run mutmut on handgrad in the environment the numbers in reports/mutation.md were measured in.

    pip install -e ".[test,mutation]"
    nice -n 19 python benchmarks/mutation.py run --max-children 1 "handgrad.optim.sgd*"   # one module
    nice -n 19 python benchmarks/mutation.py run --max-children 2                        # the whole audit
    python benchmarks/mutation.py results        # the survivors (and `show NAME` for one's diff)

The arguments go to mutmut unchanged; what mutmut mutates and which tests it runs is in
pyproject.toml's [tool.mutmut]. This only fixes the environment, which a bare `mutmut run`
leaves to chance:

- CI is removed: under CI=true tests/conftest.py fails every skipped test, so a test that
  skips inside mutants/ would fail the clean run or count as a kill.
- OMP_NUM_THREADS=1 (and its BLAS cousins): mutmut forks one child per mutant from a process
  that has run torch, and a fork after OpenMP threads have started can hang the child.
  With one thread each, --max-children is also the number of cores the audit takes.
"""

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    env = dict(os.environ)
    if env.pop("CI", None) is not None:
        print("mutation.py: running without CI (tests/conftest.py's CI policy is for the suite, not for mutants)")
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # the mutmut of this interpreter's environment, or else the first on PATH
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if mutmut is None:
        sys.exit('mutation.py: mutmut is not installed (pip install -e ".[mutation]")')
    os.chdir(ROOT)  # mutmut reads pyproject.toml and writes mutants/ in the working directory
    os.execve(mutmut, [mutmut, *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
