"""Opening HDF5 files a user hands us (data sets, model files, checkpoints) without letting them
reach outside themselves or cost more than they are worth.

HDF5 can make a file read *other* files: external raw storage (a dataset whose bytes live in
``/proc/self/environ``), external links (a key that opens another file, or a FIFO that never
answers), virtual datasets (a dataset mapped onto other files' datasets, or onto itself, which
crashes the library). None of them has a use in a dnn file, so :func:`open_hdf5` refuses a file
holding any of them before a byte of data is read, in one line naming the file and the key. It
walks every link without following it (``visit_links``), checks that every soft link resolves
inside the file without looping, and opens only datasets reached through hard links.

Sizes are checked before reading too: a few KB of file can declare terabytes (a shape of never
written chunks), a chunk of 1.6 GB that must be decompressed whole to read one value, or an
attribute far larger than anything dnn writes. :func:`checked_dataset` refuses them against a
byte limit (the memory, or the network that will use the array); :func:`read_attr` and
:func:`json_attr` bound attributes and the JSON in them (size, nesting depth, type).

Every reader of user HDF5 goes through here: :mod:`dnncli.data.hdf5`, :mod:`dnncli.model.file`,
:mod:`dnncli.run.checkpoint`, :mod:`dnncli.model.evaluate`, and ``dnn data inspect`` and ``split``
(:mod:`dnncli.data.inspection`, :mod:`dnncli.data.setfile`), which also list what they walk with
:func:`link_type`, :func:`check_link` and :func:`check_storage`.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from dnncli.errors import DataError, DnnError
from dnncli.terminal.display import printable
from dnncli.compute.resources import describe_bytes, fits_in_memory

# more links than any dnn file has (a data set holds a handful); walking is then bounded too
MAX_LINKS = 100_000
# soft links that lead to soft links: HDF5's own limit on following them is 16
MAX_SOFT_LINK_DEPTH = 16
# reading one value of a chunked dataset decompresses its whole chunk: h5py makes chunks of at
# most 1 MiB, so 64 MiB is generous for any honest file
MAX_CHUNK_BYTES = 64 * 1024**2
# compression past this ratio (gzip tops out near 1000:1) only comes from constant filler: a bomb
MAX_EXPANSION = 2000
# arrays smaller than this are not worth a ratio check (a few zeros compress very well)
EXPANSION_FLOOR_BYTES = 16 * 1024**2
# JSON and text attributes: dnn writes a few KB (configs are limited to 1 MB)
MAX_ATTR_BYTES = 4 * 1024**2
MAX_JSON_DEPTH = 32


@contextlib.contextmanager
def open_hdf5(
    path: str | Path, error: type[DnnError], what: str = "HDF5 file", corrupt: str = "cannot read HDF5 data"
) -> Iterator[Any]:
    """``h5py.File(path, "r")``, audited first: no external links, external storage, virtual
    datasets or looping soft links anywhere in it. Errors are ``error`` naming ``path``; ``what``
    names the kind of file ("data file"), ``corrupt`` says what a file HDF5 cannot read is."""
    f = open_audited(path, error, what, corrupt)
    try:
        yield f
    finally:
        f.close()


def open_audited(
    path: str | Path, error: type[DnnError], what: str = "HDF5 file", corrupt: str = "cannot read HDF5 data"
) -> Any:
    """:func:`open_hdf5` without the context manager: the caller closes the file."""
    import h5py

    path = Path(path)
    check_regular_file(path, error, what)
    try:
        f = h5py.File(path, "r")
    except (OSError, RuntimeError, ValueError) as exc:
        raise error(f"{path}: {corrupt} ({_first_line(exc)})") from None
    try:
        audit(f, path, error, corrupt)
    except BaseException:
        f.close()
        raise
    return f


def check_regular_file(path: Path, error: type[DnnError], what: str) -> None:
    """A readable, non-empty regular file holding HDF5 (a FIFO or a device is never opened)."""
    import stat

    import h5py

    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a directory, expected an HDF5 file")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: is not a regular file (a pipe or a device), expected an HDF5 file")
    if info.st_size == 0:
        raise error(f"{path}: is empty (0 bytes), expected an HDF5 file")
    try:
        is_hdf5 = h5py.is_hdf5(str(path))
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or _first_line(exc)}") from None
    if not is_hdf5:
        raise error(f"{path}: not an HDF5 file")


def audit(f: Any, path: Path, error: type[DnnError], corrupt: str = "cannot read HDF5 data") -> None:
    """Refuse a file that reaches outside itself, with one line naming the key."""
    import h5py

    problem: list[str] = []
    count = 0

    # the callback stops the walk by returning something (an exception raised inside HDF5's
    # iteration would not cross it cleanly)
    def visit(name: str) -> bool | None:
        try:
            return inspect(name)
        except Exception as exc:  # noqa: BLE001 - never raised through HDF5's C iteration
            problem.append(f"{printable(path)}: '{printable(name)}' cannot be read ({_first_line(exc)})")
            return True

    def inspect(name: str) -> bool | None:
        nonlocal count
        count += 1
        if count > MAX_LINKS:
            problem.append(f"{printable(path)}: holds more than {MAX_LINKS} links; not a file dnn reads")
            return True
        try:
            link = f.get(name, getlink=True)
        except (TypeError, KeyError, OSError, RuntimeError, ValueError):
            link = None
        if isinstance(link, h5py.ExternalLink):
            problem.append(external_link_message(path, name, link.path, link.filename))
        elif isinstance(link, h5py.SoftLink):
            reason = _soft_link_problem(f, name, link.path)
            if reason:
                problem.append(f"{printable(path)}: '{printable(name)}' is a soft link that {reason}")
        elif isinstance(link, h5py.HardLink):
            node = f[name]  # every component of a visited name is a hard link: nothing is followed
            if isinstance(node, h5py.Dataset):
                message = storage_problem(node, path)
                if message:
                    problem.append(message)
        else:
            problem.append(f"{printable(path)}: '{printable(name)}' is a link of a kind dnn does not read")
        return True if problem else None

    try:
        f.visit_links(visit)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise error(f"{printable(path)}: {corrupt} ({_first_line(exc)})") from None
    if problem:
        raise error(problem[0])


# ---- one link or one dataset, checked without following it ------------------------------------
# (what the audit applies to every link; `dnn data inspect` applies them while it lists a file)

_OUTSIDE = "refused: dnn reads only data held in the file itself"


def external_link_message(path: Path, name: str, target: str, filename: str) -> str:
    return (
        f"{printable(path)}: '{printable(name)}' is a link to '{printable(target)}' in the file "
        f"'{printable(filename)}'; {_OUTSIDE}"
    )


def storage_problem(dataset: Any, path: Path) -> str | None:
    """Why a dataset's values are not in the file (external or virtual storage), or None."""
    name = printable(dataset.name or "?")
    if dataset.is_virtual:
        return f"{printable(path)}: '{name}' is a virtual dataset assembled from other files; {_OUTSIDE}"
    if dataset.external:
        files = ", ".join(sorted({printable(str(entry[0])) for entry in dataset.external}))
        return f"{printable(path)}: '{name}' stores its values in other files ({files}); {_OUTSIDE}"
    return None


