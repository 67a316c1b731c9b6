#!/usr/bin/env bash
# Checks that Nacre can be consumed the two ways firmware projects do:
#  1. as a Meson subproject (subprojects/nacre -> this source tree);
#  2. installed with `meson install`, found through pkg-config (nacre-pluton.pc).
# Usage: test_consumers.sh SOURCE_ROOT BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/nacre-consumer-XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. Subproject.
mkdir -p "$work/sub/subprojects"
cp "$src/tests/consumer/meson.build" "$src/tests/consumer/consumer.c" "$work/sub/"
ln -s "$src" "$work/sub/subprojects/nacre"
meson setup "$work/sub/build" "$work/sub" -Dnacre:tests=disabled -Dnacre:tools=disabled >"$work/sub.log" 2>&1 \
  || { cat "$work/sub.log"; exit 1; }
ninja -C "$work/sub/build" >>"$work/sub.log" 2>&1 || { cat "$work/sub.log"; exit 1; }
out=$("$work/sub/build/consumer" "$work/dev1")
echo "subproject: $out"
[[ "$out" =~ device\ id\ [0-9a-f]{64}$ ]]

# 2. Installed, through pkg-config.
DESTDIR="$work/root" meson install -C "$build" --no-rebuild >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; exit 1; }
pc=$(find "$work/root" -name nacre-pluton.pc | head -1)
[ -n "$pc" ] || { echo "nacre-pluton.pc not installed"; exit 1; }
for h in pluton.h board.h board_host.h; do
  [ -n "$(find "$work/root" -path "*/include/nacre/$h")" ] || { echo "header $h not installed"; exit 1; }
done
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$work/root"
flags=$(pkg-config --cflags --libs nacre-pluton nacre-board-host)
cc -std=c11 -Wall -Wextra -Werror "$src/tests/consumer/consumer.c" -o "$work/consumer-pc" $flags
libdir=$(dirname "$(dirname "$pc")")
out=$(LD_LIBRARY_PATH="$libdir" "$work/consumer-pc" "$work/dev2")
echo "installed: $out"
[[ "$out" =~ device\ id\ [0-9a-f]{64}$ ]]
# Static archives are installed too.
[ -n "$(find "$work/root" -name 'libnacre-pluton.a')" ] || { echo "static library not installed"; exit 1; }
echo "consumers: subproject and pkg-config builds work"
