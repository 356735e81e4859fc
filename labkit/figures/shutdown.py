"""Plot for the shutdown demo: one row per scenario, from the claim to the task's fate.

Drawing only; every number comes from :class:`labkit.lessons.shutdown_demo.ShutdownRun`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .style import BAD, BLUE, OK, ORANGE, new_figure, styled

if TYPE_CHECKING:
    from ..lessons.shutdown_demo import ShutdownRun

CALL, SIGNAL, STUCK = BLUE, ORANGE, BAD


def outcome(run: "ShutdownRun") -> tuple[str, bool]:
    """The label after the exit mark, and whether it is a clean, in-time shutdown."""
    label = f"exit {run.exit_code}"
    if run.released:
        label += f", {', '.join(run.released)} released"
    if run.left_running:
        label += f", {', '.join(run.left_running)} stuck RUNNING"
    if run.missed_grace:
        label += f", {run.grace_s:g} s grace ignored"
    return label, run.clean and not run.missed_grace


def plot_shutdowns(runs: Sequence["ShutdownRun"]) -> Any:
    """The model call (bar), signals (orange lines), exit (black mark), stuck RUNNING (hatched)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    with styled():
        fig = new_figure(9.4, 0.7 * len(runs) + 2.6)
        ax = fig.add_subplot()
        right = 0.0
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
            label, good = outcome(run)
            ax.text(exit_x + max(run.stuck_running_s, 0) + 0.05, y, label, va="center", fontsize=10,
                    color=OK if good else STUCK, fontweight="bold")
            right = max(right, exit_x + max(run.stuck_running_s, 0), end)
        ax.set_yticks(range(len(runs)), [r.scenario for r in reversed(runs)])
        ax.set_xlabel("seconds since the worker was inside its task")
        # room on the right for the longest label: about 7 px a character on an axis about 750 px wide
        share = min(0.6, 7 * max(len(outcome(r)[0]) for r in runs) / 750)
        ax.set_xlim(left=min(0.0, ax.get_xlim()[0]), right=(right + 0.1) / (1 - share))
        fig.legend(handles=[Patch(color=CALL, label="model call (until it returned / was released)"),
                           Line2D([], [], color=SIGNAL, lw=3, label="signal sent"),
                           Line2D([], [], color="k", marker="s", ls="", label="process gone"),
                           Patch(color=STUCK, alpha=0.6, label="task stuck RUNNING until recovery")],
                   loc="outside lower center", ncols=2)
        ax.set_title("What a signal does to a worker's in-flight task")
    return fig
