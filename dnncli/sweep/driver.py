"""The sweep's driver: an Optuna study (ask and tell) recorded in ``sweeps/<name>/study.db``, trials
handed to workers, results collected.

The study database is the sweep's memory. Run the same command again after Ctrl-C, SIGTERM or
SIGKILL, and the driver carries on where it was: finished trials (complete, pruned, failed) are
kept; a trial the study still has as running was interrupted, and is handed out again with the
parameters it was given (its run directory resumes from its checkpoint, or starts again, or is
simply read if it had finished); only the trials still missing are asked for. Every planned trial
is thus run exactly once.

The driver holds a lock on the sweep's directory, so a second driver refuses instead of
counting trials twice.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import signal
import stat
import threading
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np

from dnncli import __version__
from dnncli.compute.threads import usable_cores
from dnncli.errors import (
    EXIT_BAD_INPUT,
    EXIT_RUNTIME,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    ConfigError,
    DnnError,
    Interrupted,
    RunDirError,
)
from dnncli.files import atomic
from dnncli.files.userfile import read_regular_text
from dnncli.plots.figure import pyplot
from dnncli.sweep import results
from dnncli.sweep.cluster import DaskWorkers
from dnncli.sweep.local import LocalWorkers
from dnncli.sweep.results import TrialRecord
from dnncli.sweep.scale import write_scale
from dnncli.sweep.shipping import data_key, read_for_shipping, remove_incoming_leftovers
from dnncli.sweep.spec import Sweep
from dnncli.sweep.trial import TrialRequest, TrialResult
from dnncli.sweep.worker import SWEEP_ID_FILE

def install_hint() -> str:
    """How to add the sweep extra: from a clone of dnn (its pyproject.toml beside the package,
    where the package index has no dnncli), or to an installed dnncli."""
    clone = Path(__file__).resolve().parents[2]
    if (clone / "pyproject.toml").is_file():
        return f"pip install -e '.[sweep]' (in {clone}, the clone dnn runs from)"
    return "pip install 'dnncli[sweep]'"


STUDY_FILE = "study.db"
SWEEP_RECORD = "sweep.json"
BAD_INPUT_LIMIT = 3  # trials failing on bad input before any succeeds: the sweep stops
SHIP_WITHOUT_SCHEDULER = (
    "--ship-data sends the data to Dask workers and needs --scheduler ADDRESS; local trials read the files themselves"
)


def require(*modules: str) -> None:
    """Refuse in one line when an optional dependency of ``dnn sweep`` is missing (found, not
    imported: importing Optuna takes a fifth of a second, spent later while the workers start)."""
    import importlib.util

    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise DnnError(f"dnn sweep needs {' and '.join(missing)}: {install_hint()}")


class SweepEvents(Protocol):
    def begin(self, sweep: Sweep, records: dict[int, TrialRecord], planned: int) -> None: ...
    def started(self, record: TrialRecord) -> None: ...
    def finished(self, record: TrialRecord) -> None: ...
    def note(self, line: str) -> None: ...  # a line a trial's run wrote on stderr, shown once
    def end(self) -> None: ...


class Workers(Protocol):
    """Where trials run: :class:`~dnncli.sweep.local.LocalWorkers` or :class:`~dnncli.sweep.cluster.DaskWorkers`."""

    def start(self, count: int) -> None: ...
    def capacity(self) -> int: ...  # trials at once (0: a cluster without a worker yet)
    def submit(self, request: TrialRequest) -> None: ...
    def wait(self, timeout: float) -> list[TrialResult]: ...  # those that finished meanwhile
    def interrupt(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class SweepOutcome:
    sweep: Sweep
    records: list[TrialRecord]
    best: TrialRecord | None
    files: list[Path] = field(default_factory=list)
    importance: dict[str, float] = field(default_factory=dict)  # config key -> Optuna's importance


# ---- the sweep's directory -------------------------------------------------------------------


@contextlib.contextmanager
def sweep_lock(directory: Path) -> Iterator[None]:
    path = directory / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise RunDirError(
                f"{directory}: in use by another dnn sweep{f' (pid {owner})' if owner else ''}; "
                "wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _check_identity(sweep: Sweep) -> None:
    """A rerun must be the same sweep (its budget may change); the first run records it."""
    record = sweep.directory / SWEEP_RECORD
    identity = json.loads(json.dumps(sweep.identity()))
    if record.exists():
        try:  # bounded: a FIFO, a huge or a 100,000-deep sweep.json is "another sweep", not a hang
            saved = json.loads(read_regular_text(record, 1 << 20, ConfigError, "a sweep.json")).get("identity")
        except (DnnError, ValueError, AttributeError, RecursionError):
            saved = None
        if saved != identity:
            differ = sorted(k for k in identity if not isinstance(saved, dict) or saved.get(k) != identity[k])
            raise ConfigError(
                f"{sweep.source}: {sweep.directory} holds a sweep started with another "
                f"{', '.join(differ) or 'sweep file'}; to start a new sweep set another name: in the "
                f"sweep file, or remove {sweep.directory}"
            )
    atomic.write_text(
        record,
        json.dumps({"source": str(sweep.source), "planned_trials": sweep.trials, "dnn_version": __version__,
                    "identity": identity}, indent=2) + "\n",
    )
    if not (sweep.directory / SWEEP_ID_FILE).exists():
        atomic.write_text(sweep.directory / SWEEP_ID_FILE, uuid.uuid4().hex + "\n")


# ---- the study -------------------------------------------------------------------------------


@dataclass
class _Study:
    """The Optuna study, and the storage it is kept in: a worker's reports and the pruner's rungs
    are written there, on the trial (still running) they belong to, before the study is told."""

    study: Any
    storage: Any  # optuna.storages.RDBStorage
    study_id: int

    def trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)


def sampler_seed(seed: int, asked: int) -> int:
    """The sampler's seed for a run of the sweep that starts with ``asked`` trials already asked:
    the sweep's own seed at the first run, then one derived from it and ``asked``, so that a
    resumed or extended random or TPE sweep goes on with new points instead of drawing its first
    ones again."""
    if asked == 0:
        return seed
    return int(np.random.SeedSequence([seed, asked]).generate_state(1)[0])


def _check_study_file(path: Path) -> None:
    """study.db is ours to open only as a regular file (or not yet there): a FIFO would hang
    SQLite, a directory or a link is not a study dnn wrote."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise DnnError(f"{path}: is {kind}, not the study dnn writes; move it away to start the sweep afresh")


