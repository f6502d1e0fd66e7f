"""What ``run_start`` says about the process and the model, the same for every writer of it.

``syllo-train run``, ``SylloCallback`` and ``Run`` each open a run: the
versions and parameter counts they report are taken here, once.
"""

from __future__ import annotations

import platform
from typing import Any

from syllo_train import __version__


def versions() -> dict[str, str]:
    """syllo's, torch's, transformers' (and TRL's, when it is loaded) and Python's versions."""
    import sys

    import torch
    import transformers

    found = {
        "syllo": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }
    trl = sys.modules.get("trl")
    if trl is not None and getattr(trl, "__version__", None):
        found["trl"] = str(trl.__version__)
    return found


def param_counts(model: Any) -> tuple[int, int]:
    """(every parameter, the trainable ones) of ``model``."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def model_name(model: Any) -> str:
    """The name or path the model was loaded from (its class name when it has none)."""
    config = getattr(model, "config", None)
    name = getattr(config, "_name_or_path", "") or getattr(config, "name_or_path", "")
    return str(name) if name else type(model).__name__
