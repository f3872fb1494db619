"""A study's trials on Optuna's RDB storage: open it, queue the (variant, seed) trials, read them back.

    storage = open_storage(storage_url(None, out))      # sqlite:///OUT/study.db
    study = open_study(storage, "regularization", {"study": "regularization", "quick": False})
    top_up(study, [("baseline", 0), ("baseline", 1)])   # enqueue what no trial covers yet
    done = completed(study)                             # {(variant, seed): FrozenTrial}

Each trial carries its variant and seed as user attributes (`variant`, `seed`), its
results as `metrics`, `record` and `seconds`. Coordination is Optuna's own: a worker
takes a queued trial with `study.ask()` (Optuna moves it from WAITING to RUNNING in one
guarded update, so two workers never take the same one); a running trial beats its
heartbeat, and one whose heartbeat goes stale (its worker was killed, its machine lost)
is failed by `optuna.storages.fail_stale_trials` and queued again by
`RetryHeartbeatStaleTrialCallback`. What is ours is only which trials should exist: `top_up`
enqueues every wanted (variant, seed) that has no complete, running or waiting trial,
which is also how a study stopped by Ctrl-C continues.
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from handgrad.errors import UserError

STORAGE_FILE = "study.db"
HEARTBEAT_SECONDS = 10  # a running trial's heartbeat; stale after Optuna's grace period (2 beats)
RETRIES = 3  # how often a trial whose worker died is queued again
ACTIVE = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
FINGERPRINT = "handgrad"  # the study's user attribute that says what it is

# Optuna logs each failed trial with its traceback; ours are reported by our own lines (an interrupted trial
# is no failure to the user, a diverged sweep trial is one line, and a bug's exception reaches the CLI).
optuna.logging.set_verbosity(optuna.logging.ERROR)


def storage_url(url: str | None, out: Path) -> str:
    """The SQLAlchemy URL of `--storage` (None: a SQLite file in the output folder).

    `postgresql://` and `postgres://` as users write them are served by psycopg 3.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if url is None:
        Path(out).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(Path(out) / STORAGE_FILE).resolve()}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"--storage {url!r}: not a database URL (e.g. sqlite:///study.db or "
                        f"postgresql://user:password@host/dbname)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def shown(url: str) -> str:
    """A storage URL as it may be printed: its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def open_storage(url: str, heartbeat: int = HEARTBEAT_SECONDS) -> RDBStorage:
    """Optuna's RDB storage at `url`, with heartbeats and retries of trials whose worker died.

    An unreachable or unusable database raises UserError naming it (password hidden).
    """
    from sqlalchemy.exc import SQLAlchemyError

    if url.startswith("sqlite:"):
        # Several worker processes write one SQLite file: wait for its lock instead of failing, and take the
        # lock when a transaction begins (see `_begin_immediately`); isolation_level None lets us say BEGIN.
        engine_kwargs = {"connect_args": {"timeout": 120, "isolation_level": None}}
    elif url.startswith("postgresql"):
        engine_kwargs = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    else:
        engine_kwargs = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are "experimental"
            storage = RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                 heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=RETRIES))
    except (SQLAlchemyError, ImportError, ValueError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"--storage {shown(url)}: cannot open the database: {reason}") from None
    if url.startswith("sqlite:"):
        _begin_immediately(storage.engine)
    return storage


def _begin_immediately(engine) -> None:
    """Every transaction on this SQLite engine starts with BEGIN IMMEDIATE, taking the write lock at once.

    SQLite's default (deferred) transaction reads first and asks for the write lock later; when two
    processes do that at the same time, one gets "database is locked" at once, without waiting for the
    timeout (waiting could deadlock). Taking the lock first makes the other process wait its turn.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "begin")
    def begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def open_study(storage: RDBStorage, name: str, fingerprint: dict, direction: str = "maximize") -> optuna.Study:
    """The Optuna study `name` in `storage`, created if new; one made for something else raises UserError."""
    study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True, direction=direction)
    existing = study.user_attrs.get(FINGERPRINT)
    if existing is None:
        study.set_user_attr(FINGERPRINT, fingerprint)
    elif existing != fingerprint:
        differing = sorted(k for k in set(existing) | set(fingerprint) if existing.get(k) != fingerprint.get(k))
        raise UserError(
            f"the storage holds a different study named {name!r} (it differs in "
            + ", ".join(f"{k}: {existing.get(k)!r} there, {fingerprint.get(k)!r} here" for k in differing)
            + "); use another --storage or --study-name")
    return study


def fail_stale(study: optuna.Study, heartbeat: int = HEARTBEAT_SECONDS) -> None:
    """Optuna's `fail_stale_trials` (failing trials whose heartbeat is stale, queueing their retries), and the
    same for a trial whose worker died between taking it and its first heartbeat: Optuna never calls such a
    trial stale, so it would block the study forever. It counts as dead `unborn_after(heartbeat)` seconds after
    it started, by this machine's clock (generous, so that clock skew between machines does no harm)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    storage = study._storage
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.datetime_start is None or now - trial.datetime_start < unborn_after(heartbeat):
            continue
        if not _has_heartbeat(storage, trial._trial_id):
            try:
                if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            storage.get_heartbeat_stale_trial_callback()(study, storage.get_trial(trial._trial_id))


def _has_heartbeat(storage, trial_id: int) -> bool:
    # Optuna keeps heartbeats in its own table and has no public reader for them.
    from optuna.storages._rdb.models import TrialHeartbeatModel
    from sqlalchemy.orm import Session

    backend = getattr(storage, "_backend", storage)  # a study's RDBStorage sits behind Optuna's cache
    with Session(backend.engine) as session:
        return TrialHeartbeatModel.where_trial_id(trial_id, session) is not None


def unborn_after(heartbeat: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=max(60, 6 * heartbeat))


def key(trial: FrozenTrial) -> tuple[str, int] | None:
    """(variant, seed) of a trial of ours, None for any other trial."""
    variant, seed = trial.user_attrs.get("variant"), trial.user_attrs.get("seed")
    return None if variant is None or seed is None else (variant, int(seed))


def top_up(study: optuna.Study, wanted: list[tuple[str, int]]) -> int:
    """Enqueue each wanted (variant, seed) that no complete, running or waiting trial covers; returns how many."""
    covered = {key(t) for t in study.get_trials(deepcopy=False, states=ACTIVE)}
    missing = [k for k in wanted if k not in covered]
    for variant, seed in missing:
        study.enqueue_trial({}, user_attrs={"variant": variant, "seed": seed})
    return len(missing)


def completed(study: optuna.Study) -> dict[tuple[str, int], FrozenTrial]:
    """The complete trials of ours by (variant, seed); of duplicates, the first to be numbered."""
    done: dict[tuple[str, int], FrozenTrial] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        k = key(trial)
        if k is not None and "metrics" in trial.user_attrs and k not in done:
            done[k] = trial
    return done


def is_duplicate(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Whether another trial already covers this one's (variant, seed): one complete, or an earlier one
    running or waiting. (Two machines starting at once may both enqueue a key; the earliest runs.)"""
    mine = trial.user_attrs.get("variant"), trial.user_attrs.get("seed")
    for other in study.get_trials(deepcopy=False, states=ACTIVE):
        if other.number == trial.number or key(other) != mine:
            continue
        if other.state == TrialState.COMPLETE or other.number < trial.number:
            return True
    return False


def counts(study: optuna.Study) -> dict[TrialState, int]:
    states: dict[TrialState, int] = {}
    for trial in study.get_trials(deepcopy=False):
        if key(trial) is not None:
            states[trial.state] = states.get(trial.state, 0) + 1
    return states

