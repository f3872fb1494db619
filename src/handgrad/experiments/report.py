"""The report a study writes: `report.md`, its PNG plots, and `results.json`.

    report = Report("mlp-vs-cnn", "MLP vs CNN on MNIST", options)
    report.text("What was run ...")
    report.table("results", ["model", "test accuracy"], rows)       # also goes to results.json
    report.comparison("published", [("CNN test accuracy", 0.93, 0.9197)])
    report.figure("curves.png", draw, "Loss and accuracy per epoch")  # draw(figure) fills a Figure
    report.write()

Every number in a Markdown table is also in `results.json` (under "tables", by table
name, as {"columns": [...], "rows": [[...], ...]}), unrounded, so a reader or a test
can check any of them. A comparison table has the columns quantity, ours, published
and difference (ours − published), the difference left empty where nothing was
published. Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot
state, no display needed), saved next to report.md and embedded by relative path.
"""

from __future__ import annotations

import collections
import io
import json
import math
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from handgrad.experiments import stats

REPORT_FILE = "report.md"
RESULTS_FILE = "results.json"


def fmt(value, digits: int = 4) -> str:
    """A table cell: floats to `digits` decimals, None/nan as "–", everything else as str."""
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.{digits}f}"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    return str(value).replace("|", "\\|")


def signed(value, digits: int = 4) -> str:
    """A difference with its sign (+0.0123, −0.0045)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{abs(value):,}" if isinstance(value, (int, np.integer)) else f"{abs(value):.{digits}f}"
    return ("+" if value >= 0 else "−") + text


def _seconds(value) -> str:
    return fmt(value, 1)


# Columns formatted alike in every table unless a table says otherwise.
DEFAULT_FORMATS = {"seconds": _seconds, "train s": _seconds}


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence], formats: dict | None = None) -> str:
    """A GitHub-flavoured Markdown table; `formats` maps a column name to a cell formatter."""
    formats = {**DEFAULT_FORMATS, **(formats or {})}
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    for row in rows:
        cells = [formats.get(col, fmt)(value) for col, value in zip(columns, row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _jsonable(value):
    """`value` with numpy scalars/arrays, tuples, Paths and non-finite floats made JSON-safe."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_json"):
        return _jsonable(value.to_json())
    return value


