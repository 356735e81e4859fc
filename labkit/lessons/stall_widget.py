"""An ipywidgets panel that re-runs the stall demo with your settings and shows the plot.

``stall_panel()`` returns the panel; display it as a cell's last expression.
All measuring is done by :mod:`labkit.lessons.stall_demo`; the frame by :mod:`labkit.lessons.demo_panel`.
"""

from __future__ import annotations

import html

from typing import Any

from .demo_panel import Progress, demo_panel
from .stall_demo import DEFAULT_STRATEGIES, STRATEGIES, compare

COMPARE_ALL = "compare (defaults for this work)"


def stall_panel() -> Any:
    """Sliders for call duration, concurrent requests, I/O vs CPU and strategy, a Run button, progress, plot."""
    import ipywidgets as w

    call_s = w.FloatSlider(value=0.3, min=0.05, max=1.5, step=0.05, description="call (s)", continuous_update=False)
    requests = w.IntSlider(value=3, min=1, max=8, description="requests", continuous_update=False)
    work = w.ToggleButtons(options=["io", "cpu"], value="io", description="work")
    strategy = w.Dropdown(options=[COMPARE_ALL, *STRATEGIES], value=COMPARE_ALL, description="strategy",
                          layout=w.Layout(width="max-content", min_width="320px"))

    async def run(progress: Progress) -> Any:
        chosen = DEFAULT_STRATEGIES[work.value] if strategy.value == COMPARE_ALL else [strategy.value]
        return await compare(chosen, work.value, call_s.value, requests.value, progress=progress)

    return demo_panel(
        [[call_s, requests], [work, strategy]], run,
        describe=lambda result: "<br>".join(html.escape(line) for line in str(result).splitlines()), name="stall",
    )
