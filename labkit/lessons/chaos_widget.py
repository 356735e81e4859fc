"""Widgets for the chaos run: a live progress bar, and a panel that re-runs it with another seed.

The bar's callback only sets widget values; :mod:`labkit.tasks.chaos` does the work,
and :mod:`labkit.lessons.demo_panel` runs it on a background thread with its own loop.
"""

from __future__ import annotations

import html

from typing import Any, Callable

from ..tasks.chaos import run_chaos
from .demo_panel import Progress, demo_panel


def progress_bar(description: str = "chaos") -> tuple[Any, Callable[[float, str], None]]:
    """A progress bar with a status line, and the callback that moves it; display the first."""
    import ipywidgets as w

    bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description=description)
    status = w.HTML()

    def update(fraction: float, message: str) -> None:
        bar.value, status.value = min(1.0, max(0.0, fraction)), message

    return w.HBox([bar, status]), update


def chaos_panel(seed: int = 1) -> Any:
    """A seed slider, a Run button, progress, the tally and its plot."""
    import ipywidgets as w

    seed_box = w.IntSlider(value=seed, min=0, max=99, description="seed", continuous_update=False)

    async def run(progress: Progress) -> Any:
        return await run_chaos(seed_box.value, progress=progress)

    return demo_panel([[seed_box]], run, describe=lambda result: f"<pre>{html.escape(str(result))}</pre>", name="chaos")