def new_figure(width: float = 8.0, height: float = 4.5, **keywords):
    """A matplotlib Figure on an Agg canvas (constrained layout)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained", **keywords)
    FigureCanvasAgg(figure)
    return figure


@dataclass(frozen=True)
class Measured:
    """A table cell holding a Summary: shown as `97.75 ± 0.12 % (n = 5)` (or signed, for a difference),
    stored in results.json as {"n", "mean", "std", "ci95"}."""

    summary: stats.Summary
    percent: bool = False
    signed: bool = False

    def __str__(self) -> str:
        return (stats.signed_cell if self.signed else stats.cell)(self.summary, self.percent)

    def to_json(self) -> dict:
        return {**self.summary.to_json(), **({"percent": True} if self.percent else {})}


@dataclass(frozen=True)
class Percent:
    """A published rate shown in percent like our cells beside it (`89.21 %`), stored as the plain number."""

    value: float

    def __str__(self) -> str:
        return f"{100 * self.value:.2f} %"

    def to_json(self) -> float:
        return self.value


def judgement(difference: stats.Summary, claimed: int, quick: bool = False) -> str:
    """A claim's verdict: the paired difference against the sign the claim gives it.

    claimed: +1 (the claim says the difference is positive), -1 (negative) or 0 (no
    difference: "comparable", "not significant"). quick: a --quick or one-seed run, which
    supports no conclusion.
    """
    if quick or not difference.measured:
        return "not measurable (quick mode or one seed: no conclusions)"
    if difference.lo > 0 or difference.hi < 0:
        sign = 1 if difference.lo > 0 else -1
        found = "positive" if sign > 0 else "negative"
        return f"{'agree' if sign == claimed else 'disagree'}: measurably {found}"
    return "agree: no measurable difference" if claimed == 0 else \
        "not confirmed: no measurable difference (the interval contains 0)"


class Report:
    """A study's report, built up section by section and written with `write()`.

    name: the study's registry name; title: the report's heading; out: the output folder;
    meta: what results.json records about the run (mode, seed, dataset, ...).
    """

    def __init__(self, name: str, title: str, out: str | Path, meta: dict | None = None):
        self.name, self.title, self.out = name, title, Path(out)
        self.meta = dict(meta or {})
        self.parts: list[str] = []
        self.tables: dict[str, dict] = {}
        self.figures: list[str] = []
        self.values: dict = {}
        self.results = None  # the study's Results: results.json's "trials" and "summary"
        self.started = time.time()
        self.out.mkdir(parents=True, exist_ok=True)

    # -- content -------------------------------------------------------------------------
    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append("#" * level + " " + text)

    def text(self, text: str) -> None:
        self.parts.append(text.strip())

    def bullets(self, items: Iterable[str]) -> None:
        self.parts.append("\n".join(f"- {item}" for item in items))

    def table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence], caption: str = "",
              formats: dict | None = None) -> None:
        """A Markdown table, also stored in results.json under `name` (unrounded)."""
        if name in self.tables:
            raise ValueError(f"report {self.name!r}: table {name!r} written twice")
        rows = [list(row) for row in rows]
        for row in rows:
            if len(row) != len(columns):
                raise ValueError(f"report {self.name!r}, table {name!r}: row {row} has {len(row)} cells, "
                                 f"expected {len(columns)}")
        self.tables[name] = {"columns": list(columns), "rows": rows, "caption": caption}
        block = markdown_table(columns, rows, formats)
        self.parts.append((f"*{caption}*\n\n" if caption else "") + block)

    def comparison(self, name: str, rows: Sequence[tuple], caption: str = "", digits: int = 4) -> None:
        """An "ours vs published" table: rows of (quantity, ours, published[, note]).

        The difference column is ours − published where both are numbers.
        """
        full = []
        for row in rows:
            quantity, ours, published, *rest = row
            note = rest[0] if rest else ""
            both = isinstance(ours, (int, float)) and isinstance(published, (int, float)) \
                and not isinstance(ours, bool) and ours is not None and published is not None
            difference = None
            if both:
                difference = ours - published if isinstance(ours, int) and isinstance(published, int) \
                    else float(ours) - float(published)
            full.append([quantity, ours, published, difference, note])
        formats = {"ours": lambda v: fmt(v, digits), "published": lambda v: fmt(v, digits),
                   "difference": lambda v: signed(v, digits)}
        self.table(name, ["quantity", "ours", "published", "difference", "note"], full, caption, formats)

    def settings(self, name: str, settings: dict, caption: str = "") -> None:
        """A two-column table of settings (every hyperparameter of a run)."""
        rows = [[key, _setting(value)] for key, value in settings.items()]
        self.table(name, ["setting", "value"], rows, caption)

    def figure(self, filename: str, draw: Callable, caption: str, width: float = 8.0, height: float = 4.5) -> Path:
        """Draw a figure with `draw(figure)`, save it as `filename` (PNG) and embed it."""
        figure = new_figure(width, height)
        draw(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90)
        path = self.out / filename
        path.write_bytes(buffer.getvalue())
        self.figures.append(filename)
        self.parts.append(f"![{caption}]({filename})\n\n*{caption}*")
        return path

    # -- statistics over seeds ----------------------------------------------------------------
    def use(self, results) -> None:
        """The trials this report is written from: results.json lists them and their summary."""
        self.results = results

    def summary_table(self, name: str, results, variants: dict, metrics: Sequence[tuple[str, str, bool]],
                      caption: str = "") -> None:
        """Per variant (key -> label) and metric (name, column title, in percent): mean ± 95 % interval (n)."""
        rows = [[label] + [Measured(results.summary(key, metric), percent) for metric, _, percent in metrics]
                for key, label in variants.items() if key in results]
        self.table(name, ["variant", *(title for _, title, _ in metrics)], rows, caption)

    def published_table(self, name: str, rows: Sequence[tuple], caption: str = "") -> None:
        """Ours against published: rows of (quantity, our Summary, published number or None, in percent).

        The last column says whether the published number lies inside, above or below our interval."""
        full = [[q, Measured(ours, percent), Percent(published) if percent and published is not None else published,
                 "–" if published is None else stats.where(published, ours)] for q, ours, published, percent in rows]
        self.table(name, PUBLISHED_COLUMNS, full, caption)

    def differences_table(self, name: str, rows: Sequence[tuple], caption: str = "") -> None:
        """Claims as paired differences: rows of (claim, difference Summary, in percent, verdict)."""
        full = [[claim, Measured(difference, percent, signed=True), verdict]
                for claim, difference, percent, verdict in rows]
        self.table(name, ["claim", "difference, paired by seed (95 % CI)", "verdict"], full, caption)

    def record(self, key: str, value) -> None:
        """Store a value in results.json under "values" (for numbers not in a table, e.g. curves)."""
        self.values[key] = value

    # -- output --------------------------------------------------------------------------
    def write(self) -> Path:
        """Write report.md (ending with its provenance) and results.json; returns the report's path."""
        seconds = time.time() - self.started
        provenance = self.provenance()
        markdown = ("# " + self.title + "\n\n" + "\n\n".join(self.parts) + "\n\n---\n\n"
                    + self.footer(provenance, seconds) + "\n")
        report_path = self.out / REPORT_FILE
        report_path.write_text(markdown, encoding="utf-8")
        meta = {**self.meta, **({"provenance": provenance} if provenance else {})}
        results = {"study": self.name, "title": self.title, **meta, "seconds": seconds,
                   "trials": [t.to_json() for t in self.results.trials] if self.results else [],
                   "summary": self.results.summary_json() if self.results else {},
                   "tables": {name: {"columns": t["columns"], "rows": t["rows"]} for name, t in self.tables.items()},
                   "figures": self.figures, "values": self.values}
        (self.out / RESULTS_FILE).write_text(json.dumps(_jsonable(results), indent=1) + "\n", encoding="utf-8")
        return report_path

    def provenance(self) -> dict:
        """meta's "provenance" (common.provenance) completed: the command, seeds, trials and wall time."""
        given = self.meta.get("provenance")
        if not given:
            return {}
        trials = self.results.trials if self.results else []
        commits = collections.Counter(t.commit or "not recorded" for t in trials)
        return {**given, "command": shlex.join(["handgrad", "experiment", self.name, *given["arguments"]]),
                "seeds": seeds_text(trials), "trials": len(trials), "trial_commits": dict(commits.most_common()),
                "trial_seconds": math.fsum(t.seconds for t in trials),
                "wall_seconds": time.time() - given["started"]}

    def footer(self, provenance: dict, seconds: float) -> str:
        """The report's last lines: how to rerun it, and with what it was made."""
        written = (f"*Written by `handgrad experiment {self.name}` on {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
                   f"in {seconds:.0f} s. Every number in the tables is in `{RESULTS_FILE}`.*")
        if not provenance:
            return written
        p = provenance
        return "\n".join([
            "## Provenance", "",
            f"- handgrad {p['handgrad_version']}, git commit `{p['git_commit']}`",
            f"- command: `{p['command']}`",
            f"- seeds: {p['seeds']} ({p['trials']} trial{'' if p['trials'] == 1 else 's'})",
            "- the trials ran on: " + ", ".join(f"`{commit}` ({n})" for commit, n in p["trial_commits"].items()),
            f"- wall time: {p['wall_seconds']:.0f} s for this command; the trials' own training time, summed: "
            f"{p['trial_seconds']:.0f} s",
            f"- cores: {p['cores']} ({p['workers']} worker{'s' if p['workers'] != 1 else ''})",
            "", written])