_DAMAGED = ("not a database", "malformed", "no such table", "no such column", "constraint failed", "schema")


@contextlib.contextmanager
def study_errors(path: Path) -> Iterator[None]:
    """The study's database failing (damaged, tampered with, a full disk, a file-size limit) as
    one line naming ``path``, never SQL text or an internal error."""
    import sqlite3

    import optuna
    import sqlalchemy.exc

    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, optuna.exceptions.StorageInternalError) as exc:
        cause = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__ or exc
        text = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        if any(fragment in text for fragment in _DAMAGED):
            raise DnnError(f"{path}: damaged or not a study dnn wrote ({text}); move it away to start the sweep afresh") from None
        raise DnnError(f"{path}: cannot read or write the study: {text} (a full disk or a file-size limit?)",
                       exit_code=EXIT_RUNTIME) from None


def _open_study(sweep: Sweep, parallel: bool) -> _Study:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = optuna.storages.RDBStorage(f"sqlite:///{(sweep.directory / STUDY_FILE).resolve()}")
    _without_fsync(storage.engine)
    study = optuna.create_study(
        storage=storage, sampler=optuna.samplers.RandomSampler(seed=sweep.seed),
        pruner=optuna.pruners.NopPruner(),  # pruning: in the worker
        study_name=sweep.name, direction=sweep.goal, load_if_exists=True,
    )
    seed = sampler_seed(sweep.seed, len(_readable_trials(study, sweep.directory / STUDY_FILE)))
    if sweep.sampler == "grid":
        # the grid itself skips the points its study has run or is running
        study.sampler = _GridSampler({p.study_name: p.grid() for p in sweep.params}, seed=sweep.seed)
    elif sweep.sampler == "random":
        study.sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        # a constant liar keeps parallel TPE trials from all asking for the same point
        study.sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=parallel)
    return _Study(study, storage, storage.get_study_id_from_name(sweep.name))


