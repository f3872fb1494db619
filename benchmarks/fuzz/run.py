"""Run the fuzz harnesses (all, or the ones named) and record the runs in reports/fuzz.md.

    pip install -e '.[fuzz]'
    python benchmarks/fuzz/run.py --minutes 30          # every reader, 30 minutes each
    python benchmarks/fuzz/run.py idx cli --minutes 1   # two of them
    python benchmarks/fuzz/run.py --jobs 3              # three harnesses fuzzing at a time

Each harness runs in its own process (atheris/libFuzzer, `-max_total_time`), on the
checkout's src/ (not whatever handgrad is installed), from its seed corpus and what earlier
runs added to it (under the temp folder, see common.CORPUS_ROOT). A crash (an exception
other than UserError), a timeout or running out of memory stops that harness and leaves
the input in benchmarks/fuzz/crashes/<reader>/, where tests/test_fuzz_harnesses.py replays
it: commit it. reports/fuzz.md keeps one row per reader, its latest run; this run's rows
replace those of the readers run. The exit status is 1 when a harness found something.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REPORT = ROOT / "reports" / "fuzz.md"
CRASHES = HERE / "crashes"
LOGS = Path(tempfile.gettempdir()) / "handgrad-fuzz-logs"
READERS = {
    "idx": "`data.read_idx` (plain and gzipped IDX files)",
    "model": "`train.load_model` (model.safetensors)",
    "resume": "`train.load_state` + `Trainer.load_state` (resume.safetensors)",
    "run": "`train.load_run` (a run folder)",
    "config": "`TrainConfig.from_toml` + `validated` (config.toml)",
    "image": "`train.read_image` (PNG, JPEG, ...)",
    "cli": "`cli.build_parser` + `cli.train_config` (argv)",
}
FULL_MINUTES = 30  # the length of a real run; shorter rows are marked as validation runs
# libFuzzer's limits: an input taking longer, or a process growing larger, is a finding too
TIMEOUT_S, RSS_LIMIT_MB = 30, 3072
COLUMNS = ["reader", "minutes", "executions", "exec/s", "cov", "ft", "corpus", "findings", "jobs", "handgrad",
           "commit", "date", "command"]
_STATS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)(?:.*?exec/s: (\d+))?", re.M)


def run_harness(name: str, minutes: float) -> dict:
    """Fuzz `name` for `minutes`; its numbers and findings, parsed from libFuzzer's output."""
    crashes = CRASHES / name
    crashes.mkdir(parents=True, exist_ok=True)
    before = set(crashes.iterdir())
    LOGS.mkdir(exist_ok=True)
    log = LOGS / f"{name}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, str(HERE / f"fuzz_{name}.py"), f"-max_total_time={max(1, round(minutes * 60))}",
               f"-artifact_prefix={crashes}/", "-print_final_stats=1", f"-timeout={TIMEOUT_S}",
               f"-rss_limit_mb={RSS_LIMIT_MB}"]
    started = time.monotonic()
    with log.open("w") as out:
        status = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    minutes = (time.monotonic() - started) / 60  # what it ran: libFuzzer stops at the first finding
    text = log.read_text(errors="replace")
    stats = _STATS.findall(text)
    executions, _, cov, ft, units, size, rate = stats[-1] if stats else ("0", "", "0", "0", "0", "0b", "")
    executed = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    average = re.search(r"stat::average_exec_per_sec:\s*(\d+)", text)
    found = sorted(set(crashes.iterdir()) - before)
    findings = [f"`{path.relative_to(ROOT)}`: " + ("slower than libFuzzer's -report_slow_units (not a crash)"
                                                    if path.name.startswith("slow-unit-") else _exception(text))
                for path in found]
    if status != 0 and not findings:
        findings.append(f"exit status {status} without an input written (see {log})")
    return {"reader": name, "minutes": f"{minutes:.1f}", "executions": executed.group(1) if executed else executions,
            "exec/s": average.group(1) if average else rate or "?", "cov": cov, "ft": ft,
            "corpus": f"{units} ({size})", "findings": "; ".join(findings) or "none", "log": log}


def _exception(text: str) -> str:
    """The exception of the Python traceback atheris printed and where it was raised, or
    libFuzzer's own error line (a timeout, out of memory)."""
    match = re.search(r"=== Uncaught Python exception: ===\n(.*?)(?:\n==|\nMS:|\Z)", text, re.S)
    if match:
        lines = [line.strip() for line in match.group(1).splitlines() if line.strip()]
        frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', match.group(1))
        where = f" (raised at {Path(frames[-1][0]).name}:{frames[-1][1]} in {frames[-1][2]})" if frames else ""
        return (lines[-1] if lines else "an uncaught exception") + where
    error = re.search(r"==\d+== ERROR: libFuzzer: (.*)", text)
    return error.group(1).strip() if error else "see the log"


