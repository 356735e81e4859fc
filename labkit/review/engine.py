"""Run the five rules over sources and apply suppression comments.

Every rule follows calls across the files given (an ``async def`` in one file
may be called from another; a sync client may be wrapped in a third), so a
review parses everything first, indexes it (:mod:`.project`), then judges.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable

from .blocking import Blocker, check_r1
from .boundaries import check_r2
from .config import ReviewConfig
from .findings import Finding, Review
from .heartbeat import check_r4
from .project import Project
from .scope import ModuleInfo
from .shutdown import check_r5
from .source import ReviewError, Source, expand_paths, parse, read_sources
from .state import StateFlow
from .toctou import check_r3


def _config(block_names: Iterable[str] | None, rules: Iterable[str] | None, config: ReviewConfig | None) -> ReviewConfig:
    if config is not None:
        return config
    kwargs: dict[str, tuple[str, ...]] = {}
    if block_names is not None:
        kwargs["block_names"] = (block_names,) if isinstance(block_names, str) else tuple(block_names)
    if rules is not None:
        kwargs["rules"] = (rules,) if isinstance(rules, str) else tuple(rules)
    return ReviewConfig(**kwargs)


def review_sources(sources: list[Source], config: ReviewConfig) -> Review:
    """Judge already-parsed sources."""
    modules = [ModuleInfo(source) for source in sources]
    project = Project(modules)
    blocker = Blocker(project, config)
    flow = StateFlow(project)
    raw: list[Finding] = []
    for mod in modules:
        raw += check_r1(mod, blocker) + check_r3(mod, flow) + check_r4(mod, blocker) + check_r5(mod, blocker)
    raw += check_r2(modules, project)
    by_path = {source.path: source for source in sources}
    kept, suppressed = [], []
    for finding in set(raw):
        if finding.rule not in config.rules:
            continue
        source = by_path[finding.path]
        if source.cells:
            finding = replace(finding, message=f"[{source.where(finding.line)}] {finding.message}")
        reason = source.suppression(finding.rule, finding.line, max(finding.line, finding.end_line))
        if reason is None:
            kept.append(finding)
        else:
            suppressed.append(replace(finding, suppressed=reason))
    return Review(kept, [source.path for source in sources], suppressed)


def review_source(
    code: str,
    filename: str = "<code>",
    *,
    block_names: Iterable[str] | None = None,
    rules: Iterable[str] | None = None,
    config: ReviewConfig | None = None,
) -> Review:
    """Review one piece of source text (nothing is executed)."""
    return review_sources([parse(code, filename)], _config(block_names, rules, config))


def review_paths(
    paths: str | Path | Iterable[str | Path],
    *,
    block_names: Iterable[str] | None = None,
    rules: Iterable[str] | None = None,
    config: ReviewConfig | None = None,
) -> Review:
    """Review files, notebooks and folders (every .py file below a folder). A file that
    cannot be read or parsed is listed in ``skipped`` with why; the rest are reviewed."""
    chosen = _config(block_names, rules, config)
    listed = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not listed:
        raise ReviewError("no paths to review: name at least one file or folder")
    sources, skipped = read_sources(expand_paths(listed))
    review = review_sources(sources, chosen)
    review.skipped = sorted(skipped)
    return review
