#!/bin/sh
# The qemu-virt-a7 run recipe: boots the board image once and returns when
# the VM powers itself off (its /init always ends with `poweroff -f`).
#
#   run-vm.sh KERNEL INITRD DISK [--port PORT] [KERNEL ARGUMENT]...
#
# KERNEL  Debian's armhf kernel (cache/vmlinuz, from setup.sh)
# INITRD  the initramfs the build makes (build-a7/boards/qemu-virt-a7/tests/initrd.cpio)
# DISK    a raw ext4 image: the device state (/nacre/dev: otp.bin, flash.bin),
#         inputs (/nacre/in) and outputs (/nacre/out); it persists across boots
# --port PORT  give the VM a network card on QEMU user networking with
#         restrict=on (no route anywhere) and one forward: each guest TCP
#         connection to 10.0.2.100:80 is relayed by channel.py (one process per
#         connection, started by QEMU) to 127.0.0.1:PORT on the host (the
#         nacre-service channel). Nothing else is reachable.
# Further arguments go to the kernel command line (nacre.* are read by /init).
#
# The console (ttyAMA0) is this script's standard output. QEMU's exit status
# is 0 whatever happened inside: the verdict is on the console.
set -eu
if [ $# -lt 3 ]; then
  echo "usage: run-vm.sh KERNEL INITRD DISK [--port PORT] [KERNEL ARGUMENT]..." >&2
  exit 2
fi
kernel=$1 initrd=$2 disk=$3
shift 3
port=""
if [ "${1:-}" = "--port" ]; then
  port=$2
  shift 2
  case "$port" in ''|*[!0-9]*) echo "run-vm.sh: --port wants a number" >&2; exit 2 ;; esac
fi
append="console=ttyAMA0 panic=-1 quiet $*"
if [ -n "$port" ]; then
  # The relay: this folder's channel.py under the real Python interpreter
  # (not a pyenv-style shim script: it starts once per connection). libslirp
  # splits the command like a shell (quotes kept); commas are doubled for
  # QEMU's option parser.
  here=$(cd "$(dirname "$0")" && pwd)
  py=${NACRE_PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
  relay=$(printf "'%s' '%s' %s" "$py" "$here/channel.py" "$port" | sed 's/,/,,/g')
  set -- -netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:$relay" \
         -device virtio-net-device,netdev=n0
else
  set -- -nic none
fi
exec qemu-system-arm -M virt -cpu cortex-a7 -smp 2 -m 512 \
  -display none -monitor none -serial stdio -no-reboot \
  -kernel "$kernel" -initrd "$initrd" \
  -append "$append" \
  -drive "file=$disk,format=raw,if=none,id=d0,cache=writeback" \
  -device virtio-blk-device,drive=d0 \
  "$@"
