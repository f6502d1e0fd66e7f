"""Build a small, real causal LM and tokenizer locally, with no download.

No model hub is reachable on many compute nodes (nor on the machines syllo is
developed on), so the demo and the tests build their own model: a byte-level
BPE tokenizer trained on the data in about a second, and a Llama-style model
from a config. Both are saved with ``save_pretrained`` and loaded back through
``from_pretrained`` like any hub model, so nothing downstream is special-cased.

    syllo-train model tiny --data data/train.jsonl --out runs/tiny-model
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from syllo_train.inert import print_inert

PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"

#: Model sizes. ``tiny`` trains at tens of steps/s on 2 CPU cores; ``small``
#: is the demo's; ``base`` (~100M parameters) is for GPU checks.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
    "small": dict(
        hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4
    ),
    "medium": dict(
        hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=8
    ),
    "base": dict(
        hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12
    ),
}

#: A ChatML-style template, for tests and users who want a chat model. The
#: demo model has none, so the documented plain template is used for it.
#: ``{% generation %}`` marks what the assistant writes: it changes nothing
#: rendered, and lets TRL's ``assistant_only_loss`` find the answer. (The newline
#: after a turn is written as ``{{ '\n' }}``: HF renders with ``trim_blocks``,
#: which drops a newline that follows a block tag.)
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}<|im_end|>{% endgeneration %}"
    "{% else %}{{ m['content'] }}<|im_end|>{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def texts_from_jsonl(paths: Iterable[str | Path]) -> Iterator[str]:
    """Yield every text of chat (`messages`) or prompt/completion JSONL records.

    Lines that are not valid records are skipped: the trainer's data loader is
    the one that reports them; here they would only cost vocabulary.
    """
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict):
                    continue
                for m in rec.get("messages") or []:
                    if isinstance(m, dict) and isinstance(m.get("content"), str):
                        yield m["content"]
                for key in ("prompt", "completion"):
                    if isinstance(rec.get(key), str):
                        yield rec[key]


def build_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 512, chat_template: str | None = None
) -> Any:
    """Train a byte-level BPE on ``texts`` and wrap it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [PAD, BOS, EOS]
    if chat_template is not None:
        specials += ["<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # With a chat template the end of a turn is the end of an answer: make it EOS
    # so generation stops there, as chat models' tokenizers do.
    eos = "<|im_end|>" if chat_template is not None else EOS
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=eos, model_max_length=2048
    )
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


def build_model(
    tokenizer: Any, *, preset: str = "tiny", max_position_embeddings: int = 1024, seed: int = 0
) -> Any:
    """A randomly initialised Llama-style causal LM sized by ``preset``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if preset not in PRESETS:
        raise ValueError(f"unknown model size {preset!r}: choose one of {', '.join(PRESETS)}")
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
        **PRESETS[preset],
    )
    return LlamaForCausalLM(config)


def build_tiny_model(
    texts: Iterable[str],
    out_dir: str | Path,
    *,
    preset: str = "tiny",
    vocab_size: int = 512,
    chat_template: str | None = None,
    max_position_embeddings: int = 1024,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on ``texts``, build a model, save both to ``out_dir``; return it."""
    out = Path(out_dir)
    tokenizer = build_tokenizer(texts, vocab_size=vocab_size, chat_template=chat_template)
    model = build_model(
        tokenizer, preset=preset, max_position_embeddings=max_position_embeddings, seed=seed
    )
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """``syllo-train model tiny --data FILE [--data FILE] --out DIR [--size tiny]``."""
    parser = argparse.ArgumentParser(
        prog="syllo-train model tiny", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--data", action="append", required=True, help="JSONL file(s) to train the tokenizer on"
    )
    parser.add_argument("--out", required=True, help="folder to save the model and tokenizer into")
    parser.add_argument("--size", default="tiny", choices=sorted(PRESETS), help="model size preset")
    parser.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size")
    parser.add_argument(
        "--chat-template", action="store_true", help="give the tokenizer a ChatML chat template"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in args.data:
        if not Path(path).is_file():
            print_inert(f"syllo-train model tiny: --data {path}: no such file")
            return 2
    out = build_tiny_model(
        texts_from_jsonl(args.data),
        args.out,
        preset=args.size,
        vocab_size=args.vocab_size,
        chat_template=CHATML_TEMPLATE if args.chat_template else None,
        seed=args.seed,
    )
    print(f"saved a {args.size} model and tokenizer to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
