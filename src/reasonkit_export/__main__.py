"""``python -m reasonkit_export``: the command line."""

from __future__ import annotations

import sys

from reasonkit_export.cli import main

sys.exit(main())