def _without_fsync(engine: Any) -> None:
    """SQLite's commits without waiting for the disk (a dozen a trial, 10 ms each): what a
    commit wrote survives the driver's death (SIGKILL, a crash), only the machine's own crash may
    lose the last trials, which the next run then hands out again."""
    from sqlalchemy import event

    def no_fsync(connection: Any, record: Any) -> None:
        connection.execute("PRAGMA synchronous=OFF")

    event.listen(engine, "connect", no_fsync)
    engine.dispose()  # the connections opened before this: closed, the next ones get it


def _grid_sampler_class() -> type:
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid, without its ``study.stop()`` once the grid is done: that only works
        inside ``study.optimize``, and the driver counts the planned trials itself."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            pass

    return GridSampler


def _GridSampler(search_space: dict[str, list[Any]], seed: int) -> Any:
    return _grid_sampler_class()(search_space, seed=seed)


_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "interrupted", "WAITING": "interrupted"}


def _read_metrics(run_dir: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        return metrics if isinstance(metrics, dict) else None
    return None


def _checked_trials(sweep: Sweep, study: _Study) -> list[Any]:
    """The study's trials, each parameter inside the sweep's space: a study.db changed outside
    dnn (a value of 1e308, a distribution that does not parse) never reaches results.csv or
    best.yaml, nor a trial's config."""
    path = sweep.directory / STUDY_FILE
    space = {p.study_name: p.distribution() for p in sweep.params}
    trials = _finish_unfinished_asks(study, _readable_trials(study.study, path), space, path)
    tampered = "the study was changed outside dnn: move it away to start the sweep afresh"
    for trial in trials:
        if set(trial.params) != set(space):
            raise DnnError(f"{path}: trial {trial.number} has the parameters {sorted(trial.params)}, not the sweep's "
                           f"{sorted(space)}; {tampered}")
        for name, value in trial.params.items():
            if not _within(space[name], value):
                raise DnnError(f"{path}: trial {trial.number} holds {name} = {repr(value)[:60]}, outside the sweep's "
                               f"space; {tampered}")
        if trial.state.name == "COMPLETE" and not _value_agrees(sweep, trial):
            raise DnnError(f"{path}: trial {trial.number} records {sweep.metric} = {repr(trial.value)[:60]}, not what "
                           f"its run's metrics.json says; {tampered}")
    return trials


def _finish_unfinished_asks(study: _Study, trials: list[Any], space: dict[str, Any], path: Path) -> list[Any]:
    """The trials, with the asks a killed driver left unfinished finished: a trial is recorded
    one parameter at a time, so a SIGKILL in the middle of asking the sampler leaves it running
    with only some of the sweep's parameters, never handed out. The sampler is asked for the
    missing ones now (a grid's point, kept in the trial, gives them), and the trial is handed out
    as any interrupted one."""
    from optuna.distributions import CategoricalDistribution, IntDistribution
    from optuna.trial import Trial, TrialState

    unfinished = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING) and set(t.params) < set(space)]
    for frozen in unfinished:
        trial = Trial(study.study, study.trial_id(frozen.number))
        for name, d in space.items():
            if isinstance(d, CategoricalDistribution):
                trial.suggest_categorical(name, d.choices)
            elif isinstance(d, IntDistribution):
                trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
            else:
                trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    return _readable_trials(study.study, path) if unfinished else trials


