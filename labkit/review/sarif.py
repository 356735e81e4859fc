"""A review as SARIF 2.1.0, the format code-scanning services and editors read.

Findings become results; suppressed findings stay results with an ``inSource``
suppression and its reason; skipped files become tool notifications, so a CI
page shows what was not checked.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePath
from urllib.parse import quote

from .findings import RULES, Finding, Review, Skipped

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULE_IDS = list(RULES)


def _version() -> str:
    try:
        return version("labkit")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0"


def _uri(path: str) -> str:
    """A relative path stays relative (SARIF viewers resolve it against the checkout)."""
    pure = PurePath(path)
    if pure.is_absolute():
        return Path(path).as_uri()
    return quote(pure.as_posix())


def _location(path: str, finding: Finding | None = None) -> dict[str, object]:
    physical: dict[str, object] = {"artifactLocation": {"uri": _uri(path)}}
    # A notebook's lines are counted across its code cells, not in the .ipynb file:
    # the message names the cell, and no region points into the JSON.
    if finding is not None and not path.endswith(".ipynb"):
        physical["region"] = {
            "startLine": finding.line,
            "startColumn": finding.col + 1,
            "endLine": max(finding.line, finding.end_line),
        }
    return {"physicalLocation": physical}


def _result(finding: Finding) -> dict[str, object]:
    result: dict[str, object] = {
        "ruleId": finding.rule,
        "ruleIndex": RULE_IDS.index(finding.rule),
        "level": "error",
        "message": {"text": f"{finding.message}\nFix: {finding.fix}"},
        "locations": [_location(finding.path, finding)],
    }
    if finding.suppressed is not None:
        suppression: dict[str, str] = {"kind": "inSource"}
        if finding.suppressed:
            suppression["justification"] = finding.suppressed
        result["suppressions"] = [suppression]
    return result


def _notification(skipped: Skipped) -> dict[str, object]:
    return {
        "level": "error",
        "message": {"text": f"skipped, not reviewed: {skipped.why}"},
        "locations": [_location(skipped.path)],
    }


def to_sarif(review: Review) -> dict[str, object]:
    """One SARIF log with one run of the reviewer."""
    rules = [{"id": rule, "shortDescription": {"text": title}} for rule, title in RULES.items()]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "labkit-review", "version": _version(), "rules": rules}},
            "invocations": [{
                "executionSuccessful": True,
                "toolExecutionNotifications": [_notification(s) for s in review.skipped],
            }],
            "results": [_result(f) for f in (*review.findings, *review.suppressed)],
        }],
    }
