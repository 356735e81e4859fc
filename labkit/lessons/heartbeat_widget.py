"""An ipywidgets panel that re-runs the rule-4 heartbeat demo with your settings.

``heartbeat_panel()`` returns the panel; display it as a cell's last
expression. Each run starts real worker processes; all measuring is done by
:mod:`labkit.lessons.heartbeat_demo`, the frame by :mod:`labkit.lessons.demo_panel`.
"""

from __future__ import annotations

import html

from typing import Any

from .demo_panel import Progress, demo_panel
from .heartbeat_demo import compare_modes, run_heartbeat_demo
from ..tasks.worker import PRESETS

COMPARE_ALL = "compare all modes"


def heartbeat_panel() -> Any:
    """Mode, TTL and slow-call sliders, a Run button, progress, and the timeline plot."""
    import ipywidgets as w

    mode = w.Dropdown(options=[*PRESETS, COMPARE_ALL], value="same-loop", description="mode")
    ttl = w.FloatSlider(value=0.5, min=0.2, max=2.0, step=0.1, description="TTL (s)", continuous_update=False)
    slow = w.FloatSlider(value=1.2, min=0.1, max=3.0, step=0.1, description="slow call (s)",
                         continuous_update=False)

    async def run(progress: Progress) -> Any:
        options = {"ttl_s": ttl.value, "slow_latency_s": slow.value, "progress": progress}
        if mode.value == COMPARE_ALL:
            return await compare_modes(**options)
        return await run_heartbeat_demo(mode.value, **options)

    return demo_panel([[mode], [ttl, slow]], run, describe=lambda r: "<br>".join(html.escape(line) for line in str(r).splitlines()),
                      name="heartbeat")
