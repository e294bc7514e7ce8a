"""Folders of images: which files, in which class, in which order.

A folder with subfolders is a labelled set: one class per subfolder (``photos/cat``,
``photos/non-cat``), its name the folder's name exactly as it is on disk, classes in sorted order
unless chosen with ``classes``. Every file under a class folder counts, at any depth; hidden files
and folders (a leading ``.``) are passed over. A folder without subfolders holds unlabelled
examples. Examples come class by class, and within a class in the order of their paths.

Nothing here trusts the tree: a symbolic link (a class folder, a folder or a file) that resolves
outside the folder given is not followed unless asked (``follow_links``, ``--follow-links``);
symbolic links to folders inside it are followed but no folder is entered twice (a link back up is reported, not looped through), links that lead nowhere and things that
are not regular files (pipes, sockets, devices) are reported instead of opened, and a folder that
cannot be listed is reported. Names are kept as given; messages show them through
:func:`dnncli.terminal.display.printable`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dnncli.errors import DataError
from dnncli.terminal.display import printable

# the "keys" of a folder of images (one subfolder per class), as a data file's keys are named in
# messages and records: its pictures and its folder names
FOLDER_KEYS = ("(images)", "(folder names)")

@dataclass
class ImageFolder:
    """The files of a folder to import, with their class when the folder has class folders."""

    root: Path
    files: list[Path]
    labels: np.ndarray | None  # class index of each file; None: unlabelled
    classes: list[str] | None
    # one message per file or folder passed over (not a regular file, a loop, unreadable)
    passed_over: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things worth a warning that are not files

    def relative_paths(self) -> list[str]:
        return [os.path.relpath(path, self.root) for path in self.files]


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _folder_id(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


FOLLOW_HINT = "not followed (--follow-links follows it; in a config, data.follow_links: true)"


def link_outside(path: Path, inside: str | None) -> str | None:
    """Where the symbolic link ``path`` leads when that is outside the real folder ``inside``
    (None: links are followed anywhere, or ``path`` is no link or stays inside)."""
    if inside is None or not os.path.islink(path):
        return None
    real = os.path.realpath(path)
    if real == inside or real.startswith(inside.rstrip(os.sep) + os.sep):
        return None
    return real


def _files_under(
    folder: Path, visited: set[tuple[int, int]], passed_over: list[str], inside: str | None = None
) -> list[Path]:
    """Every regular, non-hidden file under ``folder``, each folder entered once (no recursion:
    a tree thousands of folders deep is walked as easily as a flat one); links out of the real
    folder ``inside`` are passed over (None: followed)."""
    found: list[Path] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda entry: entry.name)
        except OSError as exc:
            passed_over.append(f"{printable(current)}: cannot list the folder: {printable(exc.strerror or str(exc))}")
            continue
        for entry in entries:
            if _is_hidden(entry.name):
                continue
            path = Path(entry.path)
            try:
                info = os.stat(path)  # follows links; a loop or a dangling link raises
            except OSError as exc:
                if entry.is_symlink():
                    passed_over.append(f"{printable(path)}: a symbolic link that leads nowhere (dangling, or a loop)")
                else:
                    passed_over.append(f"{printable(path)}: cannot read: {printable(exc.strerror or str(exc))}")
                continue
            outside = link_outside(path, inside) if entry.is_symlink() else None
            if outside is not None:
                passed_over.append(f"{printable(path)}: a link out of the folder (to {printable(outside)}); {FOLLOW_HINT}")
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in visited:
                    passed_over.append(f"{printable(path)}: a link to a folder already visited (a loop); not followed")
                    continue
                visited.add(key)
                pending.append(path)
            elif stat.S_ISREG(info.st_mode):
                found.append(path)
            else:
                passed_over.append(f"{printable(path)}: not a regular file (a pipe, socket or device)")
    return sorted(found, key=lambda path: path.parts)


def _class_folders(root: Path) -> tuple[list[str], list[str]]:
    """Names of the (non-hidden) subfolders of ``root``, and of its other entries."""
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError as exc:
        raise DataError(f"{printable(root)}: cannot list the folder: {printable(exc.strerror or str(exc))}") from None
    folders, others = [], []
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        try:
            is_dir = entry.is_dir()  # follows links
        except OSError:
            is_dir = False
        (folders if is_dir else others).append(entry.name)
    return folders, others


def show_names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(f"'{printable(name)}'" for name in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def scan_folder(
    root: str | Path, classes: list[str] | None = None, *, fixed_classes: bool = False, follow_links: bool = False
) -> ImageFolder:
    """The files to import from ``root`` and their classes; a DataError for a folder that cannot
    make a data set (missing, empty, one class, an empty class folder, unknown ``classes``).

    ``fixed_classes``: ``classes`` are the labels of a model or of a training set, and the folder
    holds examples of some of them (a test set, an evaluation): folders of other names are an
    error, and missing, empty or single class folders are fine. ``follow_links``: follow
    symbolic links that lead out of ``root`` (by default they are passed over, named)."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{printable(root)}: no such folder")
    if not root.is_dir():
        raise DataError(f"{printable(root)}: not a folder (expected a folder of images, or of class folders)")
    folders, others = _class_folders(root)
    visited = {key for key in [_folder_id(root)] if key is not None}
    inside = None if follow_links else os.path.realpath(root)
    passed_over: list[str] = []
    notes: list[str] = []
    if not folders:
        files = _unlabelled_files(root, classes, fixed_classes, visited, passed_over, inside)
        return ImageFolder(root, files, None, None, passed_over, notes)
    chosen = _chosen_classes(root, folders, classes, fixed_classes, notes)
    if others:
        notes.append(
            f"{printable(root)}: {len(others)} file(s) beside the class folders are not imported "
            f"({show_names(others, 3)})"
        )
    files, labels = _labelled_files(root, chosen, folders, fixed_classes, visited, passed_over, inside)
    return ImageFolder(root, files, labels, chosen, passed_over, notes)


