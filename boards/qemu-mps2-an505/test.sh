#!/bin/sh
# boards/qemu-mps2-an505/test.sh - build and test the Cortex-M33 board:
#   1. setup.sh (toolchain, QEMU, libsodium source, the insn plugin);
#   2. the host build in build/ for the `nacre` CLI that signs the images
#      the board boots and verifies its attestation (NACRE_HOST_TOOL);
#   3. build-m33 with the cross file, `meson test -C build-m33`;
#   4. the footprint and instruction-count benchmark, printed;
#   5. the demo (demo.sh): secure boot, the NS app on secmon, attacks
#      refused, the board's attestation verified on the host.
# Run from anywhere; exits non-zero on the first failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

sh "$here/setup.sh"

if [ -z "${NACRE_HOST_TOOL:-}" ]; then
    if [ ! -f build/build.ninja ]; then
        meson setup build
    fi
    ninja -C build tools/nacre/nacre
    NACRE_HOST_TOOL="$root/build/tools/nacre/nacre"
fi
export NACRE_HOST_TOOL

if [ -f build-m33/build.ninja ]; then
    meson setup --reconfigure build-m33 --cross-file boards/qemu-mps2-an505/cross.ini >/dev/null
else
    meson setup build-m33 --cross-file boards/qemu-mps2-an505/cross.ini
fi
ninja -C build-m33
meson test -C build-m33 --print-errorlogs
meson test -C build-m33 --benchmark --suite mps2-bench --verbose 2>&1 \
    | sed -n '/^== /,/^Secure stack/p'
sh "$here/demo.sh"
