"""The rule-1 demos: result objects with the expected numbers, plots that draw, the panel."""

from __future__ import annotations

import io
import time

import matplotlib
import pytest

matplotlib.use("Agg")

from labkit.model.cpu_pool import shutdown_shared_pool  # noqa: E402
from labkit.lessons.stall_demo import StallComparison, StallRun, _missed_beats, compare, run_stall  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _stop_pool():
    yield
    shutdown_shared_pool()


async def test_blocking_run_stalls_and_misses_heartbeats() -> None:
    run = await run_stall("blocking", "io", call_s=0.2, requests=2)
    assert isinstance(run, StallRun)
    assert run.replies_ok
    # The real SDK call on the loop: the loop is stalled for as long as the requests take, one after another.
    assert run.monitor.stalled_s == pytest.approx(run.work_s, rel=0.15)
    assert run.work_s >= 0.9 * 2 * 0.2
    assert len(run.heartbeat.missed) >= 4
    assert run.heartbeat.looked_dead
    assert run.summary()["stalls"] >= 1
    assert "looked dead" in str(run)


async def test_to_thread_run_keeps_the_loop_free() -> None:
    # A contrast with the blocking run on the same loop, not an absolute bound: a busy machine may delay one beat.
    blocking = await run_stall("blocking", "io", call_s=0.2, requests=3)
    run = await run_stall("to_thread", "io", call_s=0.2, requests=3)
    assert run.replies_ok
    assert run.p99_ms * 10 < blocking.p99_ms
    assert run.work_s * 2 < blocking.work_s  # all three at once
    assert len(run.heartbeat.missed) <= 1 < 4 <= len(blocking.heartbeat.missed)
    assert not run.heartbeat.looked_dead and blocking.heartbeat.looked_dead


async def test_async_client_cpu_work_still_stalls() -> None:
    run = await run_stall("async_client", "cpu", call_s=0.15, requests=1)
    assert run.monitor.stall_count == 1


async def test_process_pool_keeps_cpu_work_off_the_loop() -> None:
    run = await run_stall("process_pool", "cpu", call_s=0.2, requests=1)
    assert run.replies_ok
    assert run.monitor.stall_count == 0


async def test_comparison_shape_and_plot() -> None:
    seen: list[float] = []
    result = await compare(["blocking", "to_thread"], "io", call_s=0.1, requests=2, progress=lambda f, m: seen.append(f))
    assert isinstance(result, StallComparison)
    assert [r.strategy for r in result.runs] == ["blocking", "to_thread"]
    assert result["blocking"].p99_ms > 10 * result["to_thread"].p99_ms
    assert seen and seen[-1] == pytest.approx(1.0)
    assert len(result.summary()) == 2
    fig = result.plot()
    assert len(fig.axes) == 4
    timelines = fig.axes[0], fig.axes[1]
    assert timelines[0].get_ylim() == timelines[1].get_ylim()  # same scale side by side
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getbuffer().nbytes > 10_000
    assert result["to_thread"].plot() is not None
    with pytest.raises(KeyError, match="process_pool"):
        result["process_pool"]


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"strategy": "fast"}, ValueError, "strategy"),
        ({"work": "gpu"}, ValueError, "work"),
        ({"call_s": "1"}, TypeError, "call_s"),
        ({"call_s": -0.1}, ValueError, "call_s"),
        ({"requests": 0}, ValueError, "requests"),
        ({"requests": 2.5}, TypeError, "requests"),
    ],
)
async def test_bad_demo_input(kwargs: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        await run_stall(**kwargs)


async def test_compare_rejects_a_bare_string() -> None:
    with pytest.raises(TypeError, match="list of names"):
        await compare("blocking")


def test_missed_beats_are_the_due_times_inside_a_gap() -> None:
    missed, longest = _missed_beats([0.1, 0.2, 0.7, 0.8], start=0.0, period=0.1)
    assert missed == pytest.approx((0.3, 0.4, 0.5, 0.6))
    assert longest == pytest.approx(0.5)
    assert _missed_beats([0.1, 0.2], 0.0, 0.1)[0] == ()


def test_panel_reruns_the_demo_with_progress() -> None:
    from labkit.lessons.stall_widget import stall_panel

    panel = stall_panel()
    sliders = panel.children[0].children
    sliders[0].value, sliders[1].value = 0.1, 1
    panel.run_button.click()
    deadline = time.monotonic() + 20
    while panel.run_button.disabled and time.monotonic() < deadline:
        time.sleep(0.05)
    picture, bar = panel.children[3], panel.children[2].children[0]
    assert not panel.run_button.disabled
    assert bar.description == "done", panel.children[2].children[1].value
    assert picture.value[:4] == b"\x89PNG"


def test_demo_panel_reports_a_failed_run_in_the_panel() -> None:
    from labkit.lessons.demo_panel import demo_panel

    async def broken(progress):
        progress(0.5, "half way")
        raise ValueError("the demo broke")

    panel = demo_panel([[]], broken, name="broken")
    panel.run_button.click()
    deadline = time.monotonic() + 10
    while panel.run_button.disabled and time.monotonic() < deadline:
        time.sleep(0.02)
    bar, status = panel.children[1].children
    assert bar.description == "failed" and "ValueError: the demo broke" in status.value
    assert "labkit-demo" in panel._dom_classes and "labkit-rerun" in panel.run_button._dom_classes
