"""``python -m fabric.client.cli``: the ``fabric`` command."""

import sys

from . import main

sys.exit(main())