def link_type(group: Any, name: str) -> int | None:
    """The kind of the link ``name`` in ``group`` (``h5py.h5l.TYPE_HARD``, ``TYPE_SOFT``,
    ``TYPE_EXTERNAL``), or None if there is none: asked of the link itself, never followed
    (``name in group`` would open an external link's file to see whether its target exists)."""
    encoded = name.encode("utf-8", "surrogateescape")
    if not group.id.links.exists(encoded):
        return None
    return group.id.links.get_info(encoded).type


def check_link(group: Any, name: str, path: Path, error: type[DnnError] = DataError) -> None:
    """Refuse ``name`` in ``group`` if it is a link into another file (checked without following it)."""
    from h5py import h5l

    if link_type(group, name) == h5l.TYPE_EXTERNAL:
        filename, target = group.id.links.get_val(name.encode("utf-8", "surrogateescape"))
        raise error(external_link_message(path, name, target.decode("utf-8", "replace"), filename.decode("utf-8", "replace")))


def check_storage(dataset: Any, path: Path, error: type[DnnError] = DataError) -> None:
    """Refuse a dataset whose values are stored in other files (external or virtual storage)."""
    message = storage_problem(dataset, path)
    if message:
        raise error(message)


def _soft_link_problem(f: Any, name: str, target: str) -> str | None:
    """Why the soft link ``name`` -> ``target`` is unsafe to follow (None: it resolves inside the
    file to an object reached by hard links, or to nothing at all)."""
    import h5py

    seen: set[str] = set()
    start = target if target.startswith("/") else posixpath.join("/", posixpath.dirname(name), target)
    pending = [p for p in start.split("/") if p not in ("", ".")]
    hard = "/"
    depth = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            return f"points at '{target}' ('..' is not an HDF5 path)"
        group = f[hard]
        if not isinstance(group, h5py.Group):
            return None  # leads through a dataset: resolves to nothing
        try:
            link = group.get(part, getlink=True)
        except (TypeError, KeyError, OSError, RuntimeError, ValueError):
            return f"points at '{target}' through a link dnn does not read"
        if link is None:
            return None  # dangling: reading it finds nothing, as for a missing key
        if isinstance(link, h5py.ExternalLink):
            return f"leads to an external link ('{target}')"
        if isinstance(link, h5py.SoftLink):
            key = posixpath.join(hard, part)
            depth += 1
            if key in seen or depth > MAX_SOFT_LINK_DEPTH:
                return f"loops ('{target}')"
            seen.add(key)
            nxt = link.path if link.path.startswith("/") else posixpath.join(hard, link.path)
            pending = [p for p in nxt.split("/") if p not in ("", ".")] + pending
            hard = "/"
            continue
        hard = posixpath.join(hard, part)
    return None


def dataset_bytes(node: Any) -> int:
    """What reading ``node`` whole allocates, from its declared shape (exact, in Python ints)."""
    return int(np.prod(node.shape or (), dtype=object)) * node.dtype.itemsize


