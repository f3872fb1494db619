"""history.csv and the epoch line."""

from handgrad.train import read_csv
from handgrad.train.history import epoch_line, readable, write_csv


def test_csv_round_trip_with_missing_validation(tmp_path):
    rows = [{"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.9, "val_loss": None, "val_accuracy": None,
             "lr": 1e-3, "seconds": 2.5, "guard_firings": 0, "guard_events": None},
            {"epoch": 2, "train_loss": 0.4, "train_accuracy": 0.91, "val_loss": None, "val_accuracy": None,
             "lr": 1e-4, "seconds": 2.5, "guard_firings": 1,
             "guard_events": "divergence guard: loss became nan at epoch 2, step 3; restored ..."}]
    write_csv(tmp_path / "history.csv", rows)
    assert (tmp_path / "history.csv").read_text().splitlines()[0] == (
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,guard_firings,guard_events")
    assert read_csv(tmp_path / "history.csv") == rows


def test_epoch_line():
    row = {"epoch": 2, "train_loss": 0.12345, "train_accuracy": 0.9612, "val_loss": 0.1, "val_accuracy": 0.97,
           "lr": 0.001, "seconds": 3.21}
    assert epoch_line(row, 5) == "epoch 2/5  train loss 0.1235 acc 96.12%  val loss 0.1000 acc 97.00%  lr 0.001  3.2s"
    assert "val" not in epoch_line({**row, "val_loss": None, "val_accuracy": None}, 5)


def test_losses_read_as_numbers_at_any_size():
    assert [readable(x) for x in (2.302585, 0.0012, 0.0, 9999.5, 5568334960165546584794071107444408320.0, 3.2e-7,
                                  float("nan"), float("inf"))] == [
        "2.3026", "0.0012", "0.0000", "9999.5000", "5.568e+36", "3.2e-07", "nan", "inf"]
    row = {"epoch": 1, "train_loss": 5.6e36, "train_accuracy": 0.1, "val_loss": 2e20, "val_accuracy": 0.1,
           "lr": 1e9, "seconds": 1.0}
    assert epoch_line(row, 2).startswith("epoch 1/2  train loss 5.6e+36 acc 10.00%  val loss 2e+20 acc")
