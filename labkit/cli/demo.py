"""``python -m labkit demo NAME``: the headline demos in a plain terminal.

For a projector with no Jupyter, or a room whose Wi-Fi just died. Each demo
runs the same labkit mechanism the notebooks use and prints its figures as
text: a lag timeline drawn with block characters, a table, a trace.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TextIO

from ..errors import LabError

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
    from ..lessons.stall_demo import compare

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
    from ..redis.target import redis_target
    from ..lessons.race_demo import VARIANTS, incident

    target = redis_target().child("demo-race")  # labkit: ignore[R1] set-up before any task runs
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
        target.cleanup()  # labkit: ignore[R1] clean-up after every task has ended


async def demo_heartbeat(out: TextIO) -> None:
    """Rule 4: a heartbeat on a blocked loop gets a live worker declared dead; the fixes do not."""
    from ..lessons.heartbeat_demo import compare_modes

    out.write("Rule 4 - two real worker processes; w1 makes one slow (1.2 s) model call; heartbeat TTL 0.5 s.\n")
    out.write("Recovery runs here and requeues the tasks of any worker whose heartbeat expires.\n\n")
    result = await compare_modes()
    for run in result.runs:
        verdict = "BROKEN" if run.false_dead or run.duplicate_executions else "ok"
        out.write(f"  {run.mode:>13}  {verdict:6}  false 'dead' verdicts: {run.false_dead}, "
                  f"duplicate executions: {run.duplicate_executions}, document {run.doc_state}\n")
    out.write("\nA heartbeat that shares the loop with a blocking call (or uses a blocking client) goes quiet;\n"
              "offloading the call, an async client or a heartbeat thread keeps it beating.\n")


async def demo_shutdown(out: TextIO) -> None:
    """Rule 5: signals set a stop event; the worker exits 0 with nothing lost. A worker that just dies does not."""
    from ..lessons.shutdown_demo import compare_shutdowns

    out.write("Rule 5 - real worker processes, each signalled mid-task.\n\n")
    result = await compare_shutdowns()
    for run in result.runs:
        out.write(f"  {'clean ' if run.clean else 'LOSSY '} {run}\n")
    out.write("\nGraceful shutdown finishes or releases the in-flight task and exits 0; a worker that dies\n"
              "leaves its task RUNNING until recovery notices.\n")


async def demo_chaos(out: TextIO) -> None:
    """The capstone: the fixed executor under kill -9, SIGTERM, a freeze and a Redis restart loses nothing."""
    from ..tasks.chaos import fault_schedule, run_chaos

    seed = 7
    out.write(f"Capstone - 3 real workers, 30 tasks, recovery running; faults for seed {seed}:\n")
    for fault in fault_schedule(seed):
        out.write(f"  {fault}\n")
    out.write("\n")
    result = await run_chaos(seed)
    out.write(f"{result}\n")


DEMOS: dict[str, tuple[str, Callable[[TextIO], Awaitable[None]]]] = {
    "stall": ("rule 1: a blocking call stalls the event loop, offloading does not", demo_stall),
    "race": ("rule 3: the explorer turns a DONE document into FAIL, then proves the fix", demo_race),
    "heartbeat": ("rule 4: a busy worker looks dead and its task runs twice, unless the heartbeat is free", demo_heartbeat),
    "shutdown": ("rule 5: SIGTERM/SIGINT stop a worker cleanly; a worker that just dies loses time", demo_shutdown),
    "chaos": ("capstone: kill -9, SIGTERM, a frozen worker, a Redis restart; every task DONE once, nothing lost", demo_chaos),
}


async def run_demo(name: str, out: TextIO) -> None:
    if name not in DEMOS:
        raise LabError(f"No demo called {name!r}. Demos: {', '.join(sorted(DEMOS))}")
    await DEMOS[name][1](out)
