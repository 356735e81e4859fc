"""An ipywidgets panel that re-runs the rule-4 heartbeat demo with your settings.

``heartbeat_panel()`` returns the panel; display it as a cell's last
expression. Each run starts real worker processes from a background thread
with its own event loop, so the notebook stays responsive and the progress bar
moves. All measuring is done by :mod:`labkit.heartbeat_demo`.
"""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any

from .heartbeat_demo import compare_modes, run_heartbeat_demo
from .worker import PRESETS

COMPARE_ALL = "compare all modes"


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def heartbeat_panel() -> Any:
    """Mode, TTL and slow-call sliders, a Run button, progress, and the timeline plot."""
    import ipywidgets as w

    mode = w.Dropdown(options=[*PRESETS, COMPARE_ALL], value="same-loop", description="mode")
    ttl = w.FloatSlider(value=0.5, min=0.2, max=2.0, step=0.1, description="TTL (s)", continuous_update=False)
    slow = w.FloatSlider(value=1.2, min=0.1, max=3.0, step=0.1, description="slow call (s)",
                         continuous_update=False)
    run = w.Button(description="Run", button_style="primary", icon="play")
    bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="idle")
    status = w.HTML()
    picture = w.Image(format="png", layout=w.Layout(max_width="100%"))

    def progress(fraction: float, message: str) -> None:
        bar.value, bar.description, status.value = min(1.0, fraction), "running", message

    def work_in_thread(settings: dict[str, Any]) -> None:
        try:
            options = {"ttl_s": settings["ttl"], "slow_latency_s": settings["slow"], "progress": progress}
            if settings["mode"] == COMPARE_ALL:
                result: Any = asyncio.run(compare_modes(**options))
            else:
                result = asyncio.run(run_heartbeat_demo(settings["mode"], **options))
            status.value = "drawing..."
            picture.value = _png(result.plot())
            status.value = str(result).replace("\n", "<br>")
            bar.value, bar.description = 1.0, "done"
        except Exception as exc:  # shown in the panel: a widget callback has nowhere else to report
            status.value = f"<b>Run failed:</b> {type(exc).__name__}: {exc}"
            bar.description = "failed"
        finally:
            run.disabled = False

    def on_run(_: Any) -> None:
        run.disabled = True
        bar.value, bar.description = 0.0, "starting"
        settings = {"mode": mode.value, "ttl": ttl.value, "slow": slow.value}
        threading.Thread(target=work_in_thread, args=(settings,), name="labkit-heartbeat-panel", daemon=True).start()

    run.on_click(on_run)
    panel = w.VBox([w.HBox([mode, run]), w.HBox([ttl, slow]), w.HBox([bar, status]), picture])
    panel.add_class("labkit-demo")  # the browser tests find demo panels and their Run buttons by class
    run.add_class("labkit-rerun")
    panel.run_button = run  # for tests and for driving the panel from code
    return panel
