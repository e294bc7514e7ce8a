"""``dnn data import``: a folder of images into an HDF5 set in the course's layout.

Every file goes through :func:`dnncli.data.images.load_image`, the function ``dnn predict``
reads images with, so a picture gives the same pixels imported as predicted. The file written::

    train_set_x      (m, height, width, 3) uint8   ((m, height, width) for --mode grayscale)
    train_set_y      (m,) int64                    class indices (labelled folders only)
    list_classes     (k,) bytes                    the class names, UTF-8 (labelled folders only)
    train_set_paths  (m,) bytes                    each example's file, relative to the folder
    test_set_x, test_set_y, test_set_paths         with a test fraction, drawn class by class
    attrs: format = "dnn-images", format_version, tool_version,
           image_size = [height, width], image_mode = "rgb" | "grayscale", image_resize

Examples come class by class, and within a class in the order of their paths. The file is written
beside its target and renamed into place once complete.

Large folders are decoded by a pool of worker processes, one per available core, not threads:
profiled on small PNGs, about four fifths of a file's time is Python (opening, the plugin's
header parsing, EXIF, conversions) that holds the interpreter's lock, so two threads could gain
at most about 1.1x, while the processes split the work evenly (measured on 10,000 64x64 PNGs:
each of two workers spends half the decoding CPU time; the pool costs about 20% more CPU in all,
for starting it and sending the pixels back). See the README's "Speed and memory".
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from dnncli import __version__
from dnncli.data.folders import ImageFolder, scan_folder
from dnncli.data.images import DEFAULT_MAX_PIXELS, DEFAULT_RESIZE, RESIZE_MODES, load_image, read_image_bytes
from dnncli.data.setfile import check_target, write_set
from dnncli.data.splits import stratified_split
from dnncli.errors import DataError, DnnError
from dnncli.terminal.display import printable
from dnncli.compute.resources import describe_bytes, fits_in_memory
from dnncli.compute.threads import capped_jobs

FORMAT = "dnn-images"
FORMAT_VERSION = 1
MODES = {"rgb": 3, "grayscale": None}  # channels of each --mode (grayscale: (h, w) examples)
DEFAULT_SIZE = (64, 64)

# fewer files than this are decoded in this process: a pool costs more to start than it saves
PARALLEL_FROM = 256
CHUNK = 64  # files per task handed to a worker


@dataclass
class ImportOptions:
    # None (dnn data import without --size / --mode): the size / mode every image of the folder
    # shares, else 64x64 / rgb (:func:`folder_options`)
    size: tuple[int, int] | None = DEFAULT_SIZE  # (height, width)
    mode: str | None = "rgb"
    resize: str = DEFAULT_RESIZE
    classes: list[str] | None = None
    test_fraction: float | None = None
    seed: int = 0
    strict: bool = False
    jobs: int | None = None  # worker processes; None: one per available core
    max_pixels: int = DEFAULT_MAX_PIXELS
    backend: str = "processes"  # or "threads" (kept for measuring the choice)
    prefix: str = "train"  # keys of a file without a test fraction: train_set_x or test_set_x
    follow_links: bool = False  # follow symbolic links out of the folder

    def example_shape(self) -> tuple[int, ...]:
        size, mode = self.size or DEFAULT_SIZE, self.mode or "rgb"
        channels = MODES[mode]
        return (*size, channels) if channels else tuple(size)


@dataclass
class ImportResult:
    path: Path
    classes: list[str] | None
    train_counts: list[int]  # examples per class (one entry, all of them, when unlabelled)
    test_counts: list[int] | None
    files: int  # files found
    skipped: list[str] = field(default_factory=list)  # one message per file not imported
    prefix: str = "train"  # the keys of the first set: train_set_x (or test_set_x)

    @property
    def examples(self) -> int:
        return sum(self.train_counts) + sum(self.test_counts or [])

    def as_dict(self) -> dict[str, object]:
        """The summary ``dnn data import --json`` prints."""
        return {
            "path": str(self.path),
            "x": f"{self.prefix}_set_x",
            "classes": self.classes,
            "train_counts": self.train_counts,
            "test_counts": self.test_counts,
            "examples": self.examples,
            "files": self.files,
            "skipped": self.skipped,
        }


def parse_size(text: str) -> tuple[int, int]:
    """``"64x64"`` (height x width) as ``(64, 64)``; a DataError for anything else."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        height, width = (int(part) for part in parts)
    except ValueError:
        raise DataError(f"--size '{printable(text)}': expected HEIGHTxWIDTH, e.g. 64x64") from None
    if not (1 <= height <= 4096 and 1 <= width <= 4096):
        raise DataError(f"--size '{printable(text)}': height and width must be between 1 and 4096 pixels")
    return height, width


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_options(options: ImportOptions) -> None:
    if options.mode is not None and options.mode not in MODES:
        raise DataError(f"--mode '{printable(options.mode)}': expected one of {', '.join(MODES)}")
    if options.resize not in RESIZE_MODES:
        raise DataError(f"--resize '{printable(options.resize)}': expected one of {', '.join(RESIZE_MODES)}")
    if options.test_fraction is not None and not 0 < options.test_fraction < 1:
        raise DataError(f"--test-fraction {options.test_fraction}: expected a number between 0 and 1 (excluded)")
    if options.prefix not in ("train", "test"):
        raise DataError(f"--prefix '{printable(options.prefix)}': expected train or test")
    if options.prefix == "test" and options.test_fraction is not None:
        raise DataError("--prefix test writes a test file; it cannot also take --test-fraction")


