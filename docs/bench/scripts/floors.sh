#!/bin/bash
# The lowest address-space limit (RLIMIT_AS, set by prlimit before exec) at
# which each of five programs passes three runs in a row, by bisection in
# 64 KiB steps between 1 and 64 MiB, with PYTHONHASHSEED=0 (issue 21).
#   usage: docs/bench/scripts/floors.sh none|PATH/libhakmem.so
# none: the C library's malloc. Prints "program KiB" lines. python's own
# floor is not monotonic (decision 0045): repeat a bisection before
# trusting a difference of one or two steps.
set -u
SO=$1
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
seq 1 50000 | shuf --random-source=<(yes) > "$DIR/nums.txt"
mkdir "$DIR/d" && for i in $(seq 1 300); do touch "$DIR/d/f$i"; done
run() { # KiB, command...
  local kib=$1; shift
  local pre=(); [ "$SO" != none ] && pre=(LD_PRELOAD="$SO")
  for _ in 1 2 3; do
    prlimit --as=$((kib * 1024)) env PYTHONHASHSEED=0 "${pre[@]}" "$@" >/dev/null 2>&1 || return 1
  done
}
floor() { # command...: lo fails, hi passes
  local lo=1024 hi=65536 mid
  run $hi "$@" || { echo "fails at $hi KiB"; return; }
  while [ $((hi - lo)) -gt 64 ]; do
    mid=$(((lo + hi) / 2 / 64 * 64)); [ $mid -le $lo ] && mid=$((lo + 64))
    if run $mid "$@"; then hi=$mid; else lo=$mid; fi
  done
  echo $hi
}
echo "python3-print $(floor python3 -c 'print(1)')"
echo "ls-l $(floor ls -l "$DIR/d")"
echo "sort-n $(floor sort -n "$DIR/nums.txt")"
echo "gcc-version $(floor gcc --version)"
echo "bash-true $(floor bash -c true)"
