"""The storage side of the engine: queueing, duplicates, and trials whose worker died."""

import optuna
import pytest
from optuna.trial import TrialState

from handgrad.experiments import store


@pytest.fixture
def study(tmp_path):
    storage = store.open_storage(store.storage_url(None, tmp_path), heartbeat=1)
    return store.open_study(storage, "s", {"study": "s"})


def test_top_up_enqueues_only_what_no_trial_covers(study):
    assert store.top_up(study, [("a", 0), ("a", 1)]) == 2
    assert store.top_up(study, [("a", 0), ("a", 1), ("b", 0)]) == 1
    assert sorted(store.key(t) for t in study.get_trials()) == [("a", 0), ("a", 1), ("b", 0)]


def test_the_earliest_of_two_queued_copies_runs(study):
    for _ in range(2):  # two machines enqueueing at the same moment
        study.enqueue_trial({}, user_attrs={"variant": "a", "seed": 0})
    first, second = study.ask(), study.ask()
    assert not store.is_duplicate(study, first) and store.is_duplicate(study, second)


def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_queued_again(study, monkeypatch):
    store.top_up(study, [("a", 0)])
    taken = study.ask()  # RUNNING, and its worker dies before any heartbeat
    store.fail_stale(study, 1)
    assert study.get_trials()[0].state == TrialState.RUNNING  # not yet: it may just be starting
    monkeypatch.setattr(store, "unborn_after", lambda heartbeat: store.datetime.timedelta(0))
    store.fail_stale(study, 1)
    states = {t.number: t.state for t in study.get_trials()}
    assert states[taken.number] == TrialState.FAIL
    retry = [t for t in study.get_trials() if t.state == TrialState.WAITING]
    assert len(retry) == 1 and store.key(retry[0]) == ("a", 0)


def test_a_trial_with_a_heartbeat_is_left_to_optuna(study, monkeypatch):
    store.top_up(study, [("a", 0)])
    taken = study.ask()
    study._storage.record_heartbeat(taken._trial_id)
    monkeypatch.setattr(store, "unborn_after", lambda heartbeat: store.datetime.timedelta(0))
    store.fail_stale(study, 1)  # its heartbeat is fresh: it runs on
    assert study.get_trials()[0].state == TrialState.RUNNING


def test_urls_as_users_write_them(tmp_path):
    assert store.storage_url("postgresql://u:p@h/db", tmp_path) == "postgresql+psycopg://u:p@h/db"
    assert store.shown("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"
    assert store.storage_url(None, tmp_path / "new").endswith("/new/study.db")
    with pytest.raises(ValueError, match="not a database URL"):
        store.storage_url("nonsense", tmp_path)
    assert optuna.__version__ == "5.1.0"
