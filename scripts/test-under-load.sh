#!/usr/bin/env bash
# Run the quick suite several times while CPU hogs compete for every core, to
# catch a test whose verdict depends on the machine's speed.
#   RUNS=3 HOGS=2 scripts/test-under-load.sh        (defaults: 3 runs, one hog per core)
# Each hog is a busy loop bounded by HOG_SECONDS (default 3 h) and killed on exit.
# Every run's log is kept in runs/under-load/; the summary line of each is printed.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
hogs=${HOGS:-$(nproc)}
limit=${HOG_SECONDS:-10800}
mkdir -p runs/under-load
pids=()
for _ in $(seq "$hogs"); do
  timeout "$limit" sh -c 'while :; do :; done' &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
failed=0
for i in $(seq "$runs"); do
  log=runs/under-load/run-$i.log
  make test > "$log" 2>&1
  rc=$?
  [ $rc -eq 0 ] || failed=1
  echo "run $i of $runs beside $hogs CPU hogs: exit $rc: $(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$log" | tail -1)"
  if [ $rc -ne 0 ]; then grep -E '^(FAILED|ERROR) ' "$log"; fi
done
exit $failed
