"""``python -m syllo_train`` (the form torchrun launches) is the same as ``syllo-train``."""

from __future__ import annotations

import sys

from syllo_train.cli import main

sys.exit(main())
