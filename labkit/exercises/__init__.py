"""Exercises: the check machinery (:mod:`.framework`, :mod:`.learner_code`) and one checker module per notebook.

Importing this package registers every checker, so ``labkit.check`` knows them all.
"""

from . import capstone, rule1, rule2, rule3, rule4, rule5, start_here  # noqa: F401  (registers on import)