def _readable_trials(study: Any, path: Path) -> list[Any]:
    """The study's trials as Optuna reads them, or one line naming ``path`` when it cannot (a
    value or a distribution that does not parse)."""
    try:
        return study.get_trials(deepcopy=False)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError, RecursionError) as exc:
        raise DnnError(f"{path}: damaged or not a study dnn wrote ({type(exc).__name__}: {_first_line(exc)}); "
                       "move it away to start the sweep afresh") from None


def _value_agrees(sweep: Sweep, trial: Any) -> bool:
    """A finished trial's value is finite and, where its run's metrics.json is there, the same;
    with ``seeds: N``, the mean of its seeds' values, the first of them its run's."""
    if not _finite(trial.value):
        return False
    metrics = _read_metrics(sweep.directory / "trials" / str(trial.number)) or {}
    recorded = metrics.get(sweep.metric)
    seed_values = trial.user_attrs.get("seed_values")
    if isinstance(seed_values, list) and len(seed_values) > 1:
        if not all(_finite(v) for v in seed_values) or float(np.mean(seed_values)) != trial.value:
            return False
        return not _finite(recorded) or recorded == seed_values[0]
    return not _finite(recorded) or recorded == trial.value


def _within(distribution: Any, value: Any) -> bool:
    from optuna.distributions import CategoricalDistribution

    if isinstance(distribution, CategoricalDistribution):
        return any(type(value) is type(choice) and value == choice for choice in distribution.choices)
    return _finite(value) and distribution.low <= value <= distribution.high


def _first_line(exc: BaseException) -> str:
    return ((str(exc).strip().splitlines() or [""])[0])[:200]


def _record_of(sweep: Sweep, frozen: Any) -> TrialRecord:
    run_dir = sweep.directory / "trials" / str(frozen.number)
    state = _STATES.get(frozen.state.name, frozen.state.name.lower())
    metrics = _read_metrics(run_dir) if state in ("complete", "interrupted") else None
    value = frozen.value if state in ("complete", "pruned") else None
    if state == "pruned" and value is None and frozen.intermediate_values:
        value = frozen.intermediate_values[max(frozen.intermediate_values)]
    attrs = frozen.user_attrs
    return TrialRecord(
        number=frozen.number, state=state, params=sweep.config_values(frozen.params), run_dir=str(run_dir),
        value=value, metrics=metrics, seconds=attrs.get("seconds"), error=attrs.get("error"),
        spread=attrs.get("spread"), seed_values=attrs.get("seed_values"), val_cost=attrs.get("val_cost"),
    )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Stop:
    """SIGINT / SIGTERM: stop handing out trials and ask the running ones to stop; again: at once."""

    def __init__(self, executor: Workers) -> None:
        self.executor, self.signum, self.error = executor, None, None

    def __bool__(self) -> bool:
        return self.signum is not None or self.error is not None

    def handler(self, signum: int, frame: Any) -> None:
        self.signum = self.signum or signum
        self.executor.interrupt()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self.handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, old in previous.items():
                signal.signal(s, old)


