"""``python -m mastcore``: see :mod:`mastcore.cli`."""
import sys

from .cli import main

sys.exit(main())