def describe_checkout() -> tuple[str, str]:
    """(handgrad's version, the checkout's commit, marked -dirty when tracked files have changed)."""
    sys.path.insert(0, str(ROOT / "src"))
    import handgrad

    commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return handgrad.__version__, commit


def read_rows(report: Path) -> dict[str, dict]:
    """The rows of the table of an existing report, by reader."""
    rows = {}
    if not report.is_file():
        return rows
    for line in report.read_text().splitlines():
        cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == len(COLUMNS) and cells[0] in READERS:
            rows[cells[0]] = dict(zip(COLUMNS, cells))
    return rows


def write_report(report: Path, rows: dict[str, dict]) -> None:
    short = [name for name in READERS if name in rows and float(rows[name]["minutes"]) < FULL_MINUTES]
    missing = [name for name in READERS if name not in rows]
    lines = ["# Fuzzing the readers of user input", "",
             "Coverage-guided fuzzing (atheris, libFuzzer) of each reader of user input: every input must end "
             "in a valid result or a `handgrad.errors.UserError` with a message; any other exception, a timeout "
             f"(an input taking over {TIMEOUT_S} s) or running out of memory (over {RSS_LIMIT_MB} MB) is a "
             "finding. Harnesses in `benchmarks/fuzz/`; this file is written by `benchmarks/fuzz/run.py`, one row "
             "per reader, its latest run. Findings are left in `benchmarks/fuzz/crashes/<reader>/` and replayed by "
             "`tests/test_fuzz_harnesses.py`.", ""]
    if short:
        seconds = {name: f"{float(rows[name]['minutes']) * 60:g} s" for name in short}
        lengths = f"{seconds[short[0]]} each" if len(set(seconds.values())) == 1 else \
            ", ".join(f"{name} {length}" for name, length in seconds.items())
        lines += [f"**Validation runs only for {', '.join(short)}** ({lengths}): they check that the harnesses "
                  f"work, they are not the fuzzing. The runs of at least {FULL_MINUTES} minutes per reader are "
                  f"still to do (`python benchmarks/fuzz/run.py --minutes {FULL_MINUTES}`).", ""]
    if missing:
        lines += [f"Not run yet: {', '.join(missing)}.", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name in READERS:
        if name in rows:
            lines.append("| " + " | ".join(str(rows[name][column]).replace("|", "\\|") for column in COLUMNS) + " |")
    kept = sorted(path for path in CRASHES.glob("*/*") if path.is_file())
    lines += ["", "Inputs kept from earlier findings (each replayed by the tests; the table shows only each "
              "reader's latest run):", ""] + [f"- `{path.relative_to(ROOT)}`" for path in kept] if kept else []
    lines += ["", "Readers:", ""] + [f"- {name}: {what}" for name, what in READERS.items()]
    lines += ["", "cov and ft are libFuzzer's coverage counters (edges of the instrumented Python code, and "
              "features) at the end of the run; corpus is the number of inputs kept (and their total size); "
              "jobs is how many harnesses fuzzed at once, on how many cores (a harness is one process, so "
              "with more jobs than cores each gets a share of one and its exec/s falls accordingly)."]
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("readers", nargs="*", metavar="READER",
                        help=f"harnesses to run (default: all): {', '.join(READERS)}")
    parser.add_argument("--minutes", type=float, default=FULL_MINUTES, help="fuzzing time per harness")
    parser.add_argument("--jobs", type=int, default=1, help="harnesses fuzzing at once (default 1)")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    unknown = [name for name in args.readers if name not in READERS]
    if unknown:
        parser.error(f"unknown reader {unknown[0]!r}; readers: {', '.join(READERS)}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    version, commit = describe_checkout()
    command = shlex.join(["python", "benchmarks/fuzz/run.py", *(argv if argv is not None else sys.argv[1:])])
    rows = read_rows(args.report)
    names = args.readers or list(READERS)
    jobs = f"{min(args.jobs, len(names))} on {os.cpu_count()} cores"
    found = False
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:  # threads only wait on the processes
        print(f"fuzzing {', '.join(names)} for {args.minutes:g} min each, {args.jobs} at a time ...", flush=True)
        running = [pool.submit(run_harness, name, args.minutes) for name in names]
        for done in concurrent.futures.as_completed(running):
            row = done.result()
            print(f"  {row['reader']}: {row['executions']} executions, cov {row['cov']}, ft {row['ft']}, corpus "
                  f"{row['corpus']}, findings: {row['findings']} (log: {row.pop('log')})", flush=True)
            found |= row["findings"] != "none"
            rows[row["reader"]] = {**row, "jobs": jobs, "handgrad": version, "commit": commit,
                                   "date": datetime.date.today().isoformat(), "command": f"`{command}`"}
            write_report(args.report, rows)  # after each harness: a long run stopped early keeps what it did
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
