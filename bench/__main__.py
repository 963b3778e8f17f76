"""``python -m bench``: the export benchmarks."""

from __future__ import annotations

import sys

from bench.exports import main

sys.exit(main())
