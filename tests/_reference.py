"""The trained ids and loss of a conversation, worked out outside syllo from transformers alone."""

from __future__ import annotations

from pathlib import Path


def reference_ids(model_dir: Path, messages: list[dict[str, str]]) -> list[int]:
    """``tokenizer.apply_chat_template(messages, tokenize=True)``: what the model should train on."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    return list(tok.apply_chat_template(messages, tokenize=True)["input_ids"])


def reference_loss(
    model_dir: Path, end_of_turn: str, messages: list[dict[str, str]]
) -> tuple[float, int, int]:
    """(mean loss over the trained tokens, prompt tokens, final answer's tokens), outside syllo.

    The ids are transformers' own tokenization (``apply_chat_template(tokenize=True)``);
    each assistant turn is trained from the end of its generation prompt
    through the next ``end_of_turn`` token; the weights are the saved ones.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32").eval()
    ids = reference_ids(model_dir, messages)
    eot = tok.convert_tokens_to_ids(end_of_turn)
    trained: list[int] = []
    start = 0
    for k, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = tok.apply_chat_template(messages[:k], add_generation_prompt=True, tokenize=True)
        start = len(prompt["input_ids"])
        assert ids[:start] == prompt["input_ids"]
        end = ids.index(eot, start) + 1
        trained += range(start, end)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    positions = torch.tensor(trained)
    loss = torch.nn.functional.cross_entropy(logits[positions - 1], torch.tensor(ids)[positions])
    return float(loss), start, trained[-1] - start + 1
