"""The frame every re-runnable demo panel shares: controls, Run, progress, the figure.

A demo panel re-runs a live demo with the learner's settings. The run happens
on its own event loop in a background thread: a demo that blocks its loop on
purpose (rule 1) or waits on worker processes (rules 4 and 5) cannot freeze the
notebook, and the progress bar keeps moving. The panel holds no logic of its
own; ``run`` does the measuring and returns a result that can ``plot()`` itself.
"""

from __future__ import annotations

import asyncio
import html
import io
import threading
from typing import Any, Awaitable, Callable, Sequence

from ..reporting import Progress


def figure_png(fig: Any) -> bytes:
    """A Figure as PNG bytes, drawn as the inline backend draws it (100 dpi, tight box), so the
    panel's picture has the size and text size of the notebook's own figures."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def said(figure: Any, text: str) -> str:
    """The panel's text, opening with the figure's point (one line) unless it already holds it."""
    point = getattr(figure, "labkit_point", "")
    return text if not point or html.escape(point) in text else f"<b>{html.escape(point)}</b><br>{text}"


def demo_panel(
    rows: Sequence[Sequence[Any]],
    run: Callable[[Progress], Awaitable[Any]],
    describe: Callable[[Any], str] = str,
    name: str = "demo",
) -> Any:
    """Lay out ``rows`` of control widgets above a Run button, a progress bar and the plot.

    ``run(progress)`` reads the controls itself and returns the demo's result;
    ``describe(result)`` is the text shown beside the bar (HTML allowed).
    """
    import ipywidgets as w

    button = w.Button(description="Run", button_style="primary", icon="play")
    bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="idle")
    status = w.HTML()
    # shown at its natural size (never stretched to the panel's width), and hidden until there is
    # something to show: an empty image is a broken-image icon
    picture = w.Image(format="png", layout=w.Layout(max_width="100%", width="auto", height="auto",
                                                    align_self="flex-start", display="none"))

    def progress(fraction: float, message: str) -> None:
        bar.value, bar.description, status.value = min(1.0, fraction), "running", message

    def work_in_thread() -> None:
        try:
            result = asyncio.run(run(progress))  # this thread's own loop, not the kernel's
            status.value = "drawing..."
            figure = result.plot()
            picture.value = figure_png(figure)
            picture.layout.display = None
            status.value = said(figure, describe(result))
            bar.value, bar.description = 1.0, "done"
        except Exception as exc:  # shown in the panel: a widget callback has nowhere else to report
            status.value = f"<b>Run failed:</b> {type(exc).__name__}: {exc}"
            bar.description = "failed"
        finally:
            button.disabled = False

    def on_run(_: Any) -> None:
        button.disabled = True
        bar.value, bar.description = 0.0, "starting"
        threading.Thread(target=work_in_thread, name=f"labkit-{name}-panel", daemon=True).start()

    button.on_click(on_run)
    rows = [list(row) for row in rows]
    rows[-1].append(button)
    panel = w.VBox([*(w.HBox(row) for row in rows), w.HBox([bar, status]), picture])
    panel.add_class("labkit-demo")  # the browser tests find demo panels and their Run buttons by class
    button.add_class("labkit-rerun")
    panel.run_button = button  # for tests and for driving the panel from code
    return panel
