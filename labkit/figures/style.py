"""One look for every figure: sized for JupyterLab's content width, readable text, colour-blind-safe colours.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: pyplot
keeps a reference and the inline backend shows every open pyplot figure at the
end of a cell, so a cell ending in ``result.plot()`` would show it twice.
A bare ``Figure`` is shown once, by IPython's display formatter, and can be
drawn from a widget's thread.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

#: JupyterLab's content column is about 900-1000 px; the inline backend draws at 100 dpi.
MAX_WIDTH_IN = 9.4
#: Font sizes in points: at 100 dpi, 9 pt is 12.5 px, still >= 10 px when a figure is shown at 80 %.
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "figure.titlesize": 13}
MIN_FONT_PT = 9

# The Okabe-Ito palette: told apart with every common colour-vision deficiency.
BLUE, ORANGE, SKY, GREEN, YELLOW, VERMILLION, PURPLE, GREY = (
    "#0072B2", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#D55E00", "#CC79A7", "#7F7F7F")
OK, BAD = GREEN, VERMILLION
SERIES = (BLUE, ORANGE, PURPLE, SKY, GREEN, GREY)


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """The lab's font sizes while a figure is built (text objects keep their size afterwards)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def stating(fig: Any, point: str) -> Any:
    """Attach the one line that says what ``fig`` shows: a notebook prints the same line beside it,
    for screen readers, terminals and anyone who cannot tell the colours apart. Returns ``fig``."""
    if not point.strip() or "\n" in point:
        raise ValueError(f"a figure's point is one non-empty line, got {point!r}")
    fig.labkit_point = point
    return fig


def new_figure(width: float, height: float) -> Any:
    """A pyplot-free Figure at most :data:`MAX_WIDTH_IN` wide, laid out so nothing is clipped."""
    from matplotlib.figure import Figure

    return Figure(figsize=(min(width, MAX_WIDTH_IN), height), layout="constrained")
