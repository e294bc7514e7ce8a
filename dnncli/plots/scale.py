"""The course's scale picture: a test score against the training-set size m (log scale), one line
per network size. Larger networks keep gaining from more data where a small one levels off.

The sweep (:mod:`dnncli.sweep.scale`) gathers the points from its trials; this module only draws
them, and reads back from the drawn lines what the picture shows, so a caller (a test) can check
the picture against the trials without looking at pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnncli.plots.figure import TAB10, drawing, legend_label, plain, save

# label -> [(m, score), ...]
ScaleLines = dict[str, list[tuple[float, float]]]


def draw_scale(
    lines: ScaleLines, path: str | Path, *, title: str, score: str, size_key: str, network_key: str
) -> ScaleLines:
    """Draw one line per network (``lines``: its label and its ``(m, score)`` points, m ascending)
    on a log m axis, write the picture atomically to ``path`` (png or svg, by its suffix), and
    return the points as the drawn lines hold them."""
    with drawing() as plt:
        fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
        for k, (label, points) in enumerate(lines.items()):
            ax.plot([m for m, _ in points], [s for _, s in points], marker="o", color=TAB10[k % len(TAB10)],
                    label=legend_label(label), clip_on=False)
        ms = sorted({m for points in lines.values() for m, _ in points})
        _m_axis(ax, ms)
        in_units = score.endswith(("_rmse", "_mae"))
        if in_units:  # in the target's units: whole numbers with separators
            from matplotlib.ticker import FuncFormatter

            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlabel(plain(f"training-set size m ({size_key}, log scale)", 80))
        ax.set_ylabel(plain(f"{score} (in the target's units)" if in_units else score, 60))
        ax.set_title(plain(title, 100), fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.margins(x=0.05, y=0.08)
        ax.legend(title=plain(f"network ({network_key})", 40), fontsize=8, title_fontsize=8)
        drawn = _read_back(ax)
        save(fig, path, Path(path).suffix.lstrip(".").lower() or "png")
    return drawn


def _m_axis(ax: Any, ms: list[float]) -> None:
    """A log axis whose ticks are the swept sizes themselves, as plain numbers."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ms))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_locator(NullLocator())


def _read_back(ax: Any) -> ScaleLines:
    # the legend's text is the label with a guard space before a leading '_' (legend_label)
    return {
        line.get_label().removeprefix(" "): [(float(x), float(y)) for x, y in zip(*line.get_data())]
        for line in ax.get_lines()
    }
