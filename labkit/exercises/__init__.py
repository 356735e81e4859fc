"""Exercise checkers, one module per notebook; importing this registers them all."""
from . import start_here  # noqa: F401
from . import rule1  # noqa: F401
from . import rule2  # noqa: F401
from . import rule3  # noqa: F401
