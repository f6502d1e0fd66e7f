"""Operating a run: one trainer per folder, detach/stop/status, supervised restarts.

* ``lock``: the flock that keeps one trainer per output folder;
* ``supervisor``: restarts a crashed or hung trainer from its last checkpoint;
* ``commands``: ``run --detach``, ``stop``, ``status``;
* ``heartbeat``: the trainer's "still making progress" file, and its callback;
* ``faults``: test-only fault injection (``SYLLO_FAULT``), and its callback.

Pure: stdlib and syllo's pure modules (the callbacks import transformers lazily).
"""
