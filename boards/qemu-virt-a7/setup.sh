#!/usr/bin/env bash
# Installs what the qemu-virt-a7 board needs on a Debian 12 (bookworm) x86-64
# machine, and fetches the board image's parts into a cache beside this file.
# Idempotent: a second run with everything present installs and downloads
# nothing. Needs root (or sudo).
#
#   - armhf multiarch (dpkg --add-architecture armhf) and the :armhf -dev
#     packages of every library Nacre links (libsodium, CMocka, libseccomp,
#     jansson, libcbor, OpenSSL: see below for OpenSSL)
#   - the cross compiler (gcc-arm-linux-gnueabihf) with Debian's cross C
#     library (libc6-dev-armhf-cross: libc6-dev:armhf would need
#     linux-libc-dev:armhf at the amd64 version, often a security update whose
#     armhf index may be missing), user-mode QEMU (qemu-arm, the Meson
#     exe_wrapper) and system QEMU (qemu-system-arm, the VM)
#   - e2fsprogs (mkfs.ext4 -d and debugfs: the device disk, never mounted on
#     the host); the initramfs is written by vm/mkinitramfs.py (no cpio)
#   - into cache/: Debian's armhf kernel (linux-image-*-armmp) and
#     busybox-static, fetched with `apt-get download` and unpacked; stable
#     names cache/vmlinuz, cache/modules, cache/busybox; cache/paths.ini
#
# The host build's own packages come from tools/install-deps.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="$here/cache"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
say() { echo "qemu-virt-a7 setup: $*" >&2; }

packages=(
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross linux-libc-dev-armhf-cross pkg-config meson ninja-build python3
  qemu-user qemu-system-arm e2fsprogs
  libsodium-dev:armhf libcmocka-dev:armhf libseccomp-dev:armhf libjansson-dev:armhf
  libcbor-dev:armhf
  # the host build (build/) prepares the signed images and packages
  gcc libc6-dev libsodium-dev libcmocka-dev libjansson-dev libssl-dev openssl libcbor-dev
  libseccomp-dev
)

updated=0
apt_update() {
  if [ "$updated" -eq 0 ]; then
    # An index that fails to download (the bookworm-security armhf index has
    # been seen failing with a size mismatch) must not stop the install.
    $sudo apt-get -o DPkg::Lock::Timeout=900 update -qq || say "apt-get update reported errors; continuing"
    updated=1
  fi
}

if ! dpkg --print-foreign-architectures | grep -qx armhf; then
  say "adding the armhf architecture"
  $sudo dpkg --add-architecture armhf
  apt_update
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
fi

# OpenSSL and libcurl for armhf. libssl3 is "Multi-Arch: same": its armhf
# version must equal the amd64 one, which usually comes from
# bookworm-security; when the armhf index of bookworm-security fails to
# download (it does, with a size mismatch), only an older armhf libssl3 is
# known and the multiarch install is impossible, for OpenSSL and for
# everything that needs it (libcurl through Kerberos, LDAP, SSH). Such a
# package is then unpacked with its armhf dependencies into cache/sysroot/
# instead, with pkg-config files rewritten to point there: the cross file
# reads cache/pkgconfig/ first and links with -rpath-link to the sysroot,
# the exe wrapper and the initramfs find the shared libraries there.
# libcurl is for the device agent (lib/agent); without it the agent is not
# built for this board, nothing else is affected.
mkdir -p "$cache"
sysroot_wanted=()
for p in libssl-dev:armhf libcurl4-openssl-dev:armhf; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    continue
  fi
  # Already unpacked into the sysroot by an earlier run: no apt-get update
  # (seconds, and the network) on every run.
  if grep -qwF "$p" "$cache/sysroot/.packages" 2>/dev/null; then
    sysroot_wanted+=("$p")
    continue
  fi
  apt_update
  if $sudo apt-get -s -o DPkg::Lock::Timeout=900 install --no-install-recommends "$p" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
      --no-install-recommends "$p"
    say "$p installed (multiarch)"
  else
    sysroot_wanted+=("$p")
  fi
