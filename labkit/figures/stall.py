"""Pictures of loop lag: timelines with stalls as tall bars, missed heartbeats, histograms.

Drawing only: every number comes from a result object. Figures are built with
``matplotlib.figure.Figure`` (not pyplot), so they show once in a notebook,
work with any backend, and can be drawn from a widget's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..instruments.loop_monitor import MonitorResult
    from ..lessons.stall_demo import StallRun

FONT = {"font.size": 12, "axes.titlesize": 14, "axes.labelsize": 12, "legend.fontsize": 10}
STALL_COLOUR = "#c62828"
TICK_COLOUR = "#1565c0"
MISSED_COLOUR = "#6a1b9a"


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def draw_timeline(ax: Axes, result: MonitorResult, ymax_ms: float | None = None, xmax_s: float | None = None) -> None:
    """Per-tick lag as a thin line, each stall as a bar as wide and as tall as it lasted."""
    times = result.tick_times
    lags_ms = [lag * 1000 for lag in result.tick_lags]
    ax.plot(times, lags_ms, linestyle="none", marker=".", markersize=4, color=TICK_COLOUR, label="tick lag")
    for n, stall in enumerate(result.stalls):
        ax.bar(
            stall.start_s,
            stall.duration_s * 1000,
            width=stall.duration_s,
            align="edge",
            color=STALL_COLOUR,
            alpha=0.55,
            label="stall" if n == 0 else None,
        )
    ax.axhline(result.stall_threshold * 1000, color="grey", linestyle=":", linewidth=1, label="stall threshold")
    ax.set_xlim(0, xmax_s or max(result.duration_s, 1e-3))
    ax.set_ylim(0, ymax_ms or max(10.0, result.max_ms * 1.15))
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("tick lag (ms)")
    ax.grid(True, alpha=0.3)


def draw_missed_beats(ax: Axes, missed: Sequence[float]) -> None:
    """A marker along the top of the axes for every heartbeat the loop swallowed."""
    if missed:
        ax.plot(
            list(missed),
            [0.93] * len(missed),
            linestyle="none",
            marker="x",
            markersize=9,
            markeredgewidth=2,
            color=MISSED_COLOUR,
            transform=ax.get_xaxis_transform(),
            label="missed heartbeat",
        )


def draw_histogram(ax: Axes, result: MonitorResult, bins: Any) -> None:
    """How often each lag happened (every expected tick counted), log-scaled counts."""
    from matplotlib import ticker

    samples_ms = [s * 1000 for s in result.samples]
    ax.hist(samples_ms, bins=bins, color=TICK_COLOUR, alpha=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))  # 1, 10, 100, not 10^n
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("tick lag (ms)")
    ax.set_ylabel("ticks")
    ax.grid(True, alpha=0.3)


def plot_monitor(result: MonitorResult, ax: Axes | None = None) -> Any:
    """One monitor result as a timeline; returns the Figure."""
    import matplotlib

    with matplotlib.rc_context(FONT):
        if ax is None:
            fig = _new_figure(9, 4)
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        draw_timeline(ax, result)
        ax.set_title(f"Event-loop lag: p99 {result.p99_ms:.1f} ms, {result.stalled_s:.2f} s stalled")
        ax.legend(loc="upper right")
    return fig


def plot_runs(runs: Sequence[StallRun]) -> Any:
    """Demo runs side by side on the same scales: timelines on top, histograms below."""
    import matplotlib
    import numpy as np

    if not runs:
        raise ValueError("plot_runs needs at least one run to draw")
    ymax = max(10.0, max(run.monitor.max_ms for run in runs) * 1.2)
    bins = np.linspace(0, ymax, 41)
    xmax = max(run.monitor.duration_s for run in runs)
    with matplotlib.rc_context(FONT):
        fig = _new_figure(5.2 * len(runs) + 0.5, 7.5)
        grid = fig.subplots(2, len(runs), squeeze=False, sharey="row", gridspec_kw={"height_ratios": [3, 2]})
        for col, run in enumerate(runs):
            top, bottom = grid[0][col], grid[1][col]
            draw_timeline(top, run.monitor, ymax_ms=ymax, xmax_s=xmax)
            draw_missed_beats(top, run.heartbeat.missed)
            verdict = "looked dead" if run.heartbeat.looked_dead else f"{len(run.heartbeat.missed)} beats missed"
            top.set_title(f"{run.label}\np99 {run.p99_ms:.1f} ms, {verdict}")
            draw_histogram(bottom, run.monitor, bins)
            if col:
                top.set_ylabel("")
                bottom.set_ylabel("")
        handles: dict[str, Any] = {}
        for ax in grid[0]:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=len(handles))
        first = runs[0]
        fig.suptitle(
            f"{first.requests} concurrent requests of {first.call_s:g} s ({first.work} work), "
            f"heartbeat every {first.heartbeat.period_s * 1000:.0f} ms"
        )
    return fig
