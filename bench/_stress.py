"""The trainer-overhead stress case, shared by bench_throughput.py, bench_log_tier.py and gpu_check.py.

One tiny Llama built locally (preset ``small``: ~0.49M parameters, the
closest preset to the ~400k of the stress case; ``tiny`` is 0.12M), short
SYLLO puzzle rows, batch 8, log every 10 steps, eval off unless asked. Both
sides get the same model weights (a fresh copy from the same folder), the
same TrainingArguments (so the same seed, data order and logging steps: the
Trainer's own loss ``.item()`` happens on the same steps) and the same
collator, the bare side dropping syllo's two host-side keys: identical token
sequences. ``Stress.bare()`` is a plain ``transformers.Trainer``;
``Stress.syllo()`` is syllo's, built by ``runner.build_trainer`` with a real
Reporter (events, snapshot, human log on disk).
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Any

# This checkout's syllo_train, whichever checkout the venv was installed from.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclasses.dataclass
class Stress:
    steps: int = 300
    log_steps: int = 10
    eval_steps: int = 0  # 0: the eval tier off (the stress case's setting)
    batch_size: int = 8
    preset: str = "small"
    device: str = "cpu"
    dtype: str = "float32"
    level: str = "tiny"
    eval_samples: int = 2
    max_new_tokens: int = 32
    work: Path = dataclasses.field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="syllo-bench-"))
    )

    def __post_init__(self) -> None:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        from syllo_train.config import load_config
        from syllo_train.demo import puzzles
        from syllo_train.demo.tiny_model import build_tiny_model, texts_from_jsonl
        from syllo_train.prepare import prepare_data

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        data = self.work / "train.jsonl"
        puzzles.write_jsonl(puzzles.generate(4000, self.level, seed=0), data)
        self.model_dir = build_tiny_model(
            texts_from_jsonl([data]), self.work / "model", preset=self.preset
        )
        cfg_path = self.work / "cfg.toml"
        cfg_path.write_text(
            f"""
[model]
name_or_path = "{self.model_dir}"
dtype = "{self.dtype}"
[data]
train = "{data}"
max_length = 512
[train]
output_dir = "{self.work / "runs"}"
max_steps = {self.steps}
batch_size = {self.batch_size}
save_steps = {self.steps * 10}
device = "{self.device}"
[monitor]
log_steps = {self.log_steps}
eval_steps = {self.eval_steps}
eval_at_end = false
eval_samples = {self.eval_samples}
max_new_tokens = {self.max_new_tokens}
[output]
dir = "{self.work / "status"}"
"""
        )
        self.cfg = load_config(cfg_path)
        self.tok = AutoTokenizer.from_pretrained(self.model_dir)
        self.data = prepare_data(self.cfg, self.tok)
        self.runs = 0

    @property
    def use_cuda(self) -> bool:
        return self.device == "cuda"

    def fresh_model(self) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[self.dtype]
        return AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype)

    def params(self) -> int:
        return sum(p.numel() for p in self.fresh_model().parameters())

    def _args(self, tag: str) -> Any:
        from syllo_train.prepare import training_arguments

        ta = training_arguments(self.cfg, self.use_cuda)
        return dataclasses.replace(
            ta, output_dir=str(self.work / f"runs-{tag}"), save_strategy="no"
        )

    def bare(self, callbacks: tuple[Any, ...] = ()) -> Any:
        """A plain transformers.Trainer on the same model, data and arguments (and ``callbacks``)."""
        from transformers import Trainer
        from transformers.trainer_callback import PrinterCallback

        from syllo_train.data.batches import PadCollator, TokenDataset

        class BareCollator(PadCollator):
            def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
                batch = super().__call__(items)
                batch.pop("idx"), batch.pop("n_tokens")
                return batch

        trainer = Trainer(
            model=self.fresh_model(),
            args=self._args("bare"),
            train_dataset=TokenDataset(self.data.train),
            data_collator=BareCollator(self.tok.pad_token_id),
            processing_class=self.tok,
            callbacks=list(callbacks),
        )
        trainer.remove_callback(PrinterCallback)
        return trainer

    def status_dir(self) -> Path:
        """A fresh status folder for one run's events."""
        self.runs += 1
        return self.work / f"status-{self.runs}"

    def syllo(self) -> tuple[Any, Any]:
        """(syllo's trainer, its Reporter): close the reporter after training."""
        from syllo_train.checkpoints import Fingerprint
        from syllo_train.runner import build_trainer
        from syllo_train.sinks.reporter import Reporter

        self.runs += 1
        reporter = Reporter(self.work / f"status-{self.runs}", echo=None)
        trainer, _, _ = build_trainer(
            self.cfg,
            reporter,
            model=self.fresh_model(),
            args=self._args("syllo"),
            tokenizer=self.tok,
            data=self.data,
            fingerprint=Fingerprint("bench", "bench"),
            settings={},
        )
        return trainer, reporter
