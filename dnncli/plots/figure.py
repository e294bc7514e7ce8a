"""What every picture shares: one fixed style, the colours of splits and classes, text from files
made harmless, and a deterministic, atomic save."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Iterator

from dnncli.files import atomic
from dnncli.errors import ConfigError

PICTURE_FORMATS = ("png", "svg")
DPI = 150

# One colour per split, the same in every panel and every picture.
SPLIT_COLOURS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}
BEST_EPOCH_COLOUR = "#555555"

# Class 0 red and class 1 blue, as in the course's planar and football pictures; more classes
# take matplotlib's tab10 / tab20 qualitative palettes, then evenly spaced hues.
BINARY_CLASS_COLOURS = ("#d62728", "#1f77b4")
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs on every machine
    "font.size": 9,
    "text.usetex": False,
    "svg.hashsalt": "dnn",  # the ids in an SVG come from this salt instead of a random one
    "svg.fonttype": "path",
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
}
# no software version or date inside the file: the same run gives the same bytes
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}

MAX_TEXT = 40


def picture_format(path: str | Path, option: str = "-o") -> str:
    """``png`` or ``svg`` from the file name; anything else (stdout included) is refused."""
    text = str(path)
    if text == "-" or text.startswith("/dev/std") or text == "/dev/fd/1":
        raise ConfigError(f"{option} {text}: pictures are written to a file, never to standard output")
    suffix = Path(text).suffix.lower().lstrip(".")
    if suffix not in PICTURE_FORMATS:
        raise ConfigError(f"{option} {text}: expected a file name ending in .png or .svg")
    if Path(text).is_dir():
        raise ConfigError(f"{option} {text}: is a directory, expected a .png or .svg file name")
    return suffix


def plain(text: object, limit: int = MAX_TEXT) -> str:
    """Text from a file shown as it is: one line, at most ``limit`` characters, and every ``$``
    escaped so that matplotlib never reads it as mathtext (``\\$`` is matplotlib's literal dollar)."""
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text))
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("$", r"\$")


def path_text(path: object, limit: int = 60) -> str:
    """A path for a title, shortened from the left so the file's name stays (escaped later, with
    the rest of the title, by :func:`plain_lines`)."""
    text = str(path)
    if len(text) > limit:
        text = "…" + text[-(limit - 1):]
    return text


def plain_lines(text: str, limit: int = 160) -> str:
    """:func:`plain` for each line of a title."""
    return "\n".join(plain(line, limit) for line in str(text).split("\n"))


def legend_label(text: object, limit: int = MAX_TEXT) -> str:
    """:func:`plain` text that a legend shows even when it starts with '_' (legends skip those)."""
    label = plain(text, limit)
    return " " + label if label.startswith("_") else label


def class_colours(n_classes: int) -> list[str]:
    if n_classes <= 2:
        return list(BINARY_CLASS_COLOURS[:n_classes])
    if n_classes <= 10:
        return list(TAB10[:n_classes])
    import matplotlib
    from matplotlib import colors

    if n_classes <= 20:
        return [colors.to_hex(c) for c in matplotlib.colormaps["tab20"].colors[:n_classes]]
    return [colors.to_hex(colors.hsv_to_rgb((k / n_classes, 0.65, 0.85))) for k in range(n_classes)]


def run_colours(n_runs: int) -> list[str]:
    """One colour per run in ``dnn plot curves``."""
    return list(TAB10[:n_runs]) if n_runs <= 10 else class_colours(n_runs)


def pyplot():  # -> matplotlib.pyplot, drawing off screen
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def drawing() -> Iterator[Any]:
    """matplotlib.pyplot under dnn's style; figures made inside are closed on leaving."""
    import matplotlib

    import numpy as np

    plt = pyplot()
    before = set(plt.get_fignums())
    try:
        # a diverged run's costs (1e-3 .. 1e303) make matplotlib's tick code overflow: a picture's
        # warnings are no news for the user's stderr
        with matplotlib.rc_context(STYLE), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            yield plt
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


def save(fig: Any, path: str | Path, fmt: str, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` atomically (temporary file, then rename), without a date or
    version inside."""
    path = Path(path)

    # zlib level 3 instead of 6: PNGs 10-25% larger, encoded in half the time (every run writes some)
    options = {"pil_kwargs": {"compress_level": 3}} if fmt == "png" else {}

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=METADATA[fmt], **options)

    atomic.write_with(path, write, suffix=f".{fmt}")
    return path


def whole_pixels(inches: float) -> float:
    """A figure dimension that is a whole number of pixels at :data:`DPI` (matplotlib truncates
    the rest), so a layout's pixel size is known exactly."""
    return round(inches * DPI) / DPI


def margins(fig: Any, *, left: float, right: float, top: float, bottom: float, gap: float = 0.0) -> None:
    """Place the axes with fixed margins in inches (faster than tight_layout, which draws every
    text twice, and the same layout for every run); ``gap`` between side-by-side panels."""
    width, height = fig.get_size_inches()
    n_columns = fig.axes[0].get_subplotspec().get_gridspec().ncols if fig.axes else 1
    panel = (width - left - right - gap * (n_columns - 1)) / n_columns
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
        wspace=gap / panel if n_columns > 1 else 0.2,
    )


def integer_ticks(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def thousands_ticks(ax: Any) -> None:
    """Y ticks of values in the thousands (an RMSE in dollars) as whole numbers with separators:
    51,000, not 51000 or 5.1e+04; a log axis's minor ticks too, when it labels them."""
    from matplotlib.ticker import FuncFormatter

    whole = FuncFormatter(lambda value, _: f"{value:,.0f}")
    ax.yaxis.set_major_formatter(whole)
    if ax.get_yscale() == "log" and ax.yaxis.get_minor_formatter().__class__.__name__ != "NullFormatter":
        ax.yaxis.set_minor_formatter(whole)