def seeds_text(trials) -> str:
    """The seeds the trials ran, as `0–2 for every variant` (or per group of variants with other seeds)."""
    by_variant: dict = {}
    for t in trials:
        by_variant.setdefault(t.variant, set()).add(t.seed)
    groups: dict = {}
    for variant, seeds in by_variant.items():
        groups.setdefault(_ranges(sorted(seeds)), []).append(variant)
    if not groups:
        return "none"
    if len(groups) == 1:
        return f"{next(iter(groups))} for every variant"
    return "; ".join(f"{seeds} for {', '.join(variants)}" for seeds, variants in groups.items())


def _ranges(seeds: list[int]) -> str:
    """[0, 1, 2, 5] -> "0–2, 5"."""
    parts, start = [], None
    for i, seed in enumerate(seeds):
        if start is None:
            start = seed
        if i + 1 == len(seeds) or seeds[i + 1] != seed + 1:
            parts.append(str(start) if start == seed else f"{start}–{seed}")
            start = None
    return ", ".join(parts)


def _setting(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_setting(v)}" for k, v in value.items()) or "(defaults)"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# -- plots -----------------------------------------------------------------------------------
def plot_series(axes, series: dict, xlabel: str, ylabel: str, title: str = "", styles: dict | None = None,
                logy: bool = False) -> None:
    """Lines of {label: (x, y)} on `axes`, with grid and legend."""
    styles = styles or {}
    for label, (x, y) in series.items():
        y = [np.nan if v is None else v for v in y]
        axes.plot(x, y, styles.get(label, "o-" if len(x) <= 30 else "-"), label=label, markersize=3)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if xlabel in ("epoch", "iteration"):
        from matplotlib.ticker import MaxNLocator
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if logy:
        axes.set_yscale("log")
    if title:
        axes.set_title(title)
    axes.grid(alpha=0.3)
    if series:
        axes.legend(fontsize=8)


