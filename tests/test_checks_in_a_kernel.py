"""The check transport in a real Jupyter kernel, with answers written in cells as a learner writes them:
globals from cells above reach the module a worker process imports (run here by a process that sends
itself SIGTERM), a crash in a worker names the cell's own line, and a
runaway loop in the kernel is stopped and does not make the next check misjudge."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.timeout(300)

CELLS = [
    "import asyncio, json, signal\nimport labkit\nfrom signal import SIGTERM\nSIGNALS = (signal.SIGTERM, signal.SIGINT)",
    "def install_stop_handlers(loop, stop):\n    for sig in SIGNALS:\n        loop.add_signal_handler(sig, stop.set)",
    # the module a worker-process check writes, imported by a real process that signals itself
    "import subprocess, sys\nfrom labkit.exercises.learner_code import LearnerModule\n"
    "with LearnerModule(install_stop_handlers, 'install_stop_handlers', 'install_stop_handlers') as module:\n"
    "    carried = subprocess.run([sys.executable, '-c', PROBE], cwd=module.dir, capture_output=True, text=True, "
    "timeout=60)",
    "async def handle(system_msg, history, conf):\n    reply = await asyncio.to_thread(labkit.llm.chat, system_msg, "
    "history, conf)\n    return reply / 2",
    "crashed = await labkit.check('04.offload-handler', handle)",
    "async def fetch_all(fetch, names):\n    while True:\n        pass",
    "runaway = await labkit.check('00.fetch-all', fetch_all, time_limit=1)",
    "async def fetch_all(fetch, names):\n    return await asyncio.gather(*(fetch(n) for n in names))",
    "after = await labkit.check('00.fetch-all', fetch_all)",
    "print(json.dumps({name: [r.passed, r.message, r.details] for name, r in "
    "[('crashed', crashed), ('runaway', runaway), ('after', after)]} | {'carried': [carried.returncode, "
    "carried.stdout, carried.stderr]}))",
]
PROBE = """
import asyncio, os, signal
import learner_answer

async def main():
    stop = asyncio.Event()
    learner_answer.install_stop_handlers(asyncio.get_running_loop(), stop)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(stop.wait(), 10)
    print("stopped by SIGTERM")

asyncio.run(main())
"""
CELLS.insert(0, f"PROBE = {PROBE!r}")


def test_checks_from_notebook_cells(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABKIT_CHECK_MODE", raising=False)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    import json

    got = json.loads(nb.cells[-1].outputs[0]["text"])
    code, out, err = got["carried"]
    assert code == 0 and out.strip() == "stopped by SIGTERM", err
    passed, message, details = got["crashed"]
    assert not passed and message.startswith("Your handle raised TypeError"), message
    assert "at line 3: `return reply / 2`" in message and "declared dead" not in message
    assert "return reply / 2" in details
    passed, message, _ = got["runaway"]
    assert not passed and "so the check stopped it" in message and "while True" in message, message
    assert got["after"][0] and not got["after"][1].startswith("Note:"), got["after"][1]
