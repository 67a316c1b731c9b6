#!/bin/sh
# Meson exe_wrapper for the qemu-virt-a7 board: runs one armhf program under
# user-mode QEMU as a Cortex-A7. The armhf loader and libraries are found in
# their multiarch places (/lib/ld-linux-armhf.so.3, /usr/lib/arm-linux-gnueabihf);
# do not pass -L / QEMU_LD_PREFIX: forked children then crash.
# OpenSSL and libcurl may live in cache/sysroot/ (setup.sh), hence LD_LIBRARY_PATH.
# User-mode QEMU refuses seccomp filters (ENOSYS), user namespaces (EINVAL)
# and landlock (ENOSYS): the sandbox tests run in the VM instead (vm/).
here=$(cd "$(dirname "$0")" && pwd)
libdir="$here/cache/sysroot/usr/lib/arm-linux-gnueabihf:$here/cache/sysroot/lib/arm-linux-gnueabihf"
if [ -d "$here/cache/sysroot" ]; then
  exec qemu-arm -cpu cortex-a7 -E "LD_LIBRARY_PATH=$libdir" "$@"
fi
exec qemu-arm -cpu cortex-a7 "$@"
