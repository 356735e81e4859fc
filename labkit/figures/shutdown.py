"""Plot for the shutdown demo: one row per scenario, from the claim to the task's fate.

Drawing only; every number comes from :class:`labkit.lessons.shutdown_demo.ShutdownRun`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from ..lessons.shutdown_demo import ShutdownRun

CALL, SIGNAL, STUCK, OK = "#1f77b4", "#ff7f0e", "#d62728", "#2ca02c"


def plot_shutdowns(runs: Sequence["ShutdownRun"]) -> Any:
    """The model call (bar), signals (orange lines), exit (black mark), stuck RUNNING (red)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(10, 0.8 * len(runs) + 2.4))
    for row, run in enumerate(runs):
        y = len(runs) - 1 - row
        claims = [e for e in run.events if e.kind == "claim"]
        start = (claims[0].t if claims else run.t0) - run.t0
        ends = [e.t for e in run.events if e.kind in ("ran", "release") and e.worker == "w1"]
        end = (min(ends) if ends else run.exited_at) - run.t0
        ax.barh(y, end - start, left=start, height=0.45, color=CALL, alpha=0.8)
        for when, _name in run.signals:
            ax.plot([when - run.t0] * 2, [y - 0.35, y + 0.35], color=SIGNAL, lw=3)
        exit_x = run.exited_at - run.t0
        ax.plot([exit_x], [y], marker="s", color="k", ms=9)
        if run.stuck_running_s > 0:
            ax.barh(y, run.stuck_running_s, left=exit_x, height=0.2, color=STUCK, hatch="//", alpha=0.6)
        label = f"exit {run.exit_code}" + (f", {', '.join(run.released)} released" if run.released else "")
        if run.left_running:
            label += f", {', '.join(run.left_running)} stuck RUNNING"
        ax.text(exit_x + max(run.stuck_running_s, 0) + 0.05, y, label, va="center", fontsize=10,
                color=OK if run.clean else STUCK)
    ax.set_yticks(range(len(runs)), [r.scenario for r in reversed(runs)], fontsize=11)
    ax.set_xlabel("seconds since the worker was inside its task")
    ax.set_xlim(left=min(0.0, ax.get_xlim()[0]), right=ax.get_xlim()[1] + 1.2)
    ax.legend(handles=[Patch(color=CALL, label="model call (until it returned / was released)"),
                       Line2D([], [], color=SIGNAL, lw=3, label="signal sent"),
                       Line2D([], [], color="k", marker="s", ls="", label="process gone"),
                       Patch(color=STUCK, alpha=0.6, label="task stuck RUNNING until recovery")],
              loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=10)
    ax.set_title("What a signal does to a worker's in-flight task", fontsize=13)
    fig.tight_layout()
    return fig
