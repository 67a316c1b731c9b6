#!/bin/sh
# run-qemu.sh - the QEMU run recipe of the qemu-mps2-an505 board, and the
# exe_wrapper of cross.ini (so `meson test -C build-m33` runs target tests).
#
#   run-qemu.sh SECURE.elf [ARG...]
#
# Boots SECURE.elf (the Secure image, or a Secure-only test image) on QEMU's
# mps2-an505 machine. ARGs reach the image as the semihosting command line.
# Both UARTs and semihosting share stdout. The exit status is the one the
# image passed to SYS_EXIT_EXTENDED.
#
# The image's host files (otp.bin, flash.bin, ...) live in the directory
# QEMU runs in: $NACRE_M33_DEVICE (created if missing), or a fresh temporary
# directory removed afterwards.
# NACRE_M33_INSN_PLUGIN=path/libinsn.so counts guest instructions and
# prints "insns: N" on stderr. NACRE_M33_TIMEOUT (seconds, default 60).
set -u
elf=$(realpath "$1")
shift
args="arg=$elf"
for a in "$@"; do
    args="$args,arg=$a"
done
tmp=""
dev=${NACRE_M33_DEVICE:-}
if [ -z "$dev" ]; then
    tmp=$(mktemp -d)
    dev=$tmp
fi
mkdir -p "$dev"
plugin=""
log=""
if [ -n "${NACRE_M33_INSN_PLUGIN:-}" ]; then
    log=$(mktemp)
    plugin="-plugin ${NACRE_M33_INSN_PLUGIN},inline=on -d plugin -D $log"
fi
cd "$dev" || exit 125
# shellcheck disable=SC2086
timeout "${NACRE_M33_TIMEOUT:-60}" qemu-system-arm -M mps2-an505 -display none -monitor none \
    -chardev stdio,id=c0,mux=on -serial chardev:c0 -serial chardev:c0 \
    -semihosting-config "enable=on,target=native,chardev=c0,userspace=on,$args" \
    $plugin -kernel "$elf" </dev/null
rc=$?
if [ -n "$log" ]; then
    grep -h 'insns' "$log" >&2
    rm -f "$log"
fi
if [ -n "$tmp" ]; then
    rm -rf "$tmp"
fi
exit $rc
