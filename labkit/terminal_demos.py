"""``python -m labkit demo NAME``: the headline demos in a plain terminal.

For a projector with no Jupyter, or a room whose Wi-Fi just died. Each demo
runs the same labkit mechanism the notebooks use and prints its figures as
text: a lag timeline drawn with block characters, a table, a trace.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TextIO

from .errors import LabError

BARS = " ▁▂▃▄▅▆▇█"
WIDTH = 60


def sparkline(times: list[float], lags: list[float], span: float, top: float, width: int = WIDTH) -> str:
    """Tick lag across ``width`` time buckets, scaled to ``top``.

    A tick that ran ``lag`` late at time ``t`` means the loop was stuck from
    ``t - lag`` to ``t``: a tick due at ``x`` in that stretch would have been
    ``t - x`` late. Drawing that, not one spike at ``t``, shows a stall's width.
    """
    buckets = [0.0] * width
    if span <= 0:
        return " " * width
    for t, lag in zip(times, lags):
        first = max(0, int((t - lag) / span * width))
        last = min(width - 1, int(t / span * width))
        for index in range(first, last + 1):
            x = max(t - lag, index * span / width)
            buckets[index] = max(buckets[index], t - x)
    scale = len(BARS) - 1
    return "".join(BARS[min(scale, round(v / top * scale))] if top > 0 else " " for v in buckets)


async def demo_stall(out: TextIO) -> None:
    """Rule 1: one blocking call stalls the loop; offloaded, the loop keeps ticking."""
    from .stall_demo import compare

    out.write("Rule 1 - three 0.3 s chat() calls, each strategy on the same event loop, a 10 ms ticker beside it.\n\n")
    result = await compare()
    span = max(r.monitor.duration_s for r in result.runs)
    top = max(max(r.monitor.tick_lags, default=0.0) for r in result.runs)
    out.write(f"tick lag over time (full block = {top * 1000:.0f} ms)\n")
    for run in result.runs:
        line = sparkline(run.monitor.tick_times, run.monitor.tick_lags, span, top)
        out.write(f"  {run.strategy:>13} |{line}|\n")
    out.write("\n")
    for run in result.runs:
        out.write(f"  {run}\n")
        for stall in run.monitor.stalls[:1]:
            out.write(f"  {'':>13}   first stall blocked in: {stall.where}\n")
    out.write("\nThe blocking strategy holds the loop for the whole call; to_thread and the async client do not.\n")


async def demo_race(out: TextIO) -> None:
    """Rule 3: the explorer finds the schedule that turns DONE into FAIL; the atomic fix has none."""
    from .lab_redis import redis_target
    from .race_demo import VARIANTS, incident

    target = redis_target().child("demo-race")
    try:
        out.write("Rule 3 - worker w1 finishes the last task of d1 while the crash reconciler runs.\n")
        out.write("The explorer runs every interleaving of their Redis commands against the real server.\n\n")
        naive = await incident(target, "naive").explore()
        out.write(naive.summary() + "\n\n")
        for variant in ("recheck", "lua", "epoch"):
            fixed = await incident(target, variant).explore()
            verdict = f"{len(fixed.failing)} failing" if fixed.failing else "none failing"
            out.write(f"  {variant:8} ({VARIANTS[variant][2]}): {fixed.schedules} schedules, {verdict}\n")
        out.write("\nA re-check narrows the window but still fails; the atomic fixes have no bad schedule.\n")
    finally:
        target.cleanup()


DEMOS: dict[str, tuple[str, Callable[[TextIO], Awaitable[None]]]] = {
    "stall": ("rule 1: a blocking call stalls the event loop, offloading does not", demo_stall),
    "race": ("rule 3: the explorer turns a DONE document into FAIL, then proves the fix", demo_race),
}


async def run_demo(name: str, out: TextIO) -> None:
    if name not in DEMOS:
        raise LabError(f"No demo called {name!r}. Demos: {', '.join(sorted(DEMOS))}")
    await DEMOS[name][1](out)
