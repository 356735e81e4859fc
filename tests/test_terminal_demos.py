"""`labkit demo NAME`: the headline demos in a terminal, no Jupyter."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from labkit.cli.demo import BARS, sparkline

pytestmark = pytest.mark.redis


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labkit", "demo", *args], capture_output=True, text=True, timeout=120)


def test_sparkline_draws_a_stall_as_wide_as_it_lasted() -> None:
    # a tick at t=1.0 s that ran 0.5 s late: the loop was stuck from 0.5 s to 1.0 s
    line = sparkline([0.25, 1.0], [0.0, 0.5], span=1.0, top=0.5, width=10)
    assert line[:5] == "     " and line[5] == BARS[-1]
    assert all(c != " " for c in line[5:9]), line


def test_stall_demo_shows_the_blocking_run_and_its_culprit() -> None:
    result = _demo("stall")
    assert result.returncode == 0, result.stderr
    assert "blocking (io)" in result.stdout and "the worker looked dead" in result.stdout
    culprit = next(line for line in result.stdout.splitlines() if "first stall blocked in:" in line)
    assert "labkit/lessons/stall_demo.py" in culprit, culprit  # the blocking call, named through the real SDK
    # The contrast, not an absolute: blocking misses many beats, offloaded at most one (a busy machine may delay one).
    missed = {line.split(":")[0].strip(): int(re.search(r"(\d+) heartbeat\(s\) missed", line).group(1))
              for line in result.stdout.splitlines() if "heartbeat(s) missed" in line}
    assert missed["blocking (io)"] >= 5 and missed["to_thread (io)"] <= 1 and missed["async_client (io)"] <= 1, missed


def test_race_demo_finds_done_to_fail_and_clears_the_fixes() -> None:
    result = _demo("race")
    assert result.returncode == 0, result.stderr
    assert "VIOLATION: d1 went DONE -> FAIL" in result.stdout
    fixes = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ") and "schedules," in line}
    assert "failing" in fixes["recheck"] and "none failing" not in fixes["recheck"]
    assert "none failing" in fixes["lua"] and "none failing" in fixes["epoch"]


def test_heartbeat_demo_breaks_the_broken_modes_only() -> None:
    result = _demo("heartbeat")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if "false 'dead' verdicts" in line}
    assert set(rows) == {"same-loop", "sync-client", "offload", "async-client", "thread"}
    for mode in ("same-loop", "sync-client"):
        assert "BROKEN" in rows[mode] and "duplicate executions: 0" not in rows[mode]
    for mode in ("offload", "async-client", "thread"):
        assert " ok " in rows[mode] and "false 'dead' verdicts: 0, duplicate executions: 0" in rows[mode]


def test_shutdown_demo_only_the_dying_worker_is_lossy() -> None:
    result = _demo("shutdown")
    assert result.returncode == 0, result.stderr
    lossy = [line for line in result.stdout.splitlines() if line.strip().startswith("LOSSY")]
    clean = [line for line in result.stdout.splitlines() if line.strip().startswith("clean")]
    assert len(lossy) == 1 and "just-dies" in lossy[0]
    assert len(clean) == 5 and all("exit code 0" in line for line in clean)


def test_chaos_demo_holds_every_invariant() -> None:
    result = _demo("chaos")
    assert result.returncode == 0, result.stderr
    assert "every invariant held" in result.stdout and "tasks DONE: 30/30" in result.stdout
    assert "DONE -> FAIL: 0; lost tasks: 0" in result.stdout


def test_listing_and_unknown_demo() -> None:
    listing = _demo()
    assert listing.returncode == 0 and "stall" in listing.stdout and "race" in listing.stdout
    unknown = _demo("nope")
    assert unknown.returncode == 2 and "No demo called 'nope'" in unknown.stderr
