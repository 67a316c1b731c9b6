#!/usr/bin/env bash
# Installs the Debian 12 packages Nacre needs to build, test and run the demo.
# Idempotent and quick when everything is present: only missing packages are
# installed. Needs root (or sudo).
set -euo pipefail

packages=(
  gcc libc6-dev pkg-config meson ninja-build python3   # build
  libsodium-dev libcmocka-dev libjansson-dev libssl-dev openssl libcbor-dev libseccomp-dev  # libraries
  clang libclang-rt-14-dev valgrind                     # fuzzing, sanitizers, valgrind
  libmicrohttpd-dev libsqlite3-dev libcurl4-openssl-dev  # nacre-service and the device agent
  sqlite3 chromium                                      # service tests: database checks, dashboard
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "nacre: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
# An index that fails to download (seen with some mirrors' security suites)
# must not stop the install when the packages themselves are reachable.
$sudo apt-get update -qq || echo "nacre: apt-get update reported errors; continuing" >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
