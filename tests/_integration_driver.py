"""Runs one of examples/integrations/*.py with a recorder of what the model was trained on.

    python tests/_integration_driver.py RECORD.json SCRIPT.py [script args…]

``SYLLO_TEST_RAISE_AT=N`` adds a callback that raises at step N. The recorder is the tests' own, independent of syllo: a forward hook that
keeps row 0 of each training step's first labelled forward pass (ids,
labels, attention mask, position ids), written to RECORD.json at the end, so
a test can recompute each logged example's loss by itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


class RowRecorder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.step = 0
        self.rows: dict[int, dict[str, list[int]]] = {}

    def keep(self, step: int, inputs: dict[str, Any]) -> None:
        if step in self.rows or "labels" not in inputs or inputs["labels"] is None:
            return
        self.rows[step] = {
            k: inputs[k][0].tolist()
            for k in ("input_ids", "labels", "attention_mask", "position_ids")
            if inputs.get(k) is not None
        }

    def save(self) -> None:
        Path(self.path).write_text(json.dumps(self.rows), encoding="utf-8")


class RecorderCallback(TrainerCallback):
    def __init__(self, recorder: RowRecorder) -> None:
        self.recorder = recorder

    def on_train_begin(
        self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any
    ) -> None:
        def hook(module: Any, a: Any, kwargs: dict[str, Any], out: Any) -> None:
            if module.training:
                self.recorder.keep(self.recorder.step, kwargs)

        model.register_forward_hook(hook, with_kwargs=True)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.recorder.step = state.global_step + 1

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.is_world_process_zero:
            self.recorder.save()


class RaiseAt(TrainerCallback):
    """Raises at the end of a step (``SYLLO_TEST_RAISE_AT``): an exception escaping ``train()``."""

    def __init__(self, step: int) -> None:
        self.at = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.global_step == self.at:
            raise RuntimeError(f"deliberate failure at step {self.at}")


def main() -> None:
    record, script, *argv = sys.argv[1:]
    spec = importlib.util.spec_from_file_location("integration_example", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recorder = RowRecorder(record)
    if Path(script).name == "custom_loop.py":
        try:
            module.main(argv, on_batch=recorder.keep)
        finally:
            recorder.save()
    else:
        extra: list[Any] = [RecorderCallback(recorder)]
        if os.environ.get("SYLLO_TEST_RAISE_AT"):
            extra.append(RaiseAt(int(os.environ["SYLLO_TEST_RAISE_AT"])))
        module.main(argv, callbacks=tuple(extra))


if __name__ == "__main__":
    main()
