"""HDF5 files that reach outside themselves are refused before any data is read.

An HDF5 file can hold a link to an object in another file (an external link), a dataset whose
bytes live in other files (external storage), or a dataset assembled from other files' datasets
(a virtual dataset). Reading such a file reads whatever those other paths hold: ``/etc/shadow``,
a device, a file that changes under the reader. dnn reads data held in the file itself only.
"""

from __future__ import annotations

from pathlib import Path

from dnncli.errors import DataError
from dnncli.printable import printable


def link_type(group, name: str) -> int | None:  # group: h5py.Group
    """The kind of the link ``name`` in ``group`` (``h5py.h5l.TYPE_HARD``, ``TYPE_SOFT``,
    ``TYPE_EXTERNAL``), or None if there is none: asked of the link itself, never followed
    (``name in group`` would open an external link's file to see whether its target exists)."""
    encoded = name.encode("utf-8", "surrogateescape")
    if not group.id.links.exists(encoded):
        return None
    return group.id.links.get_info(encoded).type


def check_link(group, name: str, path: Path) -> None:  # group: h5py.Group
    """Refuse ``name`` in ``group`` if it is a link into another file (checked without following it)."""
    from h5py import h5l

    if link_type(group, name) == h5l.TYPE_EXTERNAL:
        filename, target = group.id.links.get_val(name.encode("utf-8", "surrogateescape"))
        raise DataError(
            f"{printable(path)}: '{printable(name)}' is a link to '{printable(target.decode('utf-8', 'replace'))}' "
            f"in the file '{printable(filename.decode('utf-8', 'replace'))}'; refused: dnn reads only data "
            "held in the file itself"
        )


def check_storage(dataset, path: Path) -> None:  # dataset: h5py.Dataset
    """Refuse a dataset whose values are stored in other files (external or virtual storage)."""
    name = printable(dataset.name or "?")
    if dataset.external:
        files = ", ".join(sorted({printable(str(entry[0])) for entry in dataset.external}))
        raise DataError(
            f"{printable(path)}: '{name}' stores its values in other files ({files}); refused: "
            "dnn reads only data held in the file itself"
        )
    if dataset.is_virtual:
        raise DataError(
            f"{printable(path)}: '{name}' is a virtual dataset assembled from other files; refused: "
            "dnn reads only data held in the file itself"
        )


MAX_SOFT_LINKS = 16  # soft links followed on one path (they may form a cycle)


def checked_dataset(f, key: str, path: Path):  # -> h5py.Dataset | h5py.Group | None
    """``f[key]`` after refusing an external link on the way (soft links are followed, each checked
    the same way) or external / virtual storage; None if there is nothing there."""
    import h5py
    from h5py import h5l

    pending = [part for part in key.split("/") if part]
    group, hops = f, 0
    while pending:
        part = pending.pop(0)
        if not isinstance(group, h5py.Group):
            return None
        kind = link_type(group, part)
        if kind is None:
            return None
        check_link(group, part, path)
        if kind == h5l.TYPE_SOFT:
            hops += 1
            if hops > MAX_SOFT_LINKS:
                raise DataError(f"{printable(path)}: '{printable(key)}' goes through more than {MAX_SOFT_LINKS} soft links (a cycle?)")
            target = group.id.links.get_val(part.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")
            if target.startswith("/"):
                group = f
            pending = [piece for piece in target.split("/") if piece] + pending
            continue
        group = group.get(part)
    if isinstance(group, h5py.Dataset):
        check_storage(group, path)
    return group
