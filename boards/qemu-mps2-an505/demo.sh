#!/bin/sh
# boards/qemu-mps2-an505/demo.sh - the Cortex-M33 board in one story, in QEMU:
#   factory   a root key; the NS app signed as a Nacre image (host `nacre`);
#   boot 1    provisioning, the image installed, secure boot (trial), the
#             unprivileged NS app calling secmon through the veneers (SIGN,
#             GPIO, I2C, ...), then confirming itself;
#   boot 2    the confirmed image; attestation evidence for a fresh nonce;
#   attacks   Secure pointers handed to secmon (refused and logged), a read
#             of Secure RAM (SecureFault), a tampered image (boot refused);
#   verify    the board's evidence checked on the host: `nacre attest verify`.
# Each step checks the exit status and the console; the script exits
# non-zero as soon as one does not behave. A few seconds once built.
#
# Needs the cross build in build-m33/ and the host CLI in build/ (or
# $NACRE_HOST_TOOL); builds what is missing (the first time, with
# setup.sh: toolchain, QEMU, libsodium source). Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

if [ ! -f build-m33/build.ninja ] || ! command -v qemu-system-arm >/dev/null 2>&1; then
    echo "demo: first run: installing what the board needs (setup.sh) and configuring build-m33"
    sh "$here/setup.sh"
    if [ ! -f build-m33/build.ninja ]; then
        meson setup build-m33 --cross-file boards/qemu-mps2-an505/cross.ini >/dev/null
    fi
fi
if [ -z "${NACRE_HOST_TOOL:-}" ]; then
    NACRE_HOST_TOOL="$root/build/tools/nacre/nacre"
    if [ ! -x "$NACRE_HOST_TOOL" ]; then
        echo "demo: building the host CLI (build/tools/nacre/nacre)"
        if [ ! -f build/build.ninja ]; then
            meson setup build >/dev/null
        fi
        ninja -C build tools/nacre/nacre >/dev/null
    fi
fi
export NACRE_HOST_TOOL

images=build-m33/boards/qemu-mps2-an505/images
# Up to date in a fraction of a second when nothing changed.
if ! out=$(ninja -C build-m33 boards/qemu-mps2-an505/images/nacre-secure.elf \
        boards/qemu-mps2-an505/images/nacre-ns-app.bin 2>&1); then
    printf '%s\n' "$out"
    echo "demo: FAILED: the board's images do not build"
    exit 1
fi

start=$(date +%s)
if python3 "$here/tests/board_test.py" --run-qemu "$here/run-qemu.sh" \
        --secure "$images/nacre-secure.elf" --ns-bin "$images/nacre-ns-app.bin" \
        --nacre "$NACRE_HOST_TOOL" demo; then
    echo "== demo: every step behaved ($(( $(date +%s) - start )) s)"
else
    echo "== demo: FAILED (above: the step that did not behave, and its console)"
    exit 1
fi
