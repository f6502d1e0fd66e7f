"""syllo's trainer. Importing this package must not import torch or transformers."""

from __future__ import annotations

__version__ = "0.1.0"
