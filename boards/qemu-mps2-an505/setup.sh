#!/bin/sh
# boards/qemu-mps2-an505/setup.sh - everything the Cortex-M33 board needs on
# a Debian 12 machine, idempotent:
#   - the toolchain and the emulator (gcc-arm-none-eabi, newlib, qemu-system-arm);
#   - Debian's libsodium source package, whose orig tarball goes into
#     subprojects/packagecache/ and is linked as
#     subprojects/packagefiles/libsodium_*.orig.tar.gz, where Meson 1.0 reads
#     a [wrap-file] that has no source_url: so the subproject configures with
#     no network at Meson time (the sources are never in git);
#   - QEMU's source package, for the instruction-counting plugin (bench).
# Safe to run again: each step is skipped when its result is already there.
# `apt-get update` errors (a flaky mirror index) are tolerated.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/subprojects/packagecache"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

updated=0
apt_update() {
    if [ "$updated" = 0 ]; then
        $sudo apt-get update -q || echo "setup: apt-get update reported errors; continuing" >&2
        updated=1
    fi
}

# 1. Packages.
need=""
for p in gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm python3 openssl \
         dpkg-dev libglib2.0-dev pkg-config gcc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
    apt_update
    # No recommends: they would add libstdc++-arm-none-eabi-newlib (300 MB);
    # the board is C only.
    $sudo apt-get install -y -q --no-install-recommends $need
fi

# 2. deb-src lines, so `apt-get source` works (deb822 or one-line sources).
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        $sudo sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
    elif [ -f /etc/apt/sources.list ]; then
        $sudo sh -c "grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >> /etc/apt/sources.list"
    fi
    updated=0
fi

# 3. Source packages: orig tarballs into subprojects/packagecache/.
mkdir -p "$cache"
fetch_orig() { # fetch_orig SRCPKG PATTERN
    if ls "$cache"/$2 >/dev/null 2>&1; then
        return 0
    fi
    apt_update
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get source --download-only "$1" >/dev/null) || {
        rm -rf "$tmp"; echo "setup: apt-get source $1 failed" >&2; return 1; }
    cp "$tmp"/$2 "$cache"/
    rm -rf "$tmp"
}
fetch_orig libsodium 'libsodium_*.orig.tar.gz'
for f in "$cache"/libsodium_*.orig.tar.gz; do
    ln -sf "../packagecache/$(basename "$f")" "$root/subprojects/packagefiles/$(basename "$f")"
done

# 4. The QEMU instruction-counting plugin (tests/plugin/insn.c of Debian's
# QEMU source), built once into subprojects/packagecache/qemu-plugin/.
plugdir="$cache/qemu-plugin"
if [ ! -f "$plugdir/libinsn.so" ]; then
    apt_update
    tmp=$(mktemp -d)
    if (cd "$tmp" && apt-get source --download-only qemu >/dev/null 2>&1); then
        tarball=$(ls "$tmp"/qemu_*.orig.tar.* | head -n 1)
        mkdir -p "$plugdir"
        top=$(tar -tf "$tarball" | head -n 1 | cut -d/ -f1)
        tar -xf "$tarball" -C "$tmp" "$top/tests/plugin/insn.c" "$top/include/qemu/qemu-plugin.h"
        gcc -shared -fPIC -O2 -I"$tmp/$top/include/qemu" \
            $(pkg-config --cflags glib-2.0) "$tmp/$top/tests/plugin/insn.c" \
            -o "$plugdir/libinsn.so" $(pkg-config --libs glib-2.0)
    else
        echo "setup: apt-get source qemu failed: no instruction counts" >&2
    fi
    rm -rf "$tmp"
fi
echo "setup: qemu-mps2-an505 ready"
