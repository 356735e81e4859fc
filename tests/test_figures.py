"""The figures learners see: drawn without pyplot (so a cell shows each once), at most as wide as
JupyterLab's column, no text under 9 pt, and each one's point visible in the drawing itself."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from labkit.figures.chaos import plot_chaos  # noqa: E402
from labkit.figures.shutdown import outcome, plot_shutdowns  # noqa: E402
from labkit.figures.stall import plot_monitor, swallowed_ticks  # noqa: E402
from labkit.figures.style import MAX_WIDTH_IN, MIN_FONT_PT  # noqa: E402
from labkit.instruments.loop_monitor import MonitorResult, Stall  # noqa: E402
from labkit.lessons.race_demo import doc_state, incident  # noqa: E402
from labkit.lessons.shutdown_demo import ShutdownRun  # noqa: E402
from labkit.tasks.chaos import ChaosResult, Fault, Fired  # noqa: E402


def assert_fit_to_show(fig) -> None:
    fig.canvas.draw()
    width, _ = fig.get_size_inches()
    assert width <= MAX_WIDTH_IN, f"{width} in wide: JupyterLab would shrink it"
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    assert sizes and min(sizes) >= MIN_FONT_PT, f"text of {min(sizes)} pt"
    assert fig.canvas.manager is None, "drawn through pyplot: a cell ending in .plot() would show it twice"


def monitor_with_a_stall() -> MonitorResult:
    times = [0.01 * i for i in range(1, 11)] + [0.6] + [0.6 + 0.01 * i for i in range(1, 11)]
    lags = [0.0002] * 10 + [0.5] + [0.0002] * 10
    return MonitorResult(interval=0.01, stall_threshold=0.05, duration_s=0.7, tick_times=times, tick_lags=lags,
                         stalls=[Stall(start_s=0.1, duration_s=0.5)])


def test_the_monitor_figure_shows_the_ticks_a_stall_swallowed() -> None:
    result = monitor_with_a_stall()
    xs, ys = swallowed_ticks(result)
    assert len(xs) == 48 and ys[0] == pytest.approx(490) and ys[-1] == pytest.approx(20)
    assert all(0.1 <= x <= 0.6 for x in xs)  # due inside the stall, where the text says they were lost
    fig = plot_monitor(result)
    assert_fit_to_show(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"  # a 500 ms stall and a 0.2 ms tick both readable
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1  # the legend sits beside the axes, covering no tick


async def test_the_schedule_figures_name_each_schedule_and_tell_the_worker_steps_apart(lab) -> None:
    result = await incident(lab, "naive").explore()
    grid = result.plot()
    assert_fit_to_show(grid)
    ids = [t.get_text() for t in grid.axes[0].get_yticklabels()]
    assert ids == [run.schedule_id for run in result.runs[: len(ids)]]
    timeline = result.first_failure.plot(state_of=doc_state, state_label="d1 state")
    assert_fit_to_show(timeline)
    worker_boxes = [t.get_text() for t in timeline.axes[0].texts if t.get_text().startswith("EXEC")]
    assert len(worker_boxes) >= 2 and len(set(worker_boxes)) == len(worker_boxes), worker_boxes


def test_a_kill_and_a_sigterm_at_the_same_moment_both_show() -> None:
    fired = [Fired(Fault(5, "kill", 0), t=1.0, worker="w0"), Fired(Fault(5, "sigterm", 1), t=1.0, worker="w1")]
    result = ChaosResult(seed=1, workers=3, tasks=10, schedule=[f.fault for f in fired], fired=fired, tasks_done=10,
                         effective_completions=10, duplicate_executions=1, stale_completions=1, done_to_fail=0,
                         lost=[], dead_verdicts=1, crashed=[], sigterm_exit_codes={"w1": 0}, seconds=2.0,
                         timeline=[(0.5, 3), (1.5, 7), (2.0, 10)])
    fig = plot_chaos(result)
    assert_fit_to_show(fig)
    markers = [line.get_ydata()[0] for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 1
               and line.get_xdata()[0] == 1.0 and line.get_marker() not in ("None", "")]
    assert len(set(markers)) == 2  # one row per kind: neither hides the other
    tally = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert "zombie writes fenced off" in tally and "DONE -> FAIL" in tally  # labels on their own rows
    legend, progress = fig.axes[0].get_legend().get_window_extent(), fig.axes[0].get_window_extent()
    assert legend.y1 <= progress.y0  # below the axes: it covers none of the DONE line


def test_a_shutdown_that_ignored_its_grace_is_not_drawn_as_clean() -> None:
    run = ShutdownRun("blocked-sync", t0=0.0, signals=[(0.2, "SIGTERM")], exit_code=0, exited_at=2.1,
                      states_at_exit={"d1-t1": "DONE"}, stuck_running_s=0.0, grace_s=0.5)
    label, good = outcome(run)
    assert not good and "grace ignored" in label
    graceful = ShutdownRun("graceful", t0=0.0, signals=[(0.2, "SIGTERM")], exit_code=0, exited_at=0.9,
                           states_at_exit={"d1-t1": "DONE"}, stuck_running_s=0.0, grace_s=2.0)
    assert outcome(graceful)[1]
    assert_fit_to_show(plot_shutdowns([graceful, run]))


def test_every_figure_carries_its_point_as_one_line() -> None:
    from labkit.figures.style import stating
    from labkit.lessons.demo_panel import said

    monitor = monitor_with_a_stall()
    fig = monitor.plot()
    swallowed = len(monitor.samples) - monitor.ticks
    assert swallowed > 40 and fig.labkit_point == monitor.point
    assert monitor.point.startswith(f"1 stall(s) held the loop for 500 ms and swallowed {swallowed} ticks")
    run = ShutdownRun("blocked-sync", t0=0.0, signals=[(0.2, "SIGTERM")], exit_code=0, exited_at=2.1,
                      states_at_exit={"d1-t1": "DONE"}, stuck_running_s=0.0, grace_s=0.5)
    assert run.plot().labkit_point == run.point == "blocked-sync: exit 0, 0.5 s grace ignored (not clean)."
    with pytest.raises(ValueError, match="one non-empty line"):
        stating(fig, "two\nlines")
    # a demo panel's text opens with the point, once
    assert said(fig, "details").startswith(f"<b>{monitor.point}</b>")
    assert said(fig, f"<pre>{monitor.point}\nmore</pre>").count(monitor.point) == 1


def test_the_chaos_point_names_the_fencing() -> None:
    fired = [Fired(Fault(5, "freeze", 0), t=1.0, worker="w0", replacement="w0-restart1", seconds=1.1, task="doc2-t1")]
    result = ChaosResult(seed=1, workers=3, tasks=10, schedule=[f.fault for f in fired], fired=fired, tasks_done=10,
                         effective_completions=10, duplicate_executions=1, stale_completions=1, done_to_fail=0,
                         lost=[], dead_verdicts=1, crashed=[], sigterm_exit_codes={}, seconds=2.0,
                         timeline=[(0.5, 3), (1.5, 7), (2.0, 10)])
    fig = plot_chaos(result)
    assert_fit_to_show(fig)
    assert "1 ran again, 1 zombie write(s) fenced off" in result.point
    assert str(result).splitlines()[0] == result.point == result.plot().labkit_point
    assert "w0 frozen 1.1 s holding doc2-t1" in str(result)
