"""Exercise checkers, one module per notebook; importing this registers them all."""
from . import capstone, rule1, rule2, rule3, rule4, rule5, start_here  # noqa: F401
