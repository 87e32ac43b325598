#!/bin/bash
# instructions per larson operation (callgrind), per configuration
so=${HAKMEM_SO:-$PWD/target/release/libhakmem.so}
run() { # name threads env...
  local name=$1 t=$2; shift 2
  local out=$(env -i PATH=$PATH "$@" LD_PRELOAD=$so valgrind --tool=callgrind --callgrind-out-file=/dev/null \
      $PWD/target/bench-bin/larson 2 8 1024 10000 1 12345 $t 2>&1)
  local ops=$(echo "$out" | sed -n 's/.*operations = \([0-9]*\).*/\1/p')
  local ir=$(echo "$out" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  python3 -c "print('%-22s T=%s ops=%s Ir=%s  Ir/op=%.1f' % ('$name',$t,$ops,$ir,$ir/$ops))"
}
for t in 1 4; do
run minimal $t HAKMEM_MODE=minimal
run fast $t HAKMEM_MODE=fast
run minimal+ELO $t HAKMEM_MODE=minimal HAKMEM_ELO=1
run minimal+SITE_RULES $t HAKMEM_MODE=minimal HAKMEM_SITE_RULES=1
run minimal+THP $t HAKMEM_MODE=minimal HAKMEM_THP=1
run minimal-BIGCACHE $t HAKMEM_MODE=minimal HAKMEM_BIGCACHE=0
run minimal-BATCH_MADVISE $t HAKMEM_MODE=minimal HAKMEM_BATCH_MADVISE=0
done
