#!/usr/bin/env bash
# The qemu-virt-a7 board's test command: installs what is missing
# (setup.sh), builds the host tree (build/, whose nacre tool signs the
# images the VM boots) if it is missing, configures and builds build-a7/ with
# the cross file, and runs every test of build-a7: the unit tests through
# user-mode QEMU, then the VM suites (suite 'vm': six boots of the board image
# under qemu-system-arm; 'vm-fleet': four more against the host build's
# nacre-service, through the QEMU channel). Prints the boot-to-verdict times and the runtimes,
# and ends with one line "N passed, M failed" (meson's Ok / Fail counts).
# Exit status 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
t0=$(date +%s)

"$here/setup.sh" || { echo "qemu-virt-a7: setup failed"; exit 1; }
t_setup=$(( $(date +%s) - t0 ))

# The host build: its nacre tool signs the firmware and app images (the
# harness falls back to the cross-built tool under qemu-arm without it).
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null || { echo "meson setup build failed"; exit 1; }
fi
host_targets=(tools/nacre/nacre)
# The fleet test (vm-fleet) runs the host's nacre-service (built when its
# libraries are there; the test is skipped without it).
if ninja -C build -t targets all 2>/dev/null | grep -q '^service/nacre-service:'; then
  host_targets+=(service/nacre-service)
fi
ninja -C build "${host_targets[@]}" >/dev/null || { ninja -C build "${host_targets[@]}"; exit 1; }

cross=(--cross-file "$here/cache/paths.ini" --cross-file "$here/cross.ini")
if [ ! -f build-a7/build.ninja ]; then
  meson setup build-a7 "${cross[@]}" >/dev/null || { echo "meson setup build-a7 failed"; exit 1; }
else
  meson setup build-a7 --reconfigure >/dev/null || { echo "meson reconfigure build-a7 failed"; exit 1; }
fi
t1=$(date +%s)
ninja -C build-a7 >/dev/null || { ninja -C build-a7; exit 1; }
t_build=$(( $(date +%s) - t1 ))

# The power-cut proofs (update_powercut, the secmon event log ...) cut at
# every write on the host (tools/test.sh); under qemu-arm they cut at every
# 25th (update_powercut: 118 s exhaustive, a few seconds strided) unless the
# caller asks for another stride (NACRE_CUT_STRIDE=1: all of them).
export NACRE_CUT_STRIDE=${NACRE_CUT_STRIDE:-25}
echo "qemu-virt-a7: power-cut proofs with NACRE_CUT_STRIDE=$NACRE_CUT_STRIDE"
t2=$(date +%s)
meson test -C build-a7 --print-errorlogs 2>&1 | tee build-a7/test-summary.log | grep -vE '^ *$|^>>> '
t_test=$(( $(date +%s) - t2 ))

ok=$(grep -E '^Ok:' build-a7/test-summary.log | awk '{print $2}' | tail -1)
fail=$(grep -E '^(Fail|Timeout|Unexpected Pass):' build-a7/test-summary.log | awk '{s += $NF} END {print s + 0}')
skip=$(grep -E '^Skipped:' build-a7/test-summary.log | awk '{print $2}' | tail -1)
echo
grep -E '^boot-to-verdict:' build-a7/meson-logs/testlog.txt || echo "boot-to-verdict: (VM suite did not report)"
echo "qemu-virt-a7: setup ${t_setup} s, build ${t_build} s, tests ${t_test} s, total $(( $(date +%s) - t0 )) s"
echo "${ok:-0} passed, ${fail:-0} failed, ${skip:-0} skipped"
[ "${fail:-0}" -eq 0 ] && [ "${ok:-0}" -gt 0 ]