# ---- the folder's own size and mode ----------------------------------------------------------

# Pillow's modes that hold one value per pixel: read as grayscale, the others (RGB, RGBA, P, CMYK,
# ...) as rgb
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _headers(files: list[Path]) -> tuple[set[tuple[int, int]], set[str]]:
    """The (height, width) sizes and rgb / grayscale modes of the files' headers (unreadable files
    are left out here: decoding names them)."""
    import warnings

    from PIL import Image

    sizes, modes = set(), set()
    for file in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(file) as image:
                    sizes.add((image.size[1], image.size[0]))
                    modes.add("grayscale" if image.mode in _GRAY_MODES else "rgb")
        except Exception:  # a hostile header can raise anything; decoding reports the file
            continue
    return sizes, modes


def folder_options(files: list[Path], options: ImportOptions, on_choice: Callable[[str], None] | None = None) -> ImportOptions:
    """``options`` with the size and mode left open (None) decided: the one every image shares,
    kept as it is (a size only up to 64x64's pixels: large photos would make huge inputs), else
    64x64 and rgb; then one line to ``on_choice`` says how the images are changed, and how to
    choose."""
    if options.size is not None and options.mode is not None:
        return options
    sizes, modes = _headers(files)
    shared = next(iter(sizes)) if len(sizes) == 1 else None
    small = shared is not None and shared[0] * shared[1] <= DEFAULT_SIZE[0] * DEFAULT_SIZE[1]
    size = options.size or (shared if small else DEFAULT_SIZE)
    mode = options.mode or (next(iter(modes)) if len(modes) == 1 else "rgb")
    changed = []
    if options.size is None and not small and sizes:
        found = f"are {shared[0]}x{shared[1]}" if shared is not None else f"have {len(sizes)} sizes"
        changed.append(f"the images {found}: each is resized to {size[0]}x{size[1]}")
    if options.mode is None and len(modes) > 1:
        changed.append("the images are in colour and in grayscale: each is read as rgb")
    if on_choice is not None and changed:
        on_choice(f"{'; '.join(changed)} (choose with --size HxW and --mode rgb|grayscale)")
    return dataclasses.replace(options, size=size, mode=mode)


# ---- decoding --------------------------------------------------------------------------------


Digests = list  # of bytes | None: the SHA-256 of each file's bytes as decoded (None: not read)


