"""``python -m syllo_tui``: the same as the ``syllo-tui`` command."""

from __future__ import annotations

from syllo_tui.cli import main

raise SystemExit(main())
