"""The progress-callback contract shared by every demo and the panels that show it."""

from __future__ import annotations

from typing import Callable

#: ``progress(fraction_done, message)``: demos call it as they go; a panel or a
#: terminal decides how to show it. It must return quickly and never raise.
Progress = Callable[[float, str], None]