def _decode_chunk(
    paths: list[str], shape: tuple[int, ...], resize: str, max_pixels: int
) -> tuple[np.ndarray, list[tuple[int, str]], Digests]:
    """The examples of ``paths`` (zeros where a file failed), ``(position, message)`` failures,
    and the SHA-256 of the very bytes each example was decoded from (a cache key made from them
    cannot describe a file that changed between hashing and decoding)."""
    examples = np.zeros((len(paths), *shape), dtype=np.uint8)
    failures = []
    digests: Digests = [None] * len(paths)
    for position, path in enumerate(paths):
        try:
            data = read_image_bytes(Path(path))
            digests[position] = hashlib.sha256(data).digest()
            examples[position] = load_image(path, shape, "uint8", max_pixels, resize, data=data)
        except DnnError as exc:
            failures.append((position, exc.message))
    return examples, failures, digests


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool, the workers stay quiet
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ctrl-C waits while the pool starts: a pool stopped half-way through starting a worker
    leaves that worker to fail with a traceback once this process has gone. And the processes
    started here inherit SIGINT blocked, so a Ctrl-C sent to the whole process group never
    interrupts one of them in the middle of its imports (the workers then ignore it)."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous_handler = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        signal.signal(signal.SIGINT, previous_handler)
    if received:
        raise KeyboardInterrupt


def _pool(backend: str, jobs: int):  # -> concurrent.futures.Executor
    if backend == "threads":
        return ThreadPoolExecutor(max_workers=jobs)
    import multiprocessing

    # forkserver: workers start from a clean process, not a copy of one holding a progress thread
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["dnncli.data.image_import"])
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_ignore_sigint)


def decode_files(
    paths: list[Path],
    options: ImportOptions,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, list[tuple[int, str]], Digests]:
    """All files as examples ``(m, *shape)`` uint8 (zeros where a file failed), the failures
    as ``(index, message)`` and each file's digest as decoded, on ``options.jobs`` cores when
    there are many files."""
    shape = options.example_shape()
    n = len(paths)
    n_bytes = n * int(np.prod(shape))
    if not fits_in_memory(2 * n_bytes):
        raise DataError(
            f"{n} images of shape {shape} take {describe_bytes(n_bytes)}, more than this machine's "
            "memory allows; import fewer files or use a smaller --size"
        )
    examples = np.zeros((n, *shape), dtype=np.uint8)
    failures: list[tuple[int, str]] = []
    digests: Digests = [None] * n
    jobs = options.jobs or available_cores()
    names = [os.fspath(path) for path in paths]
    starts = range(0, n, CHUNK)
    done = 0
    if jobs <= 1 or n < PARALLEL_FROM:
        for start in starts:
            chunk, chunk_failures, chunk_digests = _decode_chunk(names[start : start + CHUNK], shape, options.resize, options.max_pixels)
            examples[start : start + len(chunk)] = chunk
            digests[start : start + len(chunk)] = chunk_digests
            failures += [(start + position, message) for position, message in chunk_failures]
            done += len(chunk)
            if progress is not None:
                progress(done, n)
        return examples, failures, digests

    if options.backend == "processes":
        from multiprocessing import resource_tracker

        # starting the resource tracker unblocks SIGINT (multiprocessing does so after spawning
        # it): started first, it leaves the block of _sigint_deferred in place
        resource_tracker.ensure_running()
    pool = None
    try:
        with _sigint_deferred():
            pool = _pool(options.backend, min(jobs, len(starts)))
            futures: dict[Future, int] = {
                pool.submit(_decode_chunk, names[start : start + CHUNK], shape, options.resize, options.max_pixels): start
                for start in starts
            }
        for future in as_completed(futures):
            start = futures[future]
            chunk, chunk_failures, chunk_digests = future.result()
            examples[start : start + len(chunk)] = chunk
            digests[start : start + len(chunk)] = chunk_digests
            failures += [(start + position, message) for position, message in chunk_failures]
            done += len(chunk)
            if progress is not None:
                progress(done, n)
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    failures.sort()
    return examples, failures, digests


# ---- the file --------------------------------------------------------------------------------


@dataclass
class DecodedFolder:
    """A folder's readable images, in its order, with their labels and files."""

    examples: np.ndarray
    labels: np.ndarray | None
    relative_paths: list[str]
    classes: list[str] | None
    files: int  # files found (readable or not)
    skipped: list[str]  # one message per file left out
    digests: Digests = field(default_factory=list)  # of every file of the folder, as decoded


