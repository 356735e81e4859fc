"""Redraw README's pictures from the notebooks' own demos, as the notebooks draw them.

    python docs/make_images.py

Runs the rule-1 comparison (notebook 01), the explorer's failing schedule
(notebook 03) and the heartbeat bug (notebook 04) against the lab's own Redis,
and saves each figure at the inline backend's size (100 dpi, tight box).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import labkit
from labkit.lessons.demo_panel import figure_png
from labkit.lessons.heartbeat_demo import run_heartbeat_demo
from labkit.lessons.race_demo import doc_state, incident
from labkit.lessons.stall_demo import compare

OUT = Path(__file__).resolve().parent / "images"


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    stalls = await compare(work="io")
    (OUT / "stall-comparison.png").write_bytes(figure_png(stalls.plot()))
    race = await incident(labkit.redis_target().child("readme"), "naive").explore()
    timeline = race.first_failure.plot(state_of=doc_state, state_label="d1 state")
    (OUT / "done-to-fail.png").write_bytes(figure_png(timeline))
    heartbeat = await run_heartbeat_demo("same-loop")
    (OUT / "heartbeat-declared-dead.png").write_bytes(figure_png(heartbeat.plot()))
    for path in sorted(OUT.glob("*.png")):
        print(f"{path.relative_to(OUT.parent.parent)}: {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    asyncio.run(main())
