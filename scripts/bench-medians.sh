#!/usr/bin/env bash
# Run every standard workload RUNS times (default 5) in one sitting and print the median line
# of each (by its figure). Usage: scripts/bench-medians.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q -p pocket-bench
bin=target/release/pocket-bench
for w in chain agent-loop chain-async agent-loop-async pipeline pipeline-async fanin fanout-cpu fanout-mem \
    fanout-io fanout-io-limited fanout-store-write store store-lru; do
  for _ in $(seq "$runs"); do "$bin" "$w"; done | sort -g -k5 | sed -n "$(( (runs + 1) / 2 ))p"
done
