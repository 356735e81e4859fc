"""What the reviewer reports: one finding per problem, and a report that shows itself.

Kept apart from the rules so the CLI, the Python API and the cell magic all
print the same thing, and so tests can compare findings as plain data.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Iterator

from ..markup import inline_html

RULES: dict[str, str] = {
    "R1": "blocking call inside async code",
    "R2": "sync/async boundary that the callers do not support",
    "R3": "check-then-act (TOCTOU) on task or document state",
    "R4": "heartbeat or lease renewal in a loop that also blocks",
    "R5": "long-running loop with no stop event or signal handling",
}


@dataclass(frozen=True, order=True)
class Finding:
    """One broken rule at one place: what is wrong there, and the fix."""

    path: str
    line: int
    col: int
    rule: str
    message: str
    fix: str
    end_line: int = field(default=0, compare=False, repr=False)  # for suppression comments only
    # the reason a ``# labkit: ignore[...]`` comment gave ('' if none); None when not suppressed
    suppressed: str | None = field(default=None, compare=False)

    @property
    def title(self) -> str:
        return RULES[self.rule]

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        del data["end_line"]
        reason = data.pop("suppressed")
        data["title"] = self.title
        if reason is not None:
            data["reason"] = reason
        return data

    def text(self) -> str:
        where = f"{self.path}:{self.line}:{self.col + 1}: {self.rule} {self.message}"
        if self.suppressed is not None:
            return f"{where}\n    suppressed: {self.suppressed or '(no reason given)'}"
        return f"{where}\n    fix: {self.fix}"


@dataclass(frozen=True, order=True)
class Skipped:
    """A file the review could not read or parse; the other files are still reviewed."""

    path: str
    why: str

    def text(self) -> str:
        return f"{self.path}: skipped, {self.why}"


@dataclass
class Review:
    """Every finding from one review, in file and line order.

    Truthy when there is something to fix, so ``if review_paths(...):`` reads well.
    Suppressed findings and skipped files are listed apart: they are shown, not counted.
    """

    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.findings = sorted(self.findings)
        self.suppressed = sorted(self.suppressed)
        self.skipped = sorted(self.skipped)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def __bool__(self) -> bool:
        return bool(self.findings)

    def __getitem__(self, index: int) -> Finding:
        return self.findings[index]

    def rules(self) -> list[str]:
        """The rule of each finding, in order: handy in tests and checks."""
        return [f.rule for f in self.findings]

    def counts(self) -> dict[str, int]:
        return {rule: sum(1 for f in self.findings if f.rule == rule) for rule in RULES}

    def to_dict(self) -> dict[str, object]:
        return {
            "files": list(self.files),
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
            "suppressed": [f.to_dict() for f in self.suppressed],
            "skipped": [{"path": s.path, "why": s.why} for s in self.skipped],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def text(self) -> str:
        parts = [f.text() for f in self.findings]
        if self.suppressed:
            parts += ["Suppressed by a labkit: ignore comment (not counted):", *(f.text() for f in self.suppressed)]
        if self.skipped:
            parts += ["Skipped, not reviewed:", *(s.text() for s in self.skipped)]
        parts.append(self.summary())
        return "\n".join(parts)

    def summary(self) -> str:
        """One line: how many findings in how many files, and what was left out."""
        extra = "".join(
            f", {n} {what}" for n, what in ((len(self.suppressed), "suppressed"), (len(self.skipped), "skipped")) if n
        )
        if self.findings:
            counts = ", ".join(f"{rule}: {n}" for rule, n in self.counts().items() if n)
            return f"{len(self.findings)} finding(s) in {len(self.files)} file(s) ({counts}){extra}"
        if self.skipped:
            return f"No findings in {len(self.files)} file(s) reviewed{extra}: the skipped files were not checked."
        return f"No findings in {len(self.files)} file(s): all five rules pass{extra}."

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        notes = "".join(
            f'<div style="color:#555">{inline_html(item.text())}</div>' for item in (*self.suppressed, *self.skipped)
        )
        if not self.findings:
            # amber, not green, when skipped files went unchecked
            back, edge, mark = ("#fff8e1", "#f9a825", "&#9888;") if self.skipped else ("#e8f5e9", "#2e7d32", "&#10004;")
            return (
                f'<div class="labkit-review" style="background:{back};border-left:6px solid {edge};'
                f'padding:8px 12px">{mark} {inline_html(self.summary())}{notes}</div>'
            )
        rows = "".join(
            "<tr>"
            f'<td style="text-align:left"><b>{f.rule}</b></td>'
            f'<td style="text-align:left">{html.escape(f.path)}:{f.line}</td>'
            f'<td style="text-align:left">{inline_html(f.message)}</td>'
            f'<td style="text-align:left">{inline_html(f.fix)}</td>'
            "</tr>"
            for f in self.findings
        )
        head = "".join(f'<th style="text-align:left">{h}</th>' for h in ("Rule", "Where", "What is wrong", "Fix"))
        return (
            f'<div class="labkit-review"><b>{len(self.findings)} finding(s)</b>'
            f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table>{notes}</div>"
        )