def run_sweep(
    sweep: Sweep, *, jobs: int | None = None, scheduler: str | None = None, events: SweepEvents | None = None,
    ship_data: bool = False,
) -> SweepOutcome:
    """Run (or continue) the sweep until every planned trial has finished; the results.
    ``ship_data`` (with a ``scheduler``): send the arrays to the workers, which then need none of
    this machine's files."""
    if ship_data and not scheduler:
        raise DnnError(SHIP_WITHOUT_SCHEDULER, exit_code=EXIT_BAD_INPUT)
    require("optuna", *(["distributed"] if scheduler else []))
    shipped = None
    if ship_data:  # read (and refused if too large) before anything is written or connected
        shipped = {data_key(sweep.base_config): read_for_shipping(sweep.base_config)}
    # the cluster answers before anything is written: a wrong address leaves no sweeps/NAME
    executor: Workers | None = DaskWorkers(scheduler, jobs, shipped) if scheduler else None
    try:
        sweep.directory.mkdir(parents=True, exist_ok=True)
        (sweep.directory / "trials").mkdir(exist_ok=True)
        with sweep_lock(sweep.directory):
            _check_identity(sweep)
            remove_incoming_leftovers(sweep.directory / "trials")  # a driver killed while writing a trial
            sweep_id = (sweep.directory / SWEEP_ID_FILE).read_text().strip()
            if executor is None:
                jobs = jobs or usable_cores()  # the affinity mask and the cgroup quota, not the machine's cores
                executor = LocalWorkers(jobs, max(1, usable_cores() // jobs))
                # started now: they import NumPy and the library while this process imports Optuna
                # and opens the study (a rerun with nothing left to run closes them unused)
                executor.start(sweep.trials)
            try:
                _check_study_file(sweep.directory / STUDY_FILE)
                with study_errors(sweep.directory / STUDY_FILE):
                    study = _open_study(sweep, parallel=(jobs or 2) > 1)
                    return _Driver(sweep, study, executor, sweep_id, events).run()
            finally:
                executor.close()  # within the lock, as the workers finish
                executor = None
    finally:
        if executor is not None:  # connected, but the sweep never started
            executor.close()


class _Driver:
    """Hands the study's trials out to the workers, records what comes back, and stops on a
    signal or on a cause the trials cannot fix."""

    def __init__(self, sweep: Sweep, study: _Study, executor: Workers, sweep_id: str, events: SweepEvents | None) -> None:
        from optuna.trial import TrialState

        self.sweep, self.study, self.executor, self.sweep_id, self.events = sweep, study, executor, sweep_id, events
        trials = _checked_trials(sweep, study)
        self.records = {t.number: _record_of(sweep, t) for t in trials}
        # trials a stopped or killed driver left running: handed out again first, with their parameters
        running = (TrialState.RUNNING, TrialState.WAITING)
        self.orphans = sorted((t for t in trials if t.state in running), key=lambda t: t.number)
        self.to_ask = max(0, sweep.trials - len(trials))
        self.planned = max(sweep.trials, len(trials))
        self.distributions = {p.study_name: p.distribution() for p in sweep.params}
        self.in_flight: set[int] = set()  # trial numbers
        # the next new trial, asked of the sampler while the workers train, so that a worker that
        # finishes gets it at once (the sampler's ask and the study's tell take about 50 ms a trial);
        # a sweep stopped before handing it out leaves it running in the study, to be handed out again
        self.asked_ahead: Any = None
        self.stop = _Stop(executor)
        self.bad_input: list[str] = []
        self.noted: set[str] = set()  # the trials' stderr lines shown so far: each once

    def run(self) -> SweepOutcome:
        self.executor.start(len(self.orphans) + self.to_ask)
        if self.events:
            self.events.begin(self.sweep, self.records, self.planned)
        # sweep.png is drawn at the end: matplotlib (a third of a second) is imported meanwhile,
        # while this process only waits for the trials
        importing = threading.Thread(target=pyplot, name="dnn-sweep-import-matplotlib", daemon=True)
        with self.stop.installed():
            while True:
                self._hand_out()
                if importing.ident is None:  # once the first trials are out
                    importing.start()
                if not self.in_flight:
                    break
                self._ask_ahead()
                for result in self.executor.wait(0.25):
                    self.in_flight.discard(result.number)
                    if result.state == "complete":
                        self._hand_out()  # the freed worker trains on while its result is recorded
                    self._receive(result)
                if not self.in_flight and self.stop:
                    break
        if self.events:
            self.events.end()
        if importing.ident is not None:
            importing.join()
        return self._finish()

    def _hand_out(self) -> None:
        """Trials to every free worker: the interrupted ones first, then new ones from the sampler."""
        while not self.stop and len(self.in_flight) < max(1, self.executor.capacity()):
            if self.orphans:
                frozen = self.orphans.pop(0)
                self._dispatch(frozen.number, frozen.params)
            elif self.asked_ahead is not None:
                trial, self.asked_ahead = self.asked_ahead, None
                self._dispatch(trial.number, trial.params)
            elif self.to_ask > 0:
                trial = self.study.study.ask(self.distributions)
                self.to_ask -= 1
                self._dispatch(trial.number, trial.params)
            else:
                break
            if self.executor.capacity() == 0:
                break  # a cluster with no worker yet: wait for one

    def _ask_ahead(self) -> None:
        """The next new trial asked now, while every worker is busy, if one is still to be asked."""
        if self.asked_ahead is None and self.to_ask > 0 and not self.stop and not self.orphans:
            self.asked_ahead = self.study.study.ask(self.distributions)
            self.to_ask -= 1

    def _dispatch(self, number: int, params: dict[str, Any]) -> None:
        sweep = self.sweep
        values = sweep.config_values(params)
        raw, overrides = sweep.trial_raw(values, number)
        record = TrialRecord(number, "running", values, str(sweep.directory / "trials" / str(number)))
        self.executor.submit(TrialRequest(
            number=number, trial_dir=Path(record.run_dir).resolve(), config=raw, overrides=[*sweep.fixed, *overrides],
            metric=sweep.metric, goal=sweep.goal, pruner=sweep.pruner, finished=self._finished_trials(),
            dnn_version=__version__, sweep_dir=sweep.directory.resolve(), sweep_id=self.sweep_id, seeds=sweep.seeds,
        ))
        self.in_flight.add(number)
        self.records[number] = record
        if self.events:
            self.events.started(record)

    def _finished_trials(self) -> list[Any]:
        """The study's finished trials, which a trial's pruner compares it with (none without one)."""
        from optuna.trial import TrialState

        if self.sweep.pruner == "none":
            return []
        return self.study.study.get_trials(deepcopy=True, states=(TrialState.COMPLETE, TrialState.PRUNED))

    def _receive(self, result: TrialResult) -> None:
        number = result.number
        self.in_flight.discard(number)
        record = _tell(self.study, self.sweep, self.records[number], result)
        for line in result.notes:
            if line not in self.noted and self.events:
                self.events.note(line)
            self.noted.add(line)
        if self.events:
            self.events.finished(record)
        if result.state in ("busy", "refused"):
            # not the trial's fault (its directory in use, a worker that cannot run it): it stays
            # to be run again, and the sweep stops to let the cause be fixed
            self._stop_for(f"trial {number}: {record.error}")
        elif record.state == "failed" and result.exit_code == EXIT_BAD_INPUT and not any(
            r.state == "complete" for r in self.records.values()
        ):
            self.bad_input.append(f"trial {number}: {record.error}")
            if len(self.bad_input) >= BAD_INPUT_LIMIT:
                self._stop_for(self.bad_input[-1])
        results.write_csv(self.sweep, self.records)

    def _stop_for(self, error: str) -> None:
        if not self.stop:
            self.stop.error = error
            self.executor.interrupt()

    def _finish(self) -> SweepOutcome:
        """The results written; the outcome, or the reason the sweep stopped raised."""
        sweep, stop = self.sweep, self.stop
        ordered = [self.records[n] for n in sorted(self.records)]
        best = results.best_record(sweep, ordered)
        importance = parameter_importance(self.study.study, sweep)
        files = results.write_all(sweep, ordered, best, importance)
        drawn = write_scale(sweep, ordered)
        if drawn is not None:
            files.append(drawn[0])
        if stop.error is not None:
            raise DnnError(f"{stop.error} (the sweep stopped; fix the cause, then rerun the same command)")
        if stop.signum is not None:
            name = signal.Signals(stop.signum).name
            done = sum(r.state in ("complete", "pruned", "failed") for r in ordered)
            left = sweep.trials - done
            raise Interrupted(
                f"sweep interrupted by {name}: {done} of {sweep.trials} trials finished, {left} left "
                f"(interrupted trials resume from their checkpoints); continue with the same command",
                exit_code=EXIT_SIGINT if stop.signum == signal.SIGINT else EXIT_SIGTERM,
            )
        failed = [r for r in ordered if r.state == "failed"]
        if ordered and len(failed) == len(ordered):
            raise DnnError(
                f"every one of the {len(ordered)} trials failed (trial {failed[0].number}: {failed[0].error}); "
                f"each trial's error is in {sweep.directory / 'results.csv'}", exit_code=EXIT_RUNTIME,
            )
        return SweepOutcome(sweep, ordered, best, files, importance)


def _record_seeds(storage: Any, trial_id: int, record: TrialRecord, values: list[Any], costs: list[Any]) -> None:
    """A complete trial's metric: the mean over its seeds, their spread, and the mean validation
    cost that breaks ties; kept in the study, so that a rerun shows them again."""
    record.value = float(np.mean(values))
    record.val_cost = float(np.mean(costs)) if all(_finite(c) for c in costs) else None
    if len(values) > 1:
        record.seed_values, record.spread = [float(v) for v in values], float(np.std(values))
        storage.set_trial_user_attr(trial_id, "seed_values", record.seed_values)
        storage.set_trial_user_attr(trial_id, "spread", record.spread)
    if record.val_cost is not None:
        storage.set_trial_user_attr(trial_id, "val_cost", record.val_cost)


def parameter_importance(study: Any, sweep: Sweep) -> dict[str, float]:
    """Optuna's importance of each swept key for the metric (its default evaluator), by config
    key, most important first; empty when it cannot tell (fewer than two complete trials, one
    parameter, every value alike)."""
    import optuna

    from optuna.trial import TrialState

    if len(sweep.params) < 2 or len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return {}
    keys = {p.study_name: p.key for p in sweep.params}
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}
    return {keys.get(name, name): round(float(value), 6) for name, value in found.items() if math.isfinite(value)}


def _tell(study: _Study, sweep: Sweep, record: TrialRecord, result: TrialResult) -> TrialRecord:
    """Record a worker's result in the study; the trial's record as the results show it."""
    from optuna.trial import TrialState

    storage, trial_id, number = study.storage, study.trial_id(record.number), record.number
    known_steps = set(storage.get_trial(trial_id).intermediate_values)
    for step, value in result.reports:
        if step not in known_steps:
            storage.set_trial_intermediate_value(trial_id, step, value)
    for key, value in result.system_attrs.items():
        if key.startswith("completed_rung"):
            storage.set_trial_system_attr(trial_id, key, value)
    record.seconds, record.error = result.seconds, result.error
    if result.seconds is not None:
        storage.set_trial_user_attr(trial_id, "seconds", result.seconds)
    state = result.state
    if state == "complete":
        record.metrics = result.metrics
        seeds = result.seed_metrics or [result.metrics or {}]
        values = [m.get(sweep.metric) for m in seeds]
        if all(_finite(v) for v in values):
            _record_seeds(storage, trial_id, record, values, [m.get("val_cost") for m in seeds])
            study.study.tell(number, record.value)
            record.state = "complete"
            return record
        bad = next(v for v in values if not _finite(v))
        state, record.error = "failed", f"{sweep.metric} is {bad!r} in {record.run_dir}/metrics.json"
    if state == "pruned":
        study.study.tell(number, state=TrialState.PRUNED)
        record.state = "pruned"
        record.value = result.reports[-1][1] if result.reports else None
        return record
    if state == "failed":
        storage.set_trial_user_attr(trial_id, "error", record.error)
        study.study.tell(number, state=TrialState.FAIL)
        record.state = "failed"
        return record
    record.state = "interrupted"  # still running in the study: the next run hands it out again
    return record
