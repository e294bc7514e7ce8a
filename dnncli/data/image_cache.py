"""Folders of images wherever a data file goes (``data.train: photos/``, ``dnn evaluate photos/``).

A folder is imported as ``dnn data import`` would, once: the result is cached as an HDF5 file in
``<cache dir>/images/<key>.h5``, where the key is the SHA-256 of everything that went into it
(every file's bytes, path and class; the size, mode and resize; the versions of dnn and Pillow
that decoded them). The same folder is not decoded twice; a file added, removed, renamed, moved
to another class or changed in a single byte gives another key, and the folder is decoded anew.
The cache files are written atomically; a damaged one is decoded again. Nothing removes old
ones: delete the cache folder to reclaim the space.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from dnncli import __version__
from dnncli.data.folders import ImageFolder, scan_folder
from dnncli.data.hdf5 import Dataset, load_dataset
from dnncli.data.image_import import MODES, ImportOptions, decode_folder, file_attributes
from dnncli.data.setfile import recorded_paths, write_set
from dnncli.errors import DataError
from dnncli.files.hdf5safe import open_hdf5
from dnncli.terminal.display import printable

CACHE_VERSION = 1
READ_BLOCK = 1 << 20


def warn_on_stderr(message: str) -> None:
    """Where a training run's skipped files are named: stderr, one line each."""
    sys.stderr.write(f"warning: skipped {message}\n")
    sys.stderr.flush()


def cache_key(folder: ImageFolder, options: ImportOptions, digests: list | None = None) -> str:
    """SHA-256 of the folder's files (bytes, path, class) and of how they are read; ``digests``:
    each file's SHA-256 as it was decoded (None where it could not be read: read again here)."""
    import PIL

    digest = hashlib.sha256()
    header = {
        "cache": CACHE_VERSION, "dnn": __version__, "pillow": PIL.__version__, "size": list(options.size),
        "mode": options.mode, "resize": options.resize, "max_pixels": options.max_pixels, "classes": folder.classes,
    }
    digest.update(json.dumps(header, ensure_ascii=True, sort_keys=True).encode())
    labels = folder.labels if folder.labels is not None else np.full(len(folder.files), -1)
    known = digests if digests is not None else [None] * len(folder.files)
    for path, relative, label, decoded in zip(folder.files, folder.relative_paths(), labels.tolist(), known):
        digest.update(b"\0file\0" + os.fsencode(relative) + b"\0" + str(label).encode() + b"\0")
        if decoded is not None:
            digest.update(decoded)
            continue
        contents = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(READ_BLOCK), b""):
                    contents.update(block)
        except OSError as exc:  # decoding will name it; the key still changes when it is fixed
            digest.update(f"unreadable {exc.errno}".encode())
            continue
        digest.update(contents.digest())
    return digest.hexdigest()


def options_for_shape(shape: tuple[int, ...], resize: str, source: str) -> ImportOptions:
    """How to read a folder into examples of ``shape`` ((h, w) or (h, w, 3)), e.g. a model's."""
    if len(shape) == 2:
        return ImportOptions(size=(shape[0], shape[1]), mode="grayscale", resize=resize)
    if len(shape) == 3 and shape[2] == MODES["rgb"]:
        return ImportOptions(size=(shape[0], shape[1]), mode="rgb", resize=resize)
    raise DataError(
        f"{printable(source)}: a folder of images gives examples of shape (height, width, 3) or "
        f"(height, width), but here they must have the shape {tuple(shape)}"
    )


def load_image_folder(
    path: str | Path,
    options: ImportOptions,
    cache_dir: str | Path,
    *,
    fixed_classes: bool = False,
    stream_over_bytes: int | None = None,
    on_skip: Callable[[str], None] | None = warn_on_stderr,
) -> Dataset:
    """The labelled examples of the folder ``path`` (one subfolder per class), decoded once and
    cached under ``cache_dir``. ``options.classes``: the labels in order (with ``fixed_classes``,
    those of a model or a training set, of which the folder may hold only some). Files that
    cannot be read are named through ``on_skip`` on every call, cached or not."""
    path = Path(path)
    folder = scan_folder(path, options.classes, fixed_classes=fixed_classes, follow_links=options.follow_links)
    if folder.labels is None:
        raise DataError(
            f"{printable(path)}: no class folders; training and evaluation need labelled examples, one "
            "subfolder per class (dnn data import reads a folder of unlabelled images)"
        )
    cached = Path(cache_dir) / "images" / f"{cache_key(folder, options)}.h5"
    for attempt in range(2):
        if not cached.exists():
            decoded = decode_folder(folder, options, every_class=not fixed_classes)
            # stored under the bytes decoded: a file changed since it was hashed above is
            # decoded anew next time, never served from pixels of other bytes
            cached = cached.with_name(f"{cache_key(folder, options, decoded.digests)}.h5")
            attributes = {**file_attributes(options), "skipped": json.dumps(decoded.skipped)}
            write_set(cached, {"train": (decoded.examples, decoded.labels, decoded.relative_paths)}, folder.classes,
                      attributes)
        try:
            dataset = load_dataset(cached, "train_set_x", "train_set_y", "list_classes", stream_over_bytes=stream_over_bytes)
            skipped = _skipped(cached)
            break
        except DataError:
            if attempt:
                raise
            cached.unlink(missing_ok=True)  # damaged: decode again
    if on_skip is not None:
        for message in skipped:
            on_skip(message)
    dataset.source = str(path)
    dataset.classes = folder.classes
    recorded = recorded_paths(cached, "train_set_x", dataset.m)  # relative to the folder
    dataset.paths = [str(path / name) for name in recorded] if recorded is not None else None
    return dataset


def _skipped(cached: Path) -> list[str]:
    with open_hdf5(cached, DataError, what="cache file") as f:
        return json.loads(f.attrs.get("skipped", "[]"))
