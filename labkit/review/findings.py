"""What the reviewer reports: one finding per problem, and a report that shows itself.

Kept apart from the rules so the CLI, the Python API and the cell magic all
print the same thing, and so tests can compare findings as plain data.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Iterator

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

    @property
    def title(self) -> str:
        return RULES[self.rule]

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        del data["end_line"]
        data["title"] = self.title
        return data

    def text(self) -> str:
        return f"{self.path}:{self.line}:{self.col + 1}: {self.rule} {self.message}\n    fix: {self.fix}"


@dataclass
class Review:
    """Every finding from one review, in file and line order.

    Truthy when there is something to fix, so ``if review_paths(...):`` reads well.
    """

    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.findings = sorted(self.findings)

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
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def text(self) -> str:
        if not self.findings:
            return f"No findings in {len(self.files)} file(s): all five rules pass."
        body = "\n".join(f.text() for f in self.findings)
        summary = ", ".join(f"{rule}: {n}" for rule, n in self.counts().items() if n)
        return f"{body}\n{len(self.findings)} finding(s) in {len(self.files)} file(s) ({summary})"

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        if not self.findings:
            return (
                '<div class="labkit-review" style="background:#e8f5e9;border-left:6px solid #2e7d32;'
                'padding:8px 12px">&#10004; No findings: all five rules pass.</div>'
            )
        rows = "".join(
            "<tr>"
            f'<td style="text-align:left"><b>{f.rule}</b></td>'
            f'<td style="text-align:left">{html.escape(f.path)}:{f.line}</td>'
            f'<td style="text-align:left">{html.escape(f.message)}</td>'
            f'<td style="text-align:left">{html.escape(f.fix)}</td>'
            "</tr>"
            for f in self.findings
        )
        head = "".join(f'<th style="text-align:left">{h}</th>' for h in ("Rule", "Where", "What is wrong", "Fix"))
        return (
            f'<div class="labkit-review"><b>{len(self.findings)} finding(s)</b>'
            f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        )
