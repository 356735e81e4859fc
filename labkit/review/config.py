"""What a review looks for: which rules, and which extra call names count as blocking."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .findings import RULES
from .source import ReviewError

DEFAULT_BLOCK_NAMES = ("chat",)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class ReviewConfig:
    """``block_names``: sync calls the reviewer cannot know block, e.g. an LLM's
    ``chat``; a plain name matches any call ending in it (``llm.chat(...)``), a
    dotted one matches that suffix (``model.generate``)."""

    block_names: tuple[str, ...] = DEFAULT_BLOCK_NAMES
    rules: tuple[str, ...] = tuple(RULES)

    def __post_init__(self) -> None:
        names = (self.block_names,) if isinstance(self.block_names, str) else tuple(self.block_names)
        for name in names:
            if not isinstance(name, str) or not _NAME.match(name):
                raise ReviewError(f"block name {name!r} is not a Python name or dotted name (e.g. 'chat', 'llm.chat')")
        rules = (self.rules,) if isinstance(self.rules, str) else tuple(r.upper() for r in self.rules)
        unknown = [r for r in rules if r not in RULES]
        if unknown:
            raise ReviewError(f"unknown rule(s) {', '.join(unknown)}; the rules are {', '.join(RULES)}")
        object.__setattr__(self, "block_names", names)
        object.__setattr__(self, "rules", rules)

    def matches_block_name(self, dotted: str | None) -> str | None:
        """The configured name that ``dotted`` (a call's name) matches, if any."""
        if not dotted:
            return None
        parts = dotted.split(".")
        for name in self.block_names:
            wanted = name.split(".")
            if parts[-len(wanted) :] == wanted:
                return name
        return None
