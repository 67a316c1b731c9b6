#!/usr/bin/env bash
# The board contract has no weak defaults: a board that lacks a function must
# fail to LINK. Links a tiny firmware against the static libpluton twice:
#   - with the real host board: must link;
#   - with partial_board.c (no nacre_board_otp_lock_read): must fail, naming it.
# Usage: test_missing_hook.sh CC SRCDIR INCDIR LIBPLUTON.a LIBBOARD.a [SANITIZE]
set -euo pipefail
cc=$1 src=$2 inc=$3 pluton=$4 board=$5 sanitize=${6:-none}
if [ "$sanitize" != none ]; then
  cc="$cc -fsanitize=$sanitize" # the archives are instrumented: link the runtime
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/nacre-link-XXXXXX")
trap 'rm -rf "$work"' EXIT
sodium=$(pkg-config --libs libsodium)

$cc -std=c11 -I"$inc" "$src/firmware_main.c" "$pluton" "$board" $sodium -o "$work/ok"
echo "complete board: links"

if $cc -std=c11 -I"$inc" "$src/firmware_main.c" "$src/partial_board.c" "$pluton" $sodium \
     -o "$work/bad" 2>"$work/err"; then
  echo "FAIL: a board without nacre_board_otp_lock_read linked" >&2
  exit 1
fi
grep -q "undefined reference to .nacre_board_otp_lock_read" "$work/err" || {
  echo "FAIL: link failed for another reason:" >&2; cat "$work/err" >&2; exit 1; }
echo "partial board: link error, as required: $(grep -m1 -o "undefined reference to .nacre_board_otp_lock_read." "$work/err")"
