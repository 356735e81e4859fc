"""Pictures of loop lag: timelines with stalls as tall bars, missed heartbeats, histograms.

Drawing only: every number comes from a result object. The lag axis is
logarithmic, so a 300 ms stall and a 6 ms GIL lag are both readable on the
same scale, and the ticks a stall swallowed are drawn as the falling line of
lags they would have had.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .style import BLUE, ORANGE, SKY, VERMILLION, new_figure, styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..instruments.loop_monitor import MonitorResult
    from ..lessons.stall_demo import StallRun

STALL_COLOUR = VERMILLION
TICK_COLOUR = BLUE
SWALLOWED_COLOUR = SKY
MISSED_COLOUR = ORANGE
FLOOR_MS = 0.05  # the log axis starts here; lags below it are drawn on it


def swallowed_ticks(result: MonitorResult) -> tuple[list[float], list[float]]:
    """(when due, lag in ms) for every tick a late tick swallowed: L - i, L - 2i, ... while >= i."""
    xs, ys = [], []
    for ran_at, lag in zip(result.tick_times, result.tick_lags):
        missing, due = lag - result.interval, ran_at - lag + result.interval
        while missing >= result.interval:
            xs.append(due)
            ys.append(missing * 1000)
            missing -= result.interval
            due += result.interval
    return xs, ys


def draw_timeline(ax: Axes, result: MonitorResult, ymax_ms: float | None = None, xmax_s: float | None = None) -> None:
    """Per-tick lag as dots, swallowed ticks as a lighter line, each stall as a bar as wide and tall as it lasted."""
    for n, stall in enumerate(result.stalls):
        ax.bar(stall.start_s, stall.duration_s * 1000, width=stall.duration_s, align="edge", bottom=FLOOR_MS,
               color=STALL_COLOUR, alpha=0.35, label="stall" if n == 0 else None, zorder=1)
    xs, ys = swallowed_ticks(result)
    if xs:
        ax.plot(xs, ys, linestyle="none", marker="o", markersize=2.5, color=SWALLOWED_COLOUR,
                label="ticks it swallowed", zorder=2)
    lags_ms = [max(FLOOR_MS, lag * 1000) for lag in result.tick_lags]
    ax.plot(result.tick_times, lags_ms, linestyle="none", marker=".", markersize=5, color=TICK_COLOUR,
            label="tick lag", zorder=3)
    ax.axhline(result.stall_threshold * 1000, color="grey", linestyle=":", linewidth=1, label="stall threshold")
    ax.set_yscale("log")
    ax.set_xlim(0, xmax_s or max(result.duration_s, 1e-3))
    ax.set_ylim(FLOOR_MS, ymax_ms or max(10.0, result.max_ms * 2))
    ax.yaxis.set_major_formatter(_plain_numbers())
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("tick lag (ms, log)")
    ax.grid(True, alpha=0.3)


def _plain_numbers() -> Any:
    from matplotlib import ticker

    return ticker.FuncFormatter(lambda v, _: f"{v:g}")  # 0.1, 1, 10, 100, not 10^n


def draw_missed_beats(ax: Axes, missed: Sequence[float]) -> None:
    """A marker along the top of the axes for every heartbeat the loop swallowed."""
    if missed:
        ax.plot(list(missed), [0.93] * len(missed), linestyle="none", marker="x", markersize=9,
                markeredgewidth=2, color=MISSED_COLOUR, transform=ax.get_xaxis_transform(),
                label="missed heartbeat")


def draw_histogram(ax: Axes, result: MonitorResult, bins: Any) -> None:
    """How often each lag happened (every expected tick counted), log-scaled on both axes."""
    from matplotlib import ticker

    samples_ms = [max(FLOOR_MS, s * 1000) for s in result.samples]
    ax.hist(samples_ms, bins=bins, color=TICK_COLOUR, alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(_plain_numbers())
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 3.0)))
    ax.yaxis.set_major_formatter(_plain_numbers())
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("tick lag (ms, log)")
    ax.set_ylabel("ticks")
    ax.grid(True, alpha=0.3)


def plot_monitor(result: MonitorResult, ax: Axes | None = None) -> Any:
    """One monitor result as a timeline; returns the Figure."""
    with styled():
        if ax is None:
            fig = new_figure(9.4, 4)
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        draw_timeline(ax, result)
        ax.set_title(f"Event-loop lag: p99 {result.p99_ms:.1f} ms, {result.stalled_s:.2f} s stalled")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def plot_runs(runs: Sequence[StallRun]) -> Any:
    """Demo runs side by side on the same (log) scales: timelines on top, histograms below."""
    import numpy as np

    if not runs:
        raise ValueError("plot_runs needs at least one run to draw")
    ymax = max(10.0, max(run.monitor.max_ms for run in runs) * 2)
    bins = np.geomspace(FLOOR_MS, ymax, 41)
    xmax = max(run.monitor.duration_s for run in runs)
    with styled():
        fig = new_figure(max(5.0, 3.1 * len(runs) + 0.4), 7.0)
        grid = fig.subplots(2, len(runs), squeeze=False, sharey="row", gridspec_kw={"height_ratios": [3, 2]})
        for col, run in enumerate(runs):
            top, bottom = grid[0][col], grid[1][col]
            draw_timeline(top, run.monitor, ymax_ms=ymax, xmax_s=xmax)
            draw_missed_beats(top, run.heartbeat.missed)
            verdict = run.verdict.replace("the heartbeat ", "").replace("heartbeat", "beat")
            top.set_title(f"{run.strategy}\np99 {run.p99_ms:.1f} ms, {verdict}", fontsize=11)
            draw_histogram(bottom, run.monitor, bins)
            bottom.set_title("how often each lag happened", fontsize=10)
            if col:
                top.set_ylabel("")
                bottom.set_ylabel("")
        handles: dict[str, Any] = {}
        for ax in grid[0]:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        fig.legend(list(handles.values()), list(handles), loc="outside lower center",
                   ncols=min(len(handles), 3 if len(runs) < 2 else 5))
        first = runs[0]
        plural = "s" if first.requests != 1 else ""
        fig.suptitle(
            f"{first.requests} concurrent request{plural} of {first.call_s:g} s ({first.work} work),\n"
            f"heartbeat every {first.heartbeat.period_s * 1000:.0f} ms"
        )
    return fig
