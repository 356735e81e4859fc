"""Figures for the interleaving explorer: every schedule at a glance, and one run's timeline.

Plot code only; the numbers come from :mod:`labkit.instruments.explorer` result objects.
Sized and labelled to be read on a projector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ..instruments.explorer import ExploreResult, RunResult, Snapshot

_ACTOR_COLOURS = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2"]
_OK, _BAD = "#2e7d32", "#c62828"


def _pyplot() -> Any:
    """pyplot, imported late so that importing labkit never pulls in matplotlib."""
    import matplotlib.pyplot as plt

    return plt


def plot_schedules(result: "ExploreResult", *, max_rows: int = 80, ax: Any = None) -> Any:
    """One row per schedule, one cell per step coloured by actor, outcome at the right."""
    plt = _pyplot()
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
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * width + 3), max(3.0, 0.22 * len(runs) + 1.5)))
    else:
        fig = ax.figure
    ax.imshow(grid, aspect="auto", cmap=ListedColormap(colours), vmin=0, vmax=len(colours) - 1,
              interpolation="nearest")
    ax.set_xlabel("step")
    ax.set_ylabel("schedule (run order)")
    ax.set_xticks(list(range(width)) + [width])
    ax.set_xticklabels([str(i + 1) for i in range(width)] + ["outcome"], fontsize=9)
    ax.set_yticks([])
    failing = len(result.failing)
    shown = f" (first {len(runs)} shown)" if len(result.runs) > len(runs) else ""
    ax.set_title(f"{result.name}: {result.schedules} schedules, {failing} break an invariant{shown}", fontsize=13)
    handles = [Patch(color=_ACTOR_COLOURS[i], label=n) for i, n in enumerate(names)]
    handles += [Patch(color=_OK, label="invariants hold"), Patch(color=_BAD, label="invariant broken")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10, frameon=False)
    fig.tight_layout()
    return fig


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
    plt = _pyplot()
    names = list(run.actors)
    lanes = names + ([state_label] if state_of else [])
    steps = run.steps
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(7.0, 1.35 * len(steps) + 2), 1.1 * len(lanes) + 1.4))
    else:
        fig = ax.figure
    bad_step = _breaking_step(run)
    for rec in steps:
        y = names.index(rec.actor)
        colour = _BAD if rec.index == bad_step else _ACTOR_COLOURS[y % len(_ACTOR_COLOURS)]
        ax.barh(y, 0.9, left=rec.index - 0.45, height=0.6, color=colour, alpha=0.9)
        ax.text(rec.index, y, _short_label(rec.label), ha="center", va="center", fontsize=8, color="white")
    if state_of:
        y = len(names)
        previous = state_of(run.initial)
        ax.text(0, y, str(previous), ha="center", va="center", fontsize=9)
        for rec in steps:
            value = state_of(rec.state)
            weight = "bold" if value != previous else "normal"
            ax.text(rec.index, y, str(value), ha="center", va="center", fontsize=9, fontweight=weight,
                    color=_BAD if rec.index == bad_step else "black")
            previous = value
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(lanes, fontsize=11)
    ax.set_xticks(range(0, len(steps) + 1))
    ax.set_xticklabels(["start"] + [str(i) for i in range(1, len(steps) + 1)])
    ax.set_xlim(-0.6, len(steps) + 0.6)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("step")
    verdict = "invariants hold" if not run.failed else run.message
    ax.set_title(f"schedule {run.schedule_id}: {verdict}", fontsize=12, color=_BAD if run.failed else _OK, wrap=True)
    fig.tight_layout()
    return fig


def _short_label(label: str) -> str:
    """The command names of a step, e.g. 'MULTI/EXEC\\nHSET SREM HINCRBY'."""
    if label.startswith(("MULTI/EXEC [", "PIPELINE [")):
        head, _, inner = label.partition(" [")
        names = [part.strip().split(" ")[0] for part in inner.rstrip("]").split(";")]
        return ("EXEC" if head.startswith("MULTI") else "PIPE") + "\n" + " ".join(names[:2]) + (" ..." if len(names) > 2 else "")
    words = label.split(" ")
    return " ".join(words[:2]) if words[0] in ("EVAL", "EVALSHA", "step") else words[0]


def _breaking_step(run: "RunResult") -> Optional[int]:
    """The step index a failure message points at ('at step N'), if any."""
    marker = "at step "
    if not run.failed or marker not in run.message:
        return None
    tail = run.message.split(marker, 1)[1]
    digits = "".join(c for c in tail[:4] if c.isdigit())
    return int(digits) if digits else None
