"""Training data, from a record in a file to the token ids and labels a batch is made of.

* ``records``: files → ``Example`` (one conversation: its turns and its answer),
  each bad record named ``file:line``; the seeded train/val split;
* ``encode``: ``Example`` → token ids and labels: the conversation rendered
  once with its chat template (or the plain one), tokenized once, the loss
  on the assistant answers and nothing else; the eval prompt;
* ``batches``: the torch Dataset and the padding collator.

Nothing here imports torch or transformers at module level.
"""

from __future__ import annotations

IGNORE_INDEX = -100  # label value the cross-entropy skips


class DataError(ValueError):
    """A bad data file or record; the message names ``file:line`` and the fix."""
