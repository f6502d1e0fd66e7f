#!/usr/bin/env bash
# `make demo`: the embedded default, from nothing to a model learning, live.
#   1. SYLLO puzzles (easy level) into data/demo/   (kept; deterministic)
#   2. a small Llama-style model + BPE tokenizer into runs/tiny-model/ (kept)
#   3. a fresh training run of examples/demo.toml (outputs in status/, runs/demo/)
#   4. with a terminal: syllo-tui in the foreground. Quitting it (q) stops the
#      trainer gracefully (checkpoint, run_end "stopped"); `make demo` again
#      starts a fresh run. Without a terminal (CI, a pipe): headless, the human
#      log on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CONFIG=examples/demo.toml
# One torch thread: the demo model is small, and with the TUI (or anything
# else) sharing 2 cores, OpenMP's spinning threads collapse from ~18 to ~1.5
# steps/s, while one thread holds ~10 (docs/demo.md). Override to taste.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

if [ ! -s data/demo/train.jsonl ] || [ ! -s data/demo/train.val.jsonl ]; then
  "$BIN/syllo-train" data syllo --n 20000 --val-fraction 0.01 --level easy --seed 0 data/demo/train.jsonl
fi
if [ ! -s runs/tiny-model/config.json ]; then
  "$BIN/syllo-train" model tiny --data data/demo/train.jsonl --out runs/tiny-model --size small
fi

# A demo starts fresh: clear the previous demo run's checkpoints and outputs.
rm -rf runs/demo status/events.jsonl status/training_status.json status/train.log
"$BIN/syllo-train" validate "$CONFIG" "$@"

if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ] && [ -x "$BIN/syllo-tui" ]; then
  mkdir -p runs
  "$BIN/syllo-train" run "$CONFIG" --quiet "$@" > runs/demo-trainer.log 2>&1 &
  trainer=$!
  "$BIN/syllo-tui" status/events.jsonl || true
  if kill -0 "$trainer" 2>/dev/null; then
    echo "TUI closed: stopping the trainer gracefully (checkpoint, then run_end stopped)…"
    kill -TERM "$trainer" 2>/dev/null || true
  fi
  wait "$trainer" || true
  "$BIN/syllo-tui" --once status/events.jsonl || true
  echo "trainer output: runs/demo-trainer.log; human log: status/train.log"
else
  exec "$BIN/syllo-train" run "$CONFIG" "$@"
fi
