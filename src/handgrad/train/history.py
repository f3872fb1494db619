"""The per-epoch record of a run: one dict per epoch, `history.csv`, and the epoch's log line.

Columns: epoch, train_loss (including the explicit l2 term, if any), train_accuracy,
val_loss and val_accuracy (empty without a validation split), lr (during the epoch,
after any guard firing, before the scheduler's step), seconds (training and validation
of the epoch), guard_firings (the total so far) and guard_events (what made the guard
fire during the epoch and what it did, "; "-separated; empty when it did not fire).
Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from handgrad.train.checkpoint import atomic_write

FIELDS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "guard_firings",
          "guard_events")
TEXT_FIELDS = ("guard_events",)


def write_csv(path: str | Path, rows: list[dict]) -> None:
    """Write the rows as CSV (atomically), missing values as empty cells."""
    write_table(path, rows, FIELDS)


def write_table(path: str | Path, rows: list[dict], fields) -> None:
    """Write the rows' `fields` as CSV (atomically), missing values (None) as empty cells."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else row[key] for key in fields})
    atomic_write(path, buffer.getvalue())


def read_csv(path: str | Path) -> list[dict]:
    """The rows of a history.csv, numbers parsed (empty cells as None)."""
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [{key: (value or None) if key in TEXT_FIELDS else _number(value) for key, value in row.items()}
            for row in rows]


def _number(text: str):
    if text == "":
        return None
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def readable(loss: float) -> str:
    """A loss as a person reads it: 4 decimals from 0.001 to 10,000 (2.3026), else 4 digits
    and an exponent (5.568e+36, 3.2e-07), never a 37-digit number."""
    return f"{loss:.4f}" if loss == 0 or 1e-3 <= abs(loss) < 1e4 else f"{loss:.4g}"


def epoch_line(row: dict, epochs: int) -> str:
    """The one-line summary of an epoch."""
    line = (f"epoch {row['epoch']}/{epochs}  train loss {readable(row['train_loss'])} "
            f"acc {100 * row['train_accuracy']:.2f}%")
    if row.get("val_loss") is not None:
        line += f"  val loss {readable(row['val_loss'])} acc {100 * row['val_accuracy']:.2f}%"
    return line + f"  lr {row['lr']:.3g}  {row['seconds']:.1f}s"
