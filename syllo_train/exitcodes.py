"""Every exit code of ``syllo-train`` and ``syllo-tui``: one table, no code with two meanings.

Scripts read these (``syllo-train status`` especially): they are kept stable.
docs/operations.md shows the table.
"""

from __future__ import annotations

OK = 0  # success: a run completed or was stopped; a command did its job; status: a live run
FAILED = 1  # a run failed (training raised, or a supervisor's restarts ran out); status: it did
BAD_INPUT = 2  # bad config, data or arguments, nothing written; status: no run there
STALE = 3  # status: the run says training, but nothing is alive, or nothing moved for too long
FINISHED = 4  # status: the run ended, completed or stopped
BUSY = 5  # run: the output folder is in use by another live trainer (its lock)

#: A second SIGINT/SIGTERM exits at once with 128 + the signal's number, the shell's convention.
SIGNAL_BASE = 128

TABLE: dict[int, str] = {
    OK: "success (run: completed or stopped; status: a live run)",
    FAILED: "the run failed",
    BAD_INPUT: "bad config, data or arguments; nothing was written (status: no run there)",
    STALE: "status: says training, but nothing is alive or moving",
    FINISHED: "status: the run ended, completed or stopped",
    BUSY: "run: the output folder is in use by another trainer",
}
