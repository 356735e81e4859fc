"""Plot for the chaos run: progress with every fault marked, and the final tally.

Drawing only; every number comes from :class:`labkit.tasks.chaos.ChaosResult`.
Faults of different kinds get their own row of markers, so a kill and a SIGTERM
fired at the same moment both show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .style import BAD, BLUE, GREY, OK, ORANGE, PURPLE, SKY, VERMILLION, new_figure, styled

if TYPE_CHECKING:
    from ..tasks.chaos import ChaosResult

KINDS = {  # kind: (colour, marker, legend label, marker height as a fraction of the axes)
    "kill": (VERMILLION, "X", "kill -9 a worker", 0.95),
    "sigterm": (ORANGE, "v", "SIGTERM a worker", 0.88),
    "redis-restart": (PURPLE, "D", "Redis restart", 0.81),
    "freeze": (SKY, "s", "freeze a worker (SIGSTOP)", 0.74),
}


def tally(result: "ChaosResult") -> list[tuple[str, int, str]]:
    """(what, how many, colour) for the final tally, in reading order."""
    return [
        ("DONE exactly once", result.effective_completions, OK if result.exactly_once else BAD),
        ("ran again (duplicates)", result.duplicate_executions, GREY),
        ("zombie writes fenced off", result.stale_completions, GREY),
        ("DONE -> FAIL", result.done_to_fail, OK if result.done_to_fail == 0 else BAD),
        ("lost", len(result.lost), OK if not result.lost else BAD),
    ]


def plot_chaos(result: "ChaosResult") -> Any:
    """Left: tasks DONE over time, each fault a marker on its kind's row. Right: the tally as bars."""
    with styled():
        fig = new_figure(9.4, 5.2)
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        if result.timeline:
            xs, ys = zip(*result.timeline)
            left.step(xs, ys, where="post", color=BLUE, lw=2.5, label="tasks DONE")
        shown: set[str] = set()
        for fired in result.fired:
            colour, marker, label, height = KINDS[fired.fault.kind]
            left.axvline(fired.t, color=colour, lw=1, ls=":", alpha=0.8)
            left.plot([fired.t], [height], marker=marker, ms=10, color=colour, ls="",
                      transform=left.get_xaxis_transform(), label=None if label in shown else label)
            shown.add(label)
            if fired.fault.kind == "freeze" and fired.seconds:  # how long it stayed frozen
                left.plot([fired.t, fired.t + fired.seconds], [height, height], color=colour, lw=4,
                          solid_capstyle="butt", transform=left.get_xaxis_transform())
        left.axhline(result.tasks, color=OK, lw=1, ls="--", label=f"all {result.tasks} tasks")
        left.set_ylim(0, result.tasks * 1.3)
        left.set_xlabel("seconds since the first task was queued")
        left.set_ylabel("tasks DONE")
        left.set_title(f"Seed {result.seed}: {result.workers} workers under fire")
        left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, fontsize=9, frameon=False)  # below: it covers no step
        rows = tally(result)
        names, values, colours = zip(*rows)
        ys = list(range(len(rows)))[::-1]
        right.barh(ys, values, color=colours)
        for y, value in zip(ys, values):
            right.text(value, y, f" {value}", va="center", fontsize=11, fontweight="bold")
        right.set_yticks(ys, names)
        right.set_xlim(0, max(list(values) + [1]) * 1.25)
        right.set_xlabel("count")
        right.set_title("Final tally" + ("" if result.ok else " (INVARIANT BROKEN)"))
    return fig
