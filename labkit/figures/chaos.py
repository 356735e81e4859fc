"""Plot for the chaos run: progress with every fault marked, and the final tally.

Drawing only; every number comes from :class:`labkit.tasks.chaos.ChaosResult`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tasks.chaos import ChaosResult

COLOURS = {"kill": "#d62728", "sigterm": "#ff7f0e", "redis-restart": "#9467bd"}
LABELS = {"kill": "kill -9 a worker", "sigterm": "SIGTERM a worker", "redis-restart": "Redis restart"}


def plot_chaos(result: "ChaosResult") -> Any:
    """Left: tasks DONE over time, faults as vertical lines. Right: the invariants as bars."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    if result.timeline:
        xs, ys = zip(*result.timeline)
        left.step(xs, ys, where="post", color="#1f77b4", lw=2.5, label="tasks DONE")
    shown: set[str] = set()
    for fired in result.fired:
        kind = fired.fault.kind
        left.axvline(fired.t, color=COLOURS[kind], lw=2, ls="--",
                     label=LABELS[kind] if kind not in shown else None)
        shown.add(kind)
    left.axhline(result.tasks, color="#2ca02c", lw=1, ls=":", label=f"all {result.tasks} tasks")
    left.set_xlabel("seconds since the first task was queued", fontsize=11)
    left.set_ylabel("tasks DONE", fontsize=11)
    left.set_title(f"Seed {result.seed}: {result.workers} workers under fire", fontsize=13)
    left.legend(loc="lower right", fontsize=10)
    names = ["DONE exactly\nonce", "ran again\n(duplicates)", "zombie writes\nfenced off", "DONE -> FAIL", "lost"]
    values = [result.effective_completions, result.duplicate_executions, result.stale_completions,
              result.done_to_fail, len(result.lost)]
    good = [result.exactly_once, True, True, result.done_to_fail == 0, not result.lost]
    bars = right.bar(names, values, color=["#2ca02c" if ok else "#d62728" for ok in good])
    bars[1].set_color("#7f7f7f")
    bars[2].set_color("#7f7f7f")
    for bar, value in zip(bars, values):
        right.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), str(value), ha="center", va="bottom",
                   fontsize=12, fontweight="bold")
    right.set_ylim(0, max(values + [1]) * 1.2)
    right.set_title("Final tally" + ("" if result.ok else " (INVARIANT BROKEN)"), fontsize=13)
    right.tick_params(axis="x", labelsize=9)
    fig.tight_layout()
    return fig