def checked_dataset(
    f: Any, key: str, path: Path, error: type[DnnError], *, max_bytes: int | None = None, what: str = "dataset"
) -> Any:
    """The ``h5py.Dataset`` at ``key``, its declared size, chunk shape and stored bytes checked
    against ``max_bytes`` (default: this machine's memory) before anything is read."""
    import h5py

    node = f.get(key)
    if node is None:
        keys = ", ".join(sorted(f.keys())) or "none"
        raise error(f"{path}: no {what} '{key}' (keys there: {keys})")
    if not isinstance(node, h5py.Dataset):
        raise error(f"{path}: '{key}' is a group, expected an array")
    check_dataset_size(node, key, path, error, max_bytes)
    return node


def check_dataset_size(node: Any, key: str, path: Path, error: type[DnnError], max_bytes: int | None = None) -> None:
    n_bytes = dataset_bytes(node)
    limit_text = "this machine's memory"
    if max_bytes is not None and n_bytes > max_bytes:
        raise error(
            f"{path}: '{key}' declares shape {node.shape} ({describe_bytes(n_bytes)} of {node.dtype}), "
            f"more than the {describe_bytes(max_bytes)} expected"
        )
    if not fits_in_memory(n_bytes):
        raise error(
            f"{path}: '{key}' has shape {node.shape} ({describe_bytes(n_bytes)} of {node.dtype}), "
            f"more than {limit_text}"
        )
    check_dataset_storage(node, key, path, error)


def check_dataset_storage(node: Any, key: str, path: Path, error: type[DnnError] = DataError) -> None:
    """Refuse storage that costs far more to read than it holds: a chunk too large to decompress
    for one value, data never written, compression only constant filler reaches. Every reader
    applies it, ``dnn data inspect`` too (which, unlike training, reads arrays larger than memory
    a slab at a time, so it skips the memory check of :func:`check_dataset_size`)."""
    n_bytes = dataset_bytes(node)
    if node.chunks is not None:
        chunk_bytes = int(np.prod(node.chunks, dtype=object)) * node.dtype.itemsize
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise error(
                f"{path}: '{key}' is stored in chunks of shape {node.chunks} ({describe_bytes(chunk_bytes)} "
                f"each, to decompress whole for any read); at most {describe_bytes(MAX_CHUNK_BYTES)} is accepted"
            )
    if n_bytes == 0:
        return
    stored = node.id.get_storage_size()
    if stored == 0:
        raise error(
            f"{path}: '{key}' declares shape {node.shape} but none of its data was ever written"
        )
    if n_bytes > EXPANSION_FLOOR_BYTES and n_bytes > MAX_EXPANSION * stored:
        raise error(
            f"{path}: '{key}' declares {describe_bytes(n_bytes)} in {stored:,} stored bytes "
            f"(compressed more than {MAX_EXPANSION}:1): refused as a decompression bomb"
        )


# ---- attributes ------------------------------------------------------------------------------


def read_attr(
    obj: Any, name: str, path: Path, error: type[DnnError], default: Any = None, *, max_bytes: int = MAX_ATTR_BYTES
) -> Any:
    """The attribute ``name`` of ``obj`` (``default`` if absent), its size bounded before and after
    reading (variable-length strings can only be measured once read: they are bounded by the
    file's size)."""
    import h5py

    if name not in obj.attrs:
        return default
    try:
        aid = h5py.h5a.open(obj.id, name.encode())
        declared = int(np.prod(aid.shape or (), dtype=object)) * aid.dtype.itemsize
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise error(f"{path}: cannot read the attribute '{name}': {_first_line(exc)}") from None
    if declared > max_bytes:
        raise error(f"{path}: the attribute '{name}' declares {describe_bytes(declared)}, more than any dnn file holds")
    value = obj.attrs[name]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    size = len(value) if isinstance(value, str) else getattr(value, "nbytes", 0)
    if size > max_bytes:
        raise error(f"{path}: the attribute '{name}' holds {describe_bytes(size)}, more than any dnn file holds")
    return value


def json_attr(
    obj: Any, name: str, path: Path, error: type[DnnError], default: str, expected: type | tuple[type, ...]
) -> Any:
    """A JSON attribute parsed and checked: bounded size and nesting, of the ``expected`` type."""
    text = read_attr(obj, name, path, error, default)
    if not isinstance(text, str):
        raise error(f"{path}: the attribute '{name}' is not text (JSON expected)")
    return parse_json(text, f"{path}: the attribute '{name}'", error, expected)


def parse_json(text: str, where: str, error: type[DnnError], expected: type | tuple[type, ...]) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        raise error(f"{where} is nested too deeply to be dnn's") from None
    except ValueError as exc:
        raise error(f"{where} is not valid JSON ({_first_line(exc)})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise error(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")
    if not isinstance(value, expected):
        names = " or ".join(t.__name__ if t is not type(None) else "null" for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise error(f"{where} holds a {type(value).__name__ if value is not None else 'null'}, expected a {names}")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (the parser itself bounds it)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                return level
            stack.extend((child, level + 1) for child in item)
    return deepest


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
