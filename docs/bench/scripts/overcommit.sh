#!/bin/bash
# Commit charge (VmData) and resident memory (VmRSS) 1.5 s into a 2 s run
# of three workloads under strict overcommit, for glibc and each hakmem
# build given (decision 0049). Needs root: sets vm.overcommit_memory=2 for
# the run and restores the previous value on exit (the machine's whole
# setting: run it on a machine nothing else uses).
#   usage: docs/bench/scripts/overcommit.sh BENCH_BIN_DIR [SO...]
# BENCH_BIN_DIR: target/bench-bin after `cargo xtask bench` built the
# workloads.
set -u
B=$1; shift
old=$(cat /proc/sys/vm/overcommit_memory)
trap 'echo "$old" > /proc/sys/vm/overcommit_memory' EXIT
echo 2 > /proc/sys/vm/overcommit_memory || exit 1
out=$(mktemp)
vm() { # so, command...
  local so=$1; shift
  if [ "$so" = none ]; then "$@" > "$out" 2>&1 & else LD_PRELOAD=$so "$@" > "$out" 2>&1 & fi
  local pid=$!
  sleep 1.5
  local v; v=$(grep -E "VmData|VmRSS" /proc/$pid/status | tr -s ' \t\n' ' ')
  wait $pid
  echo "$v | $(grep -E 'Throughput' "$out" | tr '\n' ' ')"
}
for w in "midphases 2 12345" "mixed32 2 32 12345" "mid 2 12345"; do
  for so in none "$@"; do echo -n "$w $(basename "$so"): "; vm "$so" $B/$w; done
done
rm -f "$out"
