"""Plots for the heartbeat and shutdown demos (drawing only; the numbers come from the runs).

The heartbeat panel shows each worker's *heartbeat age* (seconds since its last
beat) as a sawtooth, with the TTL as a dashed line: when a sawtooth crosses the
line, the lease has lapsed, and an X marks where the recovery loop declared the
worker dead. The task panel shows every model call as a bar per worker, a task
that ran twice in red.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..tasks.execlog import Event
from .style import BAD, BLUE, GREY, PURPLE, SKY, new_figure, styled

if TYPE_CHECKING:
    from ..lessons.heartbeat_demo import HeartbeatComparison, HeartbeatRun

COLOURS = (BLUE, SKY, PURPLE, GREY)  # far from the red of a duplicate
DUPLICATE = BAD


def _workers(events: list[Event]) -> list[str]:
    return sorted({e.worker for e in events if e.kind in ("start", "beat")})


def age_series(events: list[Event], worker: str, t0: float, step: float = 0.01) -> tuple[list[float], list[float]]:
    """(times, heartbeat age) for one worker, from its first beat to its exit (or last event)."""
    beats = [e.t for e in events if e.worker == worker and e.kind == "beat"]
    if not beats:
        return [], []
    ends = [e.t for e in events if e.worker == worker and e.kind == "exit"]
    end = ends[0] if ends else max(e.t for e in events)
    xs, ys, i = [], [], 0
    t = beats[0]
    while t <= end:
        while i + 1 < len(beats) and beats[i + 1] <= t:
            i += 1
        xs.append(t - t0)
        ys.append(t - beats[i])
        t += step
    return xs, ys


def _draw_ages(ax: Any, run: "HeartbeatRun", legend: bool = True) -> None:
    for n, worker in enumerate(_workers(run.events)):
        xs, ys = age_series(run.events, worker, run.t0)
        ax.plot(xs, ys, color=COLOURS[n % len(COLOURS)], lw=1.6, label=f"{worker} heartbeat age")
    ax.axhline(run.ttl_s, color="k", ls="--", lw=1.2, label=f"TTL {run.ttl_s:g} s")
    for v in run.verdicts:
        ax.plot([v.at - run.t0], [v.since_last_beat_s], "X", color=DUPLICATE, ms=13, zorder=5)
        ax.annotate(f"{v.worker} declared dead", (v.at - run.t0, v.since_last_beat_s),
                    textcoords="offset points", xytext=(8, 4), color=DUPLICATE, fontsize=11)
    ax.set_ylabel("seconds since last beat")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    if legend:
        ax.legend(loc="upper left", fontsize=9)


def _draw_tasks(ax: Any, run: "HeartbeatRun") -> None:
    workers = _workers(run.events)
    twice = set(run.ran_twice)
    for e in run.events:
        if e.kind != "ran" or e.worker not in workers:
            continue
        row = workers.index(e.worker)
        start = float(e.get("began", e.t)) - run.t0
        colour = DUPLICATE if e.get("task") in twice else COLOURS[row % len(COLOURS)]
        ax.barh(row, e.t - run.t0 - start, left=start, height=0.5, color=colour, alpha=0.85, edgecolor="k",
                hatch="//" if e.get("task") in twice else None)
        ax.text(start + 0.01, row, str(e.get("task")), va="center", fontsize=9, color="black",
                bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "linewidth": 0})
    for e in run.events:
        if e.kind == "finish" and e.get("outcome") == "stale" and e.worker in workers:
            ax.annotate("completion stale: result thrown away", (e.t - run.t0, workers.index(e.worker) + 0.3),
                        fontsize=10, color=DUPLICATE, ha="right")
    ax.set_yticks(range(len(workers)), workers)
    ax.set_xlabel("seconds since the document was created")
    ax.set_ylabel("model calls")


def plot_run(run: "HeartbeatRun") -> Any:
    """Heartbeat ages with the TTL and verdicts (top), model calls per worker (bottom)."""
    with styled():
        fig = new_figure(9.4, 6)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        _draw_ages(top, run)
        top.set_title(f"{run.mode}: {len(run.verdicts)} declared dead, {run.duplicate_executions} duplicate "
                      f"execution(s)")
        _draw_tasks(bottom, run)
    return fig


def plot_comparison(cmp: "HeartbeatComparison") -> Any:
    """One heartbeat-age panel per mode, same scales."""
    n = len(cmp.runs)
    with styled():
        fig = new_figure(9.4, 1.9 * n + 0.9)
        axes = fig.subplots(n, 1, sharex=True, sharey=True, squeeze=False)
        for i, (ax, run) in enumerate(zip(axes[:, 0], cmp.runs)):
            _draw_ages(ax, run, legend=(i == 0))
            ax.set_ylabel("")
            ax.set_title(f"{run.mode}: {run.false_dead} false 'dead', {run.duplicate_executions} duplicate(s)",
                         fontsize=11, loc="left")
        axes[-1, 0].set_xlabel("seconds since the document was created")
        fig.supylabel("seconds since last beat")
    return fig
