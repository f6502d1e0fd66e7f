"""One training row of someone else's batch, read back as an example: its sequence, prompt and answer.

Under ``SylloCallback`` the log tier sees only what the model was called
with — ``input_ids``, ``labels`` and ``attention_mask`` or, when TRL packs
sequences without padding, ``position_ids`` — not the record it came from.
Here the first row is turned back into what syllo-train's own examples say:

* **the sequence**: the row without its padding; of a packed row (several
  sequences one after another, ``position_ids`` starting again at 0 for
  each), the first sequence only;
* **the answer** (the golden): the last run of trained tokens (labels not
  ``-100``), so for a conversation trained on every assistant turn it is the
  final answer, as in syllo-train's own data;
* **the prompt**: every token before the answer, special tokens kept, as the
  model saw it (chat markup included: there is no record text to show);
* **the loss**: the mean over every trained token of the sequence (what it is
  trained on), from the per-position losses of that step's forward pass.

Pure: plain lists in, plain values out (the tap moves tensors to the host
once, at a log step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from syllo_train.data import IGNORE_INDEX

#: The row tensors an example is read back from, when the batch does not name it.
ROW_KEYS = ("input_ids", "labels", "attention_mask", "position_ids")


@dataclass(frozen=True)
class RowSequence:
    """Where the example is in its row, and how it splits into prompt and answer."""

    start: int  # first position of the sequence in the row (after any left padding)
    end: int  # one past its last position
    packed: int  # sequences in the row (1 when it is not packed)
    answer_start: int  # positions before the answer, counted from ``start``
    answer_end: int  # one past the answer's last position, counted from ``start``
    trained: int  # trained tokens in the whole sequence (every assistant turn)


def sequence_bounds(
    length: int,
    attention_mask: Sequence[int] | None = None,
    position_ids: Sequence[int] | None = None,
) -> tuple[int, int, int]:
    """(start, end, sequences in the row) of the row's first real sequence."""
    start, end = 0, length
    if attention_mask is not None:
        real = [t for t, m in enumerate(attention_mask) if m]
        if not real:
            return 0, 0, 0
        start, end = real[0], real[-1] + 1
    packed = 1
    if position_ids is not None:
        restarts = [t for t in range(start + 1, end) if position_ids[t] == 0]
        packed = 1 + len(restarts)
        if restarts:
            end = restarts[0]
        # Padding at the end of a packed row carries position 0 too (TRL pads it so):
        # it only counts as a sequence if it holds a trained token, which padding never does.
    return start, end, packed


def read_sequence(
    labels: Sequence[int],
    attention_mask: Sequence[int] | None = None,
    position_ids: Sequence[int] | None = None,
) -> RowSequence:
    start, end, packed = sequence_bounds(len(labels), attention_mask, position_ids)
    own = labels[start:end]
    trained_at = [t for t, lab in enumerate(own) if lab != IGNORE_INDEX]
    if not trained_at:
        return RowSequence(start, end, packed, len(own), len(own), 0)
    # The last run of trained tokens: walk back from the last one while they stay trained.
    answer_end = trained_at[-1] + 1
    answer_start = answer_end - 1
    while answer_start > 0 and own[answer_start - 1] != IGNORE_INDEX:
        answer_start -= 1
    return RowSequence(start, end, packed, answer_start, answer_end, len(trained_at))


def sequence_loss(
    shifted_losses: Sequence[float], labels: Sequence[int], seq: RowSequence
) -> float | None:
    """Mean loss over the sequence's trained tokens (``shifted_losses[t]`` predicts token t+1).

    The sequence's first token is never trained (nothing predicts it) and the
    prediction across the boundary into a packed row's next sequence is not
    the example's: neither is counted.
    """
    total, count = 0.0, 0
    for t in range(seq.start + 1, seq.end):
        if labels[t] != IGNORE_INDEX and t - 1 < len(shifted_losses):
            total += float(shifted_losses[t - 1])
            count += 1
    if not count:
        return None
    mean = total / count
    return mean if mean == mean and abs(mean) != float("inf") else None


def row_example(
    tokenizer: Any,
    ids: Sequence[int],
    labels: Sequence[int],
    attention_mask: Sequence[int] | None = None,
    position_ids: Sequence[int] | None = None,
) -> tuple[dict[str, Any], RowSequence]:
    """The example fields of a row's first sequence (``index`` null: no record to point at)."""
    seq = read_sequence(labels, attention_mask, position_ids)
    own = list(ids[seq.start : seq.end])
    example: dict[str, Any] = {
        "index": None,
        # The rendered context as the model saw it (chat markup and specials kept) ...
        "prompt": tokenizer.decode(own[: seq.answer_start], skip_special_tokens=False),
        # ... and the answer as text (its end-of-turn or EOS token shows in the token view).
        "golden": tokenizer.decode(
            own[seq.answer_start : seq.answer_end], skip_special_tokens=True
        ),
        "prompt_tokens": seq.answer_start,
        "golden_tokens": seq.answer_end - seq.answer_start,
    }
    if position_ids is not None:
        example["packed"] = seq.packed  # sequences in the row; the example is the first
    return example, seq