def _unlabelled_files(
    root: Path, classes: list[str] | None, fixed_classes: bool, visited: set[tuple[int, int]], passed_over: list[str],
    inside: str | None,
) -> list[Path]:
    """The files of a folder without class folders, which is fine only when no class is asked for."""
    if fixed_classes:
        raise DataError(
            f"{printable(root)}: no class folders; labelled examples need one subfolder per class"
            + (f" ({show_names(classes)})" if classes else "")
        )
    if classes:
        raise DataError(f"{printable(root)}: --classes needs one folder per class, and this folder has no subfolders")
    files = _files_under(root, visited, passed_over, inside)
    if not files:
        raise DataError(f"{printable(root)}: no files to import (hidden files are not imported)")
    return files


def _chosen_classes(
    root: Path, folders: list[str], classes: list[str] | None, fixed_classes: bool, notes: list[str]
) -> list[str]:
    """The classes, in label order: the fixed ``classes`` (every folder one of them), those
    chosen with --classes (each a folder), or every class folder (at least two)."""
    if fixed_classes and classes is not None:
        unknown = [name for name in folders if name not in classes]
        if unknown:
            raise DataError(
                f"{printable(root)}: the folder {show_names(unknown[:1])} is not one of the classes "
                f"{show_names(classes)}; its examples could not be labelled"
            )
    elif classes is not None:
        duplicates = sorted({name for name in classes if classes.count(name) > 1})
        if duplicates:
            raise DataError(f"--classes names {show_names(duplicates)} more than once")
        missing = [name for name in classes if name not in folders]
        if missing:
            raise DataError(
                f"{printable(root)}: no class folder {show_names(missing)} (its class folders: {show_names(folders)})"
            )
        left_out = [name for name in folders if name not in classes]
        if left_out:
            notes.append(f"{printable(root)}: folders not in --classes are not imported: {show_names(left_out)}")
    if fixed_classes:
        return list(classes or folders)
    chosen = list(classes) if classes is not None else folders
    if len(chosen) < 2:
        raise DataError(
            f"{printable(root)}: only one class folder ({show_names(chosen)}); a labelled set needs at "
            "least two (a folder of images without subfolders imports them unlabelled)"
        )
    return chosen


def _labelled_files(
    root: Path, chosen: list[str], folders: list[str], fixed_classes: bool,
    visited: set[tuple[int, int]], passed_over: list[str], inside: str | None,
) -> tuple[list[Path], np.ndarray]:
    """The files of each chosen class folder, class by class, and their class indices."""
    files, labels = [], []
    for index, name in enumerate(chosen):
        folder = root / name
        if fixed_classes and name not in folders:
            continue  # no examples of this class here
        outside = link_outside(folder, inside)
        if outside is not None:
            raise DataError(
                f"{printable(folder)}: the class folder '{printable(name)}' is a link out of the folder (to "
                f"{printable(outside)}); {FOLLOW_HINT}"
            )
        key = _folder_id(folder)
        if key is not None and key in visited:
            raise DataError(f"{printable(folder)}: the class folder '{printable(name)}' is a link to a folder already imported")
        if key is not None:
            visited.add(key)
        found = _files_under(folder, visited, passed_over, inside)
        if not found and not fixed_classes:
            raise DataError(
                f"{printable(folder)}: the class folder '{printable(name)}' holds no files; add images, "
                "remove it, or choose the classes with --classes"
            )
        files += found
        labels += [index] * len(found)
    if not files:
        raise DataError(f"{printable(root)}: no files to import in its class folders")
    return files, np.asarray(labels, dtype=np.int64)
