"""Run directories: where a run goes (``runs/<name>``, numbered if taken), the ``<name>.partial``
directory it is written in and its lock, and the ``latest`` symlink.

A run of ``runs/<name>/`` lives in ``runs/<name>.partial/`` until it is complete:

* it is created with ``mkdir`` (which fails if it exists) and locked with ``flock`` on
  ``.partial/.lock`` (the lock file holds the owner's pid, for the message a second run prints);
* training writes its checkpoints there (``checkpoint.h5``), each written atomically;
* a finished run is renamed to ``runs/<name>/`` in one step; an interrupted or diverged run stays
  ``.partial`` with its partial outputs, for ``dnn train --resume`` or for inspection;
* the kernel releases an ``flock`` when its process dies, so a lock left by a killed run is never
  mistaken for a live one (a stale lock file is simply re-locked).

Two runs never write the same directory: the second refuses (or, when the name was chosen
automatically, takes the next free name). A ``latest`` symlink beside a finished run points at the
newest one, for the commands that follow.

Nothing is deleted or replaced that dnn did not make: ``--force`` replaces only a recognisable run
directory (:func:`run_directory_problem`: a finished run's ``model.h5``, ``metrics.json`` and
``config.yaml``, or an unfinished run's ``.lock``, and no file a run does not write), and
``latest`` is replaced only when it is a symlink to a sibling's name, as dnn makes it. A
``.partial`` directory gets its ``config.yaml`` before it appears under its name (it is written in
the temporary directory that is then renamed), so a kill at any moment leaves a directory that
``--resume`` continues, or (only a lock: from an older dnn) one that a new run takes over.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from dnncli.errors import RunDirError, io_failure
from dnncli.files import atomic
from dnncli.files.atomic import make_public
from dnncli.files.lock import LOCK_NAME, RunLock
from dnncli.model.file import LATEST

PARTIAL_SUFFIX = ".partial"
CHECKPOINT_NAME = "checkpoint.h5"
CONFIG_NAME = "config.yaml"
# every file a run directory holds, finished or not
RUN_FILES = frozenset(
    {"model.h5", "history.csv", "loss.png", "metrics.json", CONFIG_NAME, CHECKPOINT_NAME, LOCK_NAME}
)
FINISHED_MARKERS = ("model.h5", "metrics.json", CONFIG_NAME)


def _is_leftover(name: str) -> bool:
    """A temporary file of an atomic write that a kill cut short (``.model.h5.x1y2.h5.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


def run_directory_problem(path: Path, partial: bool = False) -> str | None:
    """Why ``path`` is not a run directory dnn wrote (None: it is one, it may be replaced).

    A finished run holds ``model.h5``, ``metrics.json`` and ``config.yaml``; an unfinished one
    (``partial``) its ``.lock``; neither holds anything a run does not write."""
    if path.is_symlink():
        return "it is a symbolic link"
    if not path.is_dir():
        return "it is not a directory"
    try:
        names = [entry.name for entry in os.scandir(path)]
    except OSError as exc:
        return f"it cannot be listed: {exc.strerror}"
    foreign = sorted(n for n in names if n not in RUN_FILES and not _is_leftover(n))
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        return f"it holds {foreign[0]!r}{more}, which no dnn run writes"
    markers = (LOCK_NAME,) if partial else FINISHED_MARKERS
    missing = [m for m in markers if m not in names]
    if missing:
        return f"it has no {missing[0]}"
    return None


def check_run_name(target: Path) -> None:
    """``latest`` and ``<name>.partial`` are dnn's own names: never a run's."""
    if target.name == LATEST or target.name.endswith(PARTIAL_SUFFIX):
        raise RunDirError(
            f"{target}: '{LATEST}' and names ending in '{PARTIAL_SUFFIX}' are dnn's own (the link to "
            "the newest run, unfinished runs); choose another --run-dir"
        )


def partial_path(target: Path) -> Path:
    return target.parent / f"{target.name}{PARTIAL_SUFFIX}"


def target_of(partial: Path) -> Path:
    return partial.parent / partial.name[: -len(PARTIAL_SUFFIX)]


def find_partial(path: Path) -> Path:
    """The unfinished run ``path`` names: ``runs/x.partial`` itself, or ``runs/x`` for it."""
    path = Path(path)
    if not path.name.endswith(PARTIAL_SUFFIX):
        candidate = partial_path(path)
        if candidate.is_dir():
            return candidate
        if path.is_dir() and (path / "metrics.json").exists():
            raise RunDirError(f"{path}: is a finished run; there is nothing to resume")
        raise RunDirError(f"{path}: no unfinished run here (expected a <name>{PARTIAL_SUFFIX} directory)")
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run directory")
    if not (path / LOCK_NAME).exists():  # every unfinished run has its lock file; a finished one not
        raise RunDirError(f"{path}: has no {LOCK_NAME}, so it is not an unfinished dnn run; there is nothing to resume")
    return path


def _renamed_with_its_config(tmp: Path, path: Path, config_yaml: str | None) -> RunLock | None:
    """``tmp`` locked, given its config and renamed ``path``: the lock, now in ``path``; None when
    ``path`` exists. Whatever stops it first (an error, a signal in a sweep's worker) leaves no
    ``tmp`` behind."""
    lock = None
    renamed = False
    try:
        make_public(tmp)
        lock = RunLock.acquire(tmp)
        if config_yaml is not None:
            atomic.write_text(tmp / CONFIG_NAME, config_yaml)
        try:
            os.rename(tmp, path)  # fails if path exists (a non-empty directory)
            renamed = True
        except OSError:
            return None
    finally:
        if not renamed:
            if lock is not None:
                lock.release()
            shutil.rmtree(tmp, ignore_errors=True)
    lock.path = path / LOCK_NAME
    return lock


@dataclass
class PartialRun:
    """``runs/<name>.partial/``: locked by this process, renamed to ``target`` when complete."""

    path: Path
    target: Path
    lock: RunLock

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_NAME

    @classmethod
    def create(cls, target: Path, force: bool = False, config_yaml: str | None = None) -> "PartialRun":
        """Create and lock ``<target>.partial`` holding ``config_yaml`` as its ``config.yaml``;
        refuse if a live run holds it.

        An unfinished run left by a dead process is kept (it can be resumed) unless ``force``;
        one that holds nothing but its lock (killed before its config was written, by an older
        dnn) is taken over. Anything that is not an unfinished dnn run is never removed.
        """
        path = partial_path(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise io_failure(exc, target.parent, "create the runs directory") from None
        for _ in range(3):
            if path.exists() or path.is_symlink():
                problem = run_directory_problem(path, partial=True)
                if problem is not None:
                    raise RunDirError(
                        f"{path}: exists and is not an unfinished dnn run ({problem}); it is left as it "
                        "is: move it away or choose another --run-dir"
                    )
                lock = RunLock.acquire(path)  # refuses if a live run holds it
                empty = not any(n not in (LOCK_NAME,) and not _is_leftover(n) for n in os.listdir(path))
                if not force and not empty:
                    lock.release()
                    raise RunDirError(
                        f"{path}: holds an unfinished run; resume it with `dnn train --resume {path}` "
                        "or pass --force to discard it"
                    )
                shutil.rmtree(path, ignore_errors=True)
                lock.release()
            # built and locked under a temporary name, then renamed: a visible .partial directory
            # therefore always has a lock file and its config, and two runs cannot both create it
            try:
                tmp = Path(tempfile.mkdtemp(prefix=f".{target.name[:100]}.new-", dir=target.parent))
            except OSError as exc:
                raise io_failure(exc, target.parent, "create the run directory") from None
            lock = _renamed_with_its_config(tmp, path, config_yaml)
            if lock is None:  # path exists (a non-empty directory): look again
                continue
            return cls(path, target, lock)
        raise RunDirError(f"{path}: in use by another dnn train; choose another --run-dir")

    @classmethod
    def reopen(cls, path: Path) -> "PartialRun":
        """Lock an existing unfinished run to resume it."""
        path = find_partial(path)
        lock = RunLock.acquire(path)
        return cls(path, target_of(path), lock)

    def finish(self, force: bool = False) -> Path:
        """Rename the complete run to its target; ``force`` replaces an existing one."""
        (self.path / CHECKPOINT_NAME).unlink(missing_ok=True)
        old = None
        if self.target.exists() or self.target.is_symlink():
            problem = run_directory_problem(self.target) if force else "it appeared while training"
            if problem is not None:
                raise RunDirError(
                    f"{self.target}: exists and is not replaced ({problem}); the run is kept in {self.path}"
                )
            old = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
            os.replace(self.target, old)
        os.replace(self.path, self.target)
        self.lock.path = self.target / LOCK_NAME
        self.lock.release(remove=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target

    def discard(self) -> None:
        """Remove an unfinished run that holds nothing worth keeping."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.lock.release()

    def release(self) -> None:
        """Keep the unfinished run on disk (resumable) and let others take it."""
        self.lock.release()


# ---- choosing the directory, and `latest` ------------------------------------------------------


def choose_run_dir(output_dir: str | Path, name: str, run_dir: str | Path | None, force: bool) -> Path:
    """The directory this run will be renamed into: never an existing one unless ``force``."""
    if run_dir is not None:
        target = Path(run_dir)
        check_run_name(target)
        if (target.exists() or target.is_symlink()) and not force:
            raise RunDirError(f"{target}: already exists; choose another --run-dir or pass --force")
        _check_replaceable(target, force)
        return target
    base = Path(output_dir) / name
    if force:
        _check_replaceable(base, force)
        return base
    if not _name_taken(base):
        return base
    n = 2
    while _name_taken(base.parent / f"{base.name}-{n}"):
        n += 1
    return base.parent / f"{base.name}-{n}"


def _check_replaceable(target: Path, force: bool) -> None:
    """With ``force``, an existing ``target`` must be a run directory dnn wrote."""
    if force and (target.exists() or target.is_symlink()):
        problem = run_directory_problem(target)
        if problem is not None:
            raise RunDirError(
                f"{target}: exists and is not a dnn run directory ({problem}); --force replaces only "
                "a run directory dnn wrote (model.h5, metrics.json, config.yaml): choose another --run-dir"
            )


def _name_taken(target: Path) -> bool:
    # an unfinished run (running, interrupted or killed) keeps its name: it may be resumed
    return target.exists() or target.is_symlink() or partial_path(target).exists()


def open_run_dir(
    output_dir: str | Path, name: str, run_dir: str | Path | None, force: bool, config_yaml: str | None = None
) -> PartialRun:
    """Choose the run's directory and create its locked ``.partial`` twin to train into.

    With an explicit ``run_dir`` a directory in use is refused; with an automatic name a run
    started at the same moment makes this one take the next free number instead.
    """
    for _ in range(100):
        target = choose_run_dir(output_dir, name, run_dir, force)
        try:
            return PartialRun.create(target, force, config_yaml)
        except RunDirError:
            if run_dir is not None or force or not _name_taken(target):
                raise
    raise RunDirError(f"{output_dir}: could not find a free run directory name for {name!r}")


class LatestNotUpdated(UserWarning):
    """``latest`` exists and is not dnn's symlink: it is left alone."""


def latest_is_ours(link: Path) -> bool:
    """``latest`` may be replaced: absent, or a symlink to a sibling's name (as dnn makes it)."""
    if not link.is_symlink():
        return not link.exists()
    target = os.readlink(link)
    return "/" not in target and target not in ("", ".", "..")


def point_latest(run_dir: Path) -> bool:
    """Make ``latest`` beside ``run_dir`` point at it (replaced in one step); False, with a
    warning, when ``latest`` is something dnn did not make (a file, a directory, another link)."""
    link = run_dir.parent / LATEST
    if not latest_is_ours(link):
        warnings.warn(
            f"{link} is not a symlink dnn made; it is left as it is (the run is in {run_dir})",
            LatestNotUpdated,
            stacklevel=2,
        )
        return False
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(run_dir.name, tmp)
    os.replace(tmp, link)
    return True
