"""``python -m labkit COMMAND``: see :mod:`labkit.cli.main`."""

import sys

from .cli.main import main

sys.exit(main())
