"""The log tier's example, token by token: what each token is, whether it trains, its loss.

Built on the host at a log step from what that step's forward pass already
gave (the per-token losses of the one captured row) and what the data
already knows (its ids and labels). Each token's text is its id decoded
alone, special tokens kept (so a doubled BOS or a missing end-of-turn token
shows); each id's text is decoded once and kept. A long example
is cut in the middle: its start (where a doubled BOS would be) and its end
(the answer) stay, and ``cut`` says how many tokens were left out where.
Pure: no torch (the caller hands plain lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from syllo_train.data import IGNORE_INDEX
from syllo_train.data.encode import special_tokens

#: Of a cut example, this share of the cap is its start; the rest is its end.
HEAD_SHARE = 0.25


class TokenTexts:
    """Each token's text, decoded alone (each id decoded once, on first use).

    A token's text is its id decoded alone, so it depends on the id only: the
    cache is per id, bounded by the vocabulary, and a log step whose example
    is new decodes only ids never seen before (decoding every token of every
    example was most of a log step's cost: bench/bench_log_tier.py).
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.special = set(special_tokens(tokenizer))
        self._cache: dict[int, str] = {}

    def of(self, ids: Sequence[int]) -> list[str]:
        new = [i for i in dict.fromkeys(ids) if i not in self._cache]
        for i, text in zip(
            new,
            self.tokenizer.batch_decode([[i] for i in new], skip_special_tokens=False),
            strict=True,
        ):
            self._cache[i] = text
        return [self._cache[i] for i in ids]


def token_view(
    ids: Sequence[int],
    labels: Sequence[int],
    shifted_losses: Sequence[float],
    texts: Sequence[str],
    special: set[int],
    cap: int,
) -> dict[str, Any]:
    """The ``tokens`` object of a log event's example (docs/events.md).

    ``shifted_losses[t]`` is the loss of predicting token ``t + 1`` (the
    cross-entropy's shift); a token's own loss is therefore ``shifted_losses[t - 1]``,
    and null where the token is not trained (or where the loss is not finite).
    """
    n = len(ids)
    trained = [lab != IGNORE_INDEX for lab in labels]
    loss: list[float | None] = [None] * n
    for t in range(1, n):
        if trained[t] and t - 1 < len(shifted_losses):
            value = float(shifted_losses[t - 1])
            loss[t] = round(value, 5) if value == value and abs(value) != float("inf") else None
    keep = list(range(n))
    cut = None
    if cap and n > cap:
        head = max(1, int(cap * HEAD_SHARE))
        tail = cap - head
        keep = [*range(head), *range(n - tail, n)]
        cut = {"at": head, "tokens": n - cap}
    return {
        "text": [texts[t] for t in keep],
        "trained": [trained[t] for t in keep],
        "loss": [loss[t] for t in keep],
        "special": [int(ids[t]) in special for t in keep],
        "count": n,
        "cut": cut,
    }
