"""Figures for the interleaving explorer: every schedule at a glance, and one run's timeline.

Plot code only; the numbers come from :mod:`labkit.instruments.explorer` result objects.
Sized and labelled to be read on a projector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from .style import BAD, BLUE, GREY, OK, ORANGE, PURPLE, SKY, YELLOW, new_figure, styled

if TYPE_CHECKING:  # pragma: no cover
    from ..instruments.explorer import ExploreResult, RunResult, Snapshot

_ACTOR_COLOURS = [BLUE, SKY, PURPLE, YELLOW, GREY, ORANGE]
_OK, _BAD = OK, BAD


def plot_schedules(result: "ExploreResult", *, max_rows: int = 40, ax: Any = None) -> Any:
    """One row per schedule (its id at the left), one cell per step coloured by actor, the verdict at the right."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    runs = result.runs[:max_rows]
    names = list(result.aliases)
    width = max((len(r.steps) for r in runs), default=1)
    grid = [[0.0] * (width + 1) for _ in runs]
    for row, run in enumerate(runs):
        for col, rec in enumerate(run.steps):
            grid[row][col] = names.index(rec.actor) + 1
        grid[row][width] = len(names) + (2 if run.failed else 1)
    colours = ["#ffffff"] + _ACTOR_COLOURS[: len(names)] + [_OK, _BAD]
    with styled():
        if ax is None:
            fig = new_figure(9.4, max(3.0, 0.26 * len(runs) + 1.8))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        ax.imshow(grid, aspect="auto", cmap=ListedColormap(colours), vmin=0, vmax=len(colours) - 1,
                  interpolation="nearest")
        ax.set_xlabel("step")
        ax.set_xticks(list(range(width)) + [width])
        ax.set_xticklabels([str(i + 1) for i in range(width)] + ["outcome"])
        ax.set_yticks(range(len(runs)), [r.schedule_id for r in runs], fontsize=9, family="monospace")
        ax.set_ylabel("schedule (run order)")
        verdicts = ax.secondary_yaxis("right")
        verdicts.set_yticks(range(len(runs)), [_verdict(r) for r in runs], fontsize=9)
        failing = len(result.failing)
        shown = f" (first {len(runs)} shown)" if len(result.runs) > len(runs) else ""
        ax.set_title(f"{result.name}: {result.schedules} schedules, {failing} break an invariant{shown}")
        handles = [Patch(color=_ACTOR_COLOURS[i], label=n) for i, n in enumerate(names)]
        handles += [Patch(color=_OK, label="invariants hold"), Patch(color=_BAD, label="invariant broken")]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    return fig


def _verdict(run: "RunResult") -> str:
    """A row's outcome in a few words: 'ok', or the failure without its command."""
    if not run.failed:
        return "ok"
    message = run.message.split(" (", 1)[0]
    return message if len(message) <= 48 else message[:47] + "..."


def plot_timeline(
    run: "RunResult",
    *,
    state_of: Optional[Callable[["Snapshot"], Any]] = None,
    state_label: str = "state",
    ax: Any = None,
) -> Any:
    """One lane per actor with each step as a labelled box; the breaking step in red.

    ``state_of(snapshot)`` adds a top lane showing one value after each step
    (for the demo: the document's run state).
    """
    names = list(run.actors)
    lanes = names + ([state_label] if state_of else [])
    steps = run.steps
    with styled():
        if ax is None:
            fig = new_figure(9.4, 1.35 * len(lanes) + 1.6)
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        bad_step = _breaking_step(run)
        for rec in steps:
            y = names.index(rec.actor)
            colour = _BAD if rec.index == bad_step else _ACTOR_COLOURS[y % len(_ACTOR_COLOURS)]
            edge = {"edgecolor": "black", "linewidth": 2.5} if rec.index == bad_step else {}
            ax.barh(y, 0.94, left=rec.index - 0.47, height=0.8, color=colour, **edge)
            ax.text(rec.index, y, _short_label(rec.label), ha="center", va="center", fontsize=9,
                    color="black" if colour in (ORANGE, SKY, YELLOW) else "white")
        if state_of:
            y = len(names)
            previous = state_of(run.initial)
            ax.text(0, y, str(previous), ha="center", va="center", fontsize=10)
            for rec in steps:
                value = state_of(rec.state)
                weight = "bold" if value != previous else "normal"
                ax.text(rec.index, y, str(value), ha="center", va="center", fontsize=10, fontweight=weight,
                        color=_BAD if rec.index == bad_step else "black")
                previous = value
        ax.set_yticks(range(len(lanes)), lanes)
        ax.set_xticks(range(0, len(steps) + 1), ["start"] + [str(i) for i in range(1, len(steps) + 1)])
        ax.set_xlim(-0.6, len(steps) + 0.6)
        ax.set_ylim(-0.6, len(lanes) - 0.4)
        ax.invert_yaxis()
        ax.set_xlabel("step")
        verdict = "invariants hold" if not run.failed else _verdict(run)
        ax.set_title(f"schedule {run.schedule_id}: {verdict}", color=_BAD if run.failed else _OK)
    return fig


def _short_label(label: str) -> str:
    """A step in three short lines: the command, its key, its first arguments.

    'MULTI/EXEC [HSET task:d1-t2 state DONE; ...]' becomes 'EXEC: HSET' / 'task:d1-t2' / 'state DONE +4',
    so two transactions of the same actor can be told apart.
    """
    head, inner = "", label
    if label.startswith(("MULTI/EXEC [", "PIPELINE [")):
        prefix, _, inner = label.partition(" [")
        head = ("EXEC" if prefix.startswith("MULTI") else "PIPE") + ": "
    commands = [part.strip() for part in inner.rstrip("]").split(";") if part.strip()]
    words = commands[0].split(" ") if commands else [label]
    lines = [head + words[0]]
    if len(words) > 1:
        lines.append(_clip(words[1], 16))
    rest = " ".join(words[2:4])
    more = f" +{len(commands) - 1}" if len(commands) > 1 else ""
    if rest or more:
        lines.append(_clip(rest, 14) + more)
    return "\n".join(lines)


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "~"


def _breaking_step(run: "RunResult") -> Optional[int]:
    """The step index a failure message points at ('at step N'), if any."""
    marker = "at step "
    if not run.failed or marker not in run.message:
        return None
    tail = run.message.split(marker, 1)[1]
    digits = "".join(c for c in tail[:4] if c.isdigit())
    return int(digits) if digits else None
