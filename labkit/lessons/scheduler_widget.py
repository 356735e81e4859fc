"""The "be the scheduler" panel: the learner picks which actor steps next.

All the logic lives in :class:`labkit.instruments.explorer.Session`; this module only draws
buttons, the Redis state and the log, and forwards clicks.

The panel owns its keys: a prefix of its own, and the scenario is set up again
on "start over" and on the first click of a run, so a later cell that deletes
keys (``lab.cleanup()`` at the end of a notebook, after Run All) cannot leave the
learner playing against an empty Redis. Clicks run as tasks
on the notebook's own event loop (never ``asyncio.run``), handed over with
``run_coroutine_threadsafe`` since a widget callback may run on another thread,
so the kernel stays responsive while a step's Redis command is in flight.

In a notebook::

    panel = await be_the_scheduler("naive")   # or "recheck", "watch", "lua", "epoch"
    panel
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import uuid
from typing import Any, Optional

from ..instruments.explorer import Session, format_value
from ..redis.target import RedisTarget, redis_target
from .race_demo import VARIANTS, doc_state, incident


class SchedulerPanel:
    """Buttons (one per actor), the state of every key, the steps so far, and a verdict."""

    def __init__(self, target: Optional[RedisTarget] = None, variant: str = "naive") -> None:
        import ipywidgets as w

        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        self.target = (target or redis_target()).child(f"scheduler-{uuid.uuid4().hex[:6]}")
        self.variant = variant
        self.session: Optional[Session] = None
        self.loop = asyncio.get_running_loop()  # created in a cell: its loop owns the session
        self.previous_state: dict[str, Any] = {}
        self._busy = False
        self._w = w
        self.choice = w.Dropdown(options=[(f"{k}: {v[2]}", k) for k, v in VARIANTS.items()], value=variant,
                                 description="variant", layout=w.Layout(width="460px"))
        self.restart = w.Button(description="start over", icon="refresh")
        self.buttons: dict[str, Any] = {}
        self.button_box = w.VBox()  # one actor per line: long step labels stay readable
        self.state_html = w.HTML()
        self.log_html = w.HTML()
        self.banner = w.HTML()
        self.restart.on_click(lambda _b: self._spawn(self.reset()))
        self.choice.observe(lambda change: self._spawn(self.reset(change["new"])), names="value")
        self.widget = w.VBox([
            w.HTML("<b>Be the scheduler.</b> Click which actor runs its next Redis command. "
                   "Can you make <code>d1</code> go DONE &rarr; FAIL?"),
            w.HBox([self.choice, self.restart]), self.button_box, self.banner,
            w.HBox([self.state_html, self.log_html]),
        ])
        # classes the browser tests click through (a real JupyterLab, not method calls)
        self.widget.add_class("labkit-scheduler")
        self.restart.add_class("labkit-scheduler-restart")
        self.banner.add_class("labkit-scheduler-banner")

    # -- driving (async: call these from tests, or let the buttons do it) ------------------
    async def reset(self, variant: Optional[str] = None) -> None:
        """Throw away the current run and set the scenario up again."""
        if variant is not None:
            if variant not in VARIANTS:
                raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
            self.variant = variant
        if self.session is not None:
            await self.session.finish()
        self.session = await incident(self.target, self.variant, step_timeout=5.0).session()
        self.previous_state = dict(self.session.state)
        self._render(f"Variant <b>{html.escape(self.variant)}</b>: {html.escape(VARIANTS[self.variant][2])}.")

    async def click(self, actor: str) -> None:
        """Let ``actor`` take its next step (what a button does); a run's first click sets the scenario up anew."""
        if self._busy:
            return
        self._busy = True
        try:
            if self.session is None or not self.session.steps:
                await self.reset()
            assert self.session is not None
            self.previous_state = dict(self.session.state)
            await self.session.step(actor)
            if self.session.finished:
                run = await self.session.finish()
                if run.failed:
                    self._render(f"<span style='color:#c62828;font-size:1.2em'><b>{html.escape(run.message)}</b></span>"
                                 f"<br>Schedule id <code>{run.schedule_id}</code> - replay it with the explorer.")
                else:
                    self._render(f"<span style='color:#2e7d32;font-size:1.2em'>Finished: d1 is "
                                 f"<b>{doc_state(run.final)}</b> and every invariant holds.</span> "
                                 "Press <i>start over</i> and try another order.")
            else:
                self._render("")
        finally:
            self._busy = False

    # -- drawing ---------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        # Widget callbacks may arrive on another thread than the cell that made the panel
        # (ipykernel 7 handles comm messages off the main loop), and the session's Redis
        # client belongs to that cell's loop: hand the coroutine over, thread-safely.
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)

        def report(f: "concurrent.futures.Future[Any]") -> None:
            if not f.cancelled() and f.exception() is not None:
                self.banner.value = f"<pre style='color:#c62828'>{html.escape(repr(f.exception()))}</pre>"

        future.add_done_callback(report)

    def _render(self, message: str) -> None:
        w = self._w
        session = self.session
        assert session is not None
        enabled = session.enabled()
        buttons = []
        for actor in session.actors:
            label = enabled.get(actor)
            text = f"{actor}: {label}" if label else f"{actor}: {session.status(actor)}"
            button = w.Button(description=text if len(text) <= 72 else text[:71] + "\u2026",
                              tooltip=label or session.status(actor),
                              disabled=label is None or session.result is not None,
                              layout=w.Layout(width="auto", max_width="100%"))
            button.on_click(lambda _b, a=actor: self._spawn(self.click(a)))
            button.add_class(f"labkit-actor-{actor}")
            buttons.append(button)
            self.buttons[actor] = button
        self.button_box.children = tuple(buttons)
        self.banner.value = message
        rows = []
        for key, value in session.state.items():
            changed = self.previous_state.get(key) != value
            style = " style='background:#fff59d'" if changed else ""
            name = html.escape(session.state.short(key))  # the keys the code writes, shown without the prefix
            rows.append(f"<tr{style}><td style='white-space:nowrap'><code>{name}</code></td>"
                        f"<td style='white-space:nowrap'><code>{html.escape(format_value(value))}</code></td></tr>")
        for key in self.previous_state:
            if key not in session.state:
                name = html.escape(session.state.short(key))
                rows.append(f"<tr style='background:#fff59d'><td style='white-space:nowrap'><code>{name}</code></td>"
                            "<td><i>(deleted)</i></td></tr>")
        self.state_html.value = ("<b>Redis now</b><table style='font-size:0.95em'>" + "".join(rows) + "</table>")
        steps = "".join(f"<li><b>{html.escape(r.actor)}</b>: <code>{html.escape(r.label)}</code> "
                        f"&rarr; {html.escape(r.reply)}</li>" for r in session.steps)
        self.log_html.value = f"<b>Steps</b> <code>{session.schedule_id}</code><ol>{steps}</ol>"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


async def be_the_scheduler(variant: str = "naive", target: Optional[RedisTarget] = None) -> SchedulerPanel:
    """A ready panel for ``variant``; show it by leaving it as the cell's last line."""
    panel = SchedulerPanel(target, variant)
    await panel.reset()
    return panel
