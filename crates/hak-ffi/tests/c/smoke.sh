#!/usr/bin/env bash
# Smoke check of libhakmem.so's C ABI (hak-ffi + hakmem-cdylib):
#   1. the exported symbol set is exactly the expected one;
#   2. the only runtime dependencies are libc and the dynamic loader;
#   3. semantics.c prints the same under glibc and under LD_PRELOAD
#      (except the deliberate pvalloc(0) difference);
#   4. foreign.c: glibc-owned pointers are forwarded / migrated, and a stack
#      pointer aborts with "hakmem: free(): invalid pointer 0x...".
# Usage: crates/hak-ffi/tests/c/smoke.sh   (from anywhere; builds release)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
cd "$root"
cargo build --release -q -p hakmem-cdylib
so="$root/target/release/libhakmem.so"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Expected exports, read from hakmem.h as tests/preload/tests/header.rs does:
# each hak_X under "---- standard API" is exported as hak_X and X, each one
# under "---- extensions" as hak_X.
expected=$(awk '/---- standard API/ { s = 1 } /---- extensions/ { s = 2 }
    s && /^[^ \/*#].*hak_[a-z_]+\(/ {
        match($0, /hak_[a-z_]+\(/); n = substr($0, RSTART, RLENGTH - 1); print n
        if (s == 1) print substr(n, 5)
    }' "$root/crates/hak-ffi/include/hakmem.h" | sort)
actual=$(nm -D --defined-only "$so" | awk '{print $3}' | sort)
if [ "$expected" != "$actual" ]; then
    echo "FAIL: exported symbols differ (< expected, > actual):"
    diff <(echo "$expected") <(echo "$actual") || true
    exit 1
fi
echo "ok: exports ($(echo "$actual" | wc -l) symbols)"

deps=$(ldd "$so" | awk '{print $1}' | grep -v -E '^(linux-vdso\.so\.1|libc\.so\.6|/lib64/ld-linux-x86-64\.so\.2|/lib/ld-linux-aarch64\.so\.1)$' || true)
if [ -n "$deps" ]; then
    echo "FAIL: unexpected runtime dependencies: $deps"
    exit 1
fi
echo "ok: runtime deps (libc + loader only)"

cc -O1 -w -o "$tmp/semantics" "$here/semantics.c"
"$tmp/semantics" | grep -v 'pvalloc(0) usable' > "$tmp/glibc.txt"
LD_PRELOAD="$so" "$tmp/semantics" | grep -v 'pvalloc(0) usable' > "$tmp/hakmem.txt"
if ! diff "$tmp/glibc.txt" "$tmp/hakmem.txt"; then
    echo "FAIL: semantics differ from glibc (< glibc, > hakmem)"
    exit 1
fi
LD_PRELOAD="$so" "$tmp/semantics" | grep -q 'pvalloc(0) usable>=page *yes'
echo "ok: semantics match glibc ($(wc -l < "$tmp/glibc.txt") checks)"

cc -O1 -w -pthread -o "$tmp/foreign" "$here/foreign.c"
LD_PRELOAD="$so" "$tmp/foreign" | grep -q '^foreign: ok$'
for mode in stack realloc-stack; do
    fn=free; [ "$mode" = realloc-stack ] && fn=realloc
    set +e
    { LD_PRELOAD="$so" "$tmp/foreign" "$mode" 2> "$tmp/err" >/dev/null; } 2>/dev/null
    rc=$?
    set -e
    if [ "$rc" -ne 134 ] || ! grep -q "^hakmem: $fn(): invalid pointer 0x[0-9a-f]*$" "$tmp/err"; then
        echo "FAIL: foreign $mode: rc=$rc stderr=$(cat "$tmp/err")"
        exit 1
    fi
done
[ "$(LD_PRELOAD="$so" "$tmp/foreign" usable-stack)" = 0 ]
echo "ok: foreign pointers (forward, migrate, invalid -> abort)"

LD_PRELOAD="$so" ls -la / > /dev/null
[ "$(LD_PRELOAD="$so" python3 -c 'print(sum(range(10)))')" = 45 ]
echo "ok: ls, python3 under LD_PRELOAD"