def plot_band(axes, label: str, curves: Sequence[tuple[Sequence, Sequence]], style: str = "-", color=None) -> None:
    """The mean of several seeds' curves (x, y) as a line, their min–max as a band (x: the shortest run's)."""
    curves = [(list(x), [np.nan if v is None else v for v in y]) for x, y in curves if len(x)]
    if not curves:
        return
    length = min(len(x) for x, _ in curves)
    x = curves[0][0][:length]
    ys = np.array([y[:length] for _, y in curves], dtype=np.float64)
    mean = np.nanmean(ys, axis=0) if np.isfinite(ys).any() else ys[0]
    (line,) = axes.plot(x, mean, style, label=f"{label} (n = {len(curves)})" if len(curves) > 1 else label,
                        markersize=3, color=color)
    if len(curves) > 1:
        axes.fill_between(x, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), alpha=0.2, color=line.get_color(),
                          linewidth=0)


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average over `window` values (shorter at the start), for per-step loss curves."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    out = np.empty_like(values)
    for i in range(len(values)):
        lo = max(0, i + 1 - window)
        out[i] = (cumulative[i + 1] - cumulative[lo]) / (i + 1 - lo)
    return out


PUBLISHED_COLUMNS = ["quantity", "ours (mean ± 95 % CI)", "published", "published vs our interval"]


def _stored_cell(summary: dict, published) -> str:
    """A published table's "ours" cell as results.json stores it (a Measured's JSON)."""
    s = stats.Summary(summary["n"], *(math.nan if v is None else v for v in
                                      (summary["mean"], summary["std"], *summary["ci95"])))
    return stats.cell(s, summary.get("percent", False))


def _published(published, summary: dict) -> str:
    if published is None:
        return "–"
    return str(Percent(published)) if summary.get("percent") else fmt(published)


def render_index(root: str | Path, studies: dict) -> str:
    """The text of `README.md` in `root`: each study's report linked, with its "ours vs published" rows.

    studies: name -> (title-less) one-line summary, in the order to list them. Studies
    without a results.json in `root/name` are listed as not run. Results written before
    the study engine (one seed, columns quantity/ours/published/difference) are shown as
    they were, marked as such.
    """
    root = Path(root)
    lines = ["# Studies of the source reports, rerun with handgrad", "",
             "Each folder holds `report.md` (settings, tables, plots), the PNG plots and `results.json`. "
             "Rerun one with `handgrad experiment NAME` (`--quick` for a check in seconds; `--list` for the list). "
             "This page is generated from the results.json files (`handgrad experiment all` rewrites it).", ""]
    for name, summary in studies.items():
        results_path = root / name / RESULTS_FILE
        if not results_path.is_file():
            lines += [f"## {name}", "", f"{summary} — *not run yet*", ""]
            continue
        results = json.loads(results_path.read_text(encoding="utf-8"))
        mode = " (quick mode)" if results.get("quick") else ""
        lines += [f"## [{results.get('title', name)}]({name}/{REPORT_FILE}){mode}", "", summary, ""]
        if results.get("trials"):
            count = len(results["trials"])
            seeds = results.get("provenance", {}).get("seeds") or f"0–{results.get('seeds', 1) - 1}"
            missing, wanted = results.get("unfinished") or (0, 0)
            part_way = f" **Part-way:** {missing} of {wanted} trials still to run." if missing else ""
            lines += [f"{count} trial{'' if count == 1 else 's'}, seeds {seeds}.{part_way}", ""]
        else:
            lines += ["*One run per variant (seed 0), from before the study engine: no intervals.*", ""]
        for table in results.get("tables", {}).values():
            if table["columns"] == PUBLISHED_COLUMNS:
                lines.append(markdown_table(PUBLISHED_COLUMNS, [[q, _stored_cell(ours, published), _published(
                    published, ours), where] for q, ours, published, where in table["rows"]]))
                lines.append("")
            elif table["columns"][:4] == ["quantity", "ours", "published", "difference"]:
                lines.append(markdown_table(table["columns"][:4], [row[:4] for row in table["rows"]],
                                            {"difference": signed}))
                lines.append("")
    return "\n".join(lines)


def write_index(root: str | Path, studies: dict) -> Path:
    """Write `render_index(root, studies)` to `root/README.md`; returns its path."""
    path = Path(root) / "README.md"
    path.write_text(render_index(root, studies), encoding="utf-8")
    return path
