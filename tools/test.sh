#!/usr/bin/env bash
# The README's test command: installs what is missing (Debian 12), builds, and
# runs every test. Stages:
#   1. build/       every suite (meson test): board, link, pluton, update, attest, ca, cli,
#                   examples, bench smoke, consumer
#   2. build-asan/  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. valgrind     the C unit suites under valgrind (leaks and memory errors fail)
#   4. fuzz         each libFuzzer target briefly (tools/fuzz.sh)
#   5. build-m33/   the Cortex-M33 board (qemu-mps2-an505): cross build, board
#                   tests in QEMU, footprint and instruction counts printed
#   6. build-a7/    the Cortex-A7 Linux board (qemu-virt-a7): armhf cross build, unit
#                   tests through qemu-arm, the VM suite under qemu-system-arm
#   7. demo         the README's main job (tools/demo.sh) runs to "demo: OK"
# Ends with one line "N passed, M failed" over all stages; exit status 0 only
# if nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=${NACRE_FUZZ_SECONDS:-15}

tools/install-deps.sh || { echo "nacre: could not install dependencies"; exit 1; }

passed=0
failed=0
# Runs `meson test` and adds its Ok / Fail counts to the totals.
count_meson() {
  local log=$1
  local ok fail
  ok=$(grep -E '^Ok:' "$log" | awk '{print $2}' | tail -1)
  fail=$(grep -E '^(Fail|Timeout|Unexpected Pass):' "$log" | awk '{s += $NF} END {print s + 0}')
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0}))
}
stage() { printf '\n=== %s ===\n' "$*"; }

setup() { # DIR [meson options...]
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null || { echo "meson setup $dir failed"; return 1; }
  fi
  ninja -C "$dir" >/dev/null || { ninja -C "$dir"; return 1; }
}

stage "1/7 build and test (build/)"
if setup build; then
  meson test -C build --print-errorlogs 2>&1 | tee build/test-summary.log | grep -vE '^ *$'
  count_meson build/test-summary.log
else
  failed=$((failed + 1))
fi

stage "2/7 ASan + UBSan (build-asan/)"
if setup build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
  # The consumer suite installs and links outside the sanitised build: skip it here.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-asan --print-errorlogs --no-suite consumer 2>&1 | tee build-asan/test-summary.log | grep -vE '^ *$'
  count_meson build-asan/test-summary.log
else
  failed=$((failed + 1))
fi

stage "3/7 valgrind (C unit suites)"
if [ -f build/build.ninja ]; then
  vg='valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect'
  # The power-cut proofs try every 25th cut point here (all of them in stages 1 and 2).
  NACRE_CUT_STRIDE=25 meson test -C build --print-errorlogs --suite board --suite pluton --suite update \
    --suite attest --suite ca -t 10 --wrap="$vg" 2>&1 | tee build/valgrind-summary.log | grep -vE '^ *$'
  count_meson build/valgrind-summary.log
  # secmon and sandbox unit tests by name: their server and spawn tests run
  # sandboxed children (namespaces, seccomp, fexecve) that valgrind cannot follow.
  NACRE_CUT_STRIDE=25 meson test -C build --print-errorlogs -t 10 --wrap="$vg" \
    secmon_codec secmon_eventlog secmon_core sandbox_manifest sandbox_package httpsig \
    2>&1 | tee build/valgrind-summary2.log | grep -vE '^ *$'
  count_meson build/valgrind-summary2.log
fi

mkdir -p build
stage "4/7 fuzz (${fuzz_seconds}s per target)"
if tools/fuzz.sh "$fuzz_seconds" | tee build/fuzz-summary.log; then :; fi
f_ok=$(grep -Eo '^fuzz: [0-9]+ passed' build/fuzz-summary.log | awk '{print $2}')
f_fail=$(grep -Eo '[0-9]+ failed$' build/fuzz-summary.log | awk '{print $1}')
passed=$((passed + ${f_ok:-0}))
failed=$((failed + ${f_fail:-1}))

stage "5/7 board qemu-mps2-an505 (build-m33/, QEMU)"
m33=boards/qemu-mps2-an505
if sh "$m33/setup.sh" >build/m33-setup.log 2>&1 &&
   NACRE_HOST_TOOL="$PWD/build/tools/nacre/nacre" setup build-m33 --cross-file "$m33/cross.ini"; then
  NACRE_HOST_TOOL="$PWD/build/tools/nacre/nacre" meson test -C build-m33 --print-errorlogs 2>&1 \
    | tee build-m33/test-summary.log | grep -vE '^ *$'
  count_meson build-m33/test-summary.log
  NACRE_HOST_TOOL="$PWD/build/tools/nacre/nacre" meson test -C build-m33 --benchmark --verbose 2>&1 \
    | sed -n '/^== /,/^Secure stack/p' || true
else
  tail -20 build/m33-setup.log
  failed=$((failed + 1))
fi

stage "6/7 board qemu-virt-a7 (build-a7/, qemu-arm and a VM)"
boards/qemu-virt-a7/test.sh 2>&1 | tee build/a7-test.log | grep -vE '^ *$'
a7_ok=$(tail -1 build/a7-test.log | grep -Eo '^[0-9]+ passed' | awk '{print $1}')
a7_fail=$(tail -1 build/a7-test.log | grep -Eo '[0-9]+ failed' | awk '{print $1}')
passed=$((passed + ${a7_ok:-0}))
failed=$((failed + ${a7_fail:-1}))

stage "7/7 the main job (tools/demo.sh)"
if tools/demo.sh build/demo >build/demo.log 2>&1 && tail -1 build/demo.log | grep -q 'demo: OK'; then
  echo "demo: OK (log in build/demo.log)"
  passed=$((passed + 1))
else
  tail -40 build/demo.log
  echo "demo: FAILED (log in build/demo.log)"
  failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
