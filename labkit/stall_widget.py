"""An ipywidgets panel that re-runs the stall demo with your settings and shows the plot.

``stall_panel()`` returns the panel; display it as a cell's last expression.
Each run happens on its own event loop in a background thread, so a run with
long blocking calls cannot freeze the notebook, and the progress bar keeps
moving while it works. All measuring is done by :mod:`labkit.stall_demo`.
"""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any

from .stall_demo import DEFAULT_STRATEGIES, STRATEGIES, compare

COMPARE_ALL = "compare (defaults for this work)"


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def stall_panel() -> Any:
    """Sliders for call duration, concurrent requests, I/O vs CPU and strategy, a Run button, progress, plot."""
    import ipywidgets as w

    call_s = w.FloatSlider(value=0.3, min=0.05, max=1.5, step=0.05, description="call (s)", continuous_update=False)
    requests = w.IntSlider(value=3, min=1, max=8, description="requests", continuous_update=False)
    work = w.ToggleButtons(options=["io", "cpu"], value="io", description="work")
    strategy = w.Dropdown(options=[COMPARE_ALL, *STRATEGIES], value=COMPARE_ALL, description="strategy")
    run = w.Button(description="Run", button_style="primary", icon="play")
    bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="idle")
    status = w.HTML()
    picture = w.Image(format="png", layout=w.Layout(max_width="100%"))

    def progress(fraction: float, message: str) -> None:
        bar.value = min(1.0, fraction)
        bar.description = "running"
        status.value = message

    def work_in_thread(settings: dict[str, Any]) -> None:
        try:
            chosen = DEFAULT_STRATEGIES[settings["work"]] if settings["strategy"] == COMPARE_ALL else [settings["strategy"]]
            result = asyncio.run(
                compare(chosen, settings["work"], settings["call_s"], settings["requests"], progress=progress)
            )
            status.value = "drawing..."
            picture.value = _png(result.plot())
            status.value = "<br>".join(str(r) for r in result.runs)
            bar.value, bar.description = 1.0, "done"
        except Exception as exc:  # shown in the panel: a widget callback has nowhere else to report
            status.value = f"<b>Run failed:</b> {type(exc).__name__}: {exc}"
            bar.description = "failed"
        finally:
            run.disabled = False

    def on_run(_: Any) -> None:
        run.disabled = True
        bar.value, bar.description = 0.0, "starting"
        settings = {"call_s": call_s.value, "requests": requests.value, "work": work.value, "strategy": strategy.value}
        threading.Thread(target=work_in_thread, args=(settings,), name="labkit-stall-panel", daemon=True).start()

    run.on_click(on_run)
    panel = w.VBox([w.HBox([call_s, requests]), w.HBox([work, strategy, run]), w.HBox([bar, status]), picture])
    panel.add_class("labkit-demo")  # the browser tests find demo panels and their Run buttons by class
    run.add_class("labkit-rerun")
    panel.run_button = run  # for tests and for driving the panel from code
    return panel