def decode_folder(
    folder: ImageFolder,
    options: ImportOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
    every_class: bool = True,
) -> DecodedFolder:
    """Decode every file of ``folder``; each one that cannot be read goes to ``on_skip`` and is
    left out (with ``options.strict``: an error, after all were reported). ``every_class``:
    a class none of whose files could be read is an error."""
    skipped = list(folder.passed_over)
    for message in folder.passed_over:
        if on_skip is not None:
            on_skip(message)
    examples, failures, digests = decode_files(folder.files, options, progress)
    for _, message in failures:
        skipped.append(message)
        if on_skip is not None:
            on_skip(message)
    n_files = len(folder.files) + len(folder.passed_over)
    if options.strict and skipped:
        raise DataError(f"{len(skipped)} of {n_files} files could not be imported (--strict); nothing written")

    kept = np.ones(len(folder.files), dtype=bool)
    kept[[index for index, _ in failures]] = False
    if not kept.any():
        raise DataError(f"{printable(folder.root)}: none of its {n_files} files is an image that can be read; nothing written")
    labels = folder.labels
    if not kept.all():
        examples = examples[kept]
        labels = labels[kept] if labels is not None else None
    if labels is not None and every_class:
        counts = np.bincount(labels, minlength=len(folder.classes or []))
        empty = [name for name, count in zip(folder.classes or [], counts) if count == 0]
        if empty:
            raise DataError(
                f"{printable(folder.root)}: no readable image in the class folder '{printable(empty[0])}'; nothing written"
            )
    relative = [path for path, keep in zip(folder.relative_paths(), kept) if keep]
    return DecodedFolder(examples, labels, relative, folder.classes, n_files, skipped, digests)


def file_attributes(options: ImportOptions) -> dict[str, object]:
    """What a file of imported images records about how they were read."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "image_size": np.asarray(options.size, dtype=np.int64),
        "image_mode": options.mode,
        "image_resize": options.resize,
    }


def import_folder(
    source: str | Path,
    target: str | Path,
    options: ImportOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_choice: Callable[[str], None] | None = None,
    force: bool = False,
) -> ImportResult:
    """Import ``source`` into ``target`` (written atomically). Each file that cannot be read is
    passed to ``on_skip`` (one message each) and left out; with ``options.strict`` any such
    file is an error instead, after all of them were reported, and nothing is written. An
    existing ``target`` is replaced only with ``force``. ``on_choice``: the line saying which size
    and mode were chosen, when ``options`` left them open (:func:`folder_options`)."""
    check_options(options)
    target = Path(target)
    folder = scan_folder(source, options.classes, follow_links=options.follow_links)
    check_target(target, force)  # before the long part: decoding
    options.jobs, capped = capped_jobs(options.jobs)
    for note in folder.notes + ([capped] if capped else []):
        if on_note is not None:
            on_note(note)
    options = folder_options(folder.files, options, on_choice)
    decoded = decode_folder(folder, options, progress=progress, on_skip=on_skip)
    examples, labels, relative = decoded.examples, decoded.labels, decoded.relative_paths

    parts: dict[str, tuple[np.ndarray, np.ndarray | None, list[str]]] = {}
    test_counts = None
    if options.test_fraction is not None:
        train_idx, test_idx = stratified_split(labels, len(examples), options.test_fraction, options.seed)
        if test_idx.size == 0:
            raise DataError(
                f"--test-fraction {options.test_fraction} of {len(examples)} examples leaves no test "
                "example; raise it or import more images"
            )
        for prefix, idx in (("train", train_idx), ("test", test_idx)):
            parts[prefix] = (examples[idx], labels[idx] if labels is not None else None, [relative[i] for i in idx])
        test_counts = _counts(parts["test"][1], folder.classes, len(test_idx))
    else:
        parts[options.prefix] = (examples, labels, relative)
    write_set(target, parts, folder.classes, file_attributes(options))
    first = next(iter(parts.values()))
    return ImportResult(
        target, folder.classes, _counts(first[1], folder.classes, len(first[0])), test_counts, decoded.files,
        decoded.skipped, options.prefix if options.test_fraction is None else "train",
    )


def _counts(labels: np.ndarray | None, classes: list[str] | None, m: int) -> list[int]:
    if labels is None or classes is None:
        return [m]
    return np.bincount(labels, minlength=len(classes)).tolist()
