"""syllo's trainer. Importing this package must not import torch or transformers.

For your own training script (docs/integrations.md)::

    from syllo_train import SylloCallback   # a transformers/TRL Trainer callback
    from syllo_train import Run             # the same events from a loop of your own

Both are loaded on first use, so ``import syllo_train`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["EventError", "Run", "SylloCallback", "__version__"]

_LAZY = {
    "SylloCallback": "syllo_train.callback",
    "Run": "syllo_train.run_api",
    "EventError": "syllo_train.events",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'syllo_train' has no attribute {name!r}")