done
if [ ${#sysroot_wanted[@]} -gt 0 ] && \
   [ "$(cat "$cache/sysroot/.packages" 2>/dev/null)" != "${sysroot_wanted[*]}" ]; then
  say "${sysroot_wanted[*]}: not installable next to the amd64 libraries (version skew);" \
      "unpacking into $cache/sysroot"
  apt_update
  # The armhf dependency closure, less the C runtime (the cross toolchain's
  # and libc6:armhf, installed above).
  closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
              --no-breaks --no-replaces --no-enhances --no-pre-depends "${sysroot_wanted[@]}" \
              2>/dev/null | grep -E '^[a-z0-9].*:armhf$' | sort -u \
              | grep -vE '^(libc6|libgcc-s1|gcc-12-base):armhf$')
  rm -rf "$cache/sysroot" "$cache/debs-sysroot" "$cache/pkgconfig"
  mkdir -p "$cache/debs-sysroot" "$cache/sysroot" "$cache/pkgconfig"
  # shellcheck disable=SC2086 # one package name per word
  (cd "$cache/debs-sysroot" && apt-get download -q $closure)
  for deb in "$cache"/debs-sysroot/*.deb; do dpkg-deb -x "$deb" "$cache/sysroot"; done
  for pc in "$cache"/sysroot/usr/lib/arm-linux-gnueabihf/pkgconfig/*.pc; do
    # The multiarch include directory holds opensslconf.h, curlbuild.h ...
    sed -e "s|^prefix=/usr\$|prefix=$cache/sysroot/usr|" -e "s|^\([a-z_]*\)=/usr/|\1=$cache/sysroot/usr/|" \
        -e 's|^Cflags: -I\${includedir} *$|Cflags: -I${includedir} -I${includedir}/arm-linux-gnueabihf|' \
        "$pc" > "$cache/pkgconfig/$(basename "$pc")"
  done
  echo "${sysroot_wanted[*]}" > "$cache/sysroot/.packages"
fi

# The kernel and busybox: downloaded once, unpacked into cache/. The kernel
# package is whatever linux-image-armmp (the metapackage) points at now.
mkdir -p "$cache"
if ! ls "$cache"/linux-image-*-armmp_*_armhf.deb >/dev/null 2>&1; then
  apt_update
  kpkg=$(apt-cache depends linux-image-armmp:armhf 2>/dev/null \
           | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  kpkg=${kpkg%:armhf}
  [ -n "$kpkg" ] || { say "cannot resolve linux-image-armmp:armhf"; exit 1; }
  say "downloading $kpkg:armhf"
  (cd "$cache" && apt-get download -q "$kpkg:armhf")
fi
if ! ls "$cache"/busybox-static_*_armhf.deb >/dev/null 2>&1; then
  apt_update
  say "downloading busybox-static:armhf"
  (cd "$cache" && apt-get download -q busybox-static:armhf)
fi
for deb in "$cache"/linux-image-*-armmp_*_armhf.deb "$cache"/busybox-static_*_armhf.deb; do
  name=$(basename "$deb" .deb)
  if [ ! -f "$cache/$name.unpacked" ]; then
    rm -rf "${cache:?}/root-$name"
    dpkg-deb -x "$deb" "$cache/root-$name"
    touch "$cache/$name.unpacked"
  fi
done
# Stable names for the build: cache/vmlinuz, cache/busybox, cache/modules/.
kroot=$(ls -d "$cache"/root-linux-image-*-armmp_* | head -1)
ln -sfn "$(ls "$kroot"/boot/vmlinuz-* | head -1)" "$cache/vmlinuz"
ln -sfn "$(ls -d "$kroot"/lib/modules/* | head -1)" "$cache/modules"
ln -sfn "$(ls -d "$cache"/root-busybox-static_*)/bin/busybox" "$cache/busybox"
# The absolute path of this folder for cross.ini (Meson 1.0 machine files
# cannot say "beside this file").
printf "# Written by setup.sh: this board folder, for cross.ini.\n[constants]\nboard_dir = '%s'\n" \
  "$here" > "$cache/paths.ini"
say "ready: $(basename "$(readlink "$cache/vmlinuz")"), busybox-static, $(arm-linux-gnueabihf-gcc -dumpfullversion) cross compiler, $(qemu-system-arm --version | head -1)"
