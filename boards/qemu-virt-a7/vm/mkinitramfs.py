#!/usr/bin/env python3
"""Builds the qemu-virt-a7 board's initramfs: a cpio (newc) archive, uncompressed.

Contents:
  /init                      vm/init (busybox sh): the board's boot script
  /bin/busybox               busybox-static:armhf (its applets are linked at boot)
  /dev/console               the console node (the kernel opens it before /init)
  /opt/nacre/bin/NAME        each --bin program (stripped)
  /lib/ld-linux-armhf.so.3,  the ELF interpreter and every shared library the
  /lib/arm-linux-gnueabihf/  programs need, found by following DT_NEEDED
  /lib/modules/NAME.ko       each --module and the modules it depends on
  /etc/nacre/modules         the modules in load order (dependencies first)

No root is needed: the archive is written directly, device node included.
Standard library only.

  mkinitramfs.py --out initrd.cpio --busybox BUSYBOX --init INIT --modules DIR
                 --readelf READELF --strip STRIP [--search DIR]... [--bin PROG]...
                 [--module NAME]...
"""
import argparse
import io
import os
import stat
import struct
import subprocess
import sys
import tempfile

MULTIARCH = "arm-linux-gnueabihf"
INTERP = "/lib/ld-linux-armhf.so.3"


class Cpio:
    """A cpio "newc" archive (the format the kernel unpacks), in memory."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1
        self.names = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.lstrip("/")
        if name in self.names:
            return
        self.names.add(name)
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name) + 1, 0]
        self.ino += 1
        hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.buf.write(hdr + name.encode() + b"\0")
        self.buf.write(b"\0" * (-(len(hdr) + len(name) + 1) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o755):
        self.dir(os.path.dirname(name))
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self.dir(os.path.dirname(name))
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self.dir(os.path.dirname(name))
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def needed(readelf, path):
    """DT_NEEDED entries and PT_INTERP of an ELF file."""
    out = subprocess.run([readelf, "-d", "-l", "-W", path], capture_output=True, text=True,
                         check=True).stdout
    libs = [line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines()
            if "(NEEDED)" in line]
    interp = None
    for line in out.splitlines():
        if "Requesting program interpreter:" in line:
            interp = line.split(":", 1)[1].strip().rstrip("]")
    return libs, interp


def find_lib(name, search):
    for d in search:
        for dp, dn, fn in os.walk(d):
            dn[:] = [x for x in dn if not x.endswith(".p") and x != "meson-private"]
            if name in fn:
                return os.path.join(dp, name)
    return None


def module_index(moddir):
    idx = {}
    for dp, _, fn in os.walk(moddir, followlinks=True):
        for f in fn:
            if f.endswith(".ko"):
                idx[f[:-3].replace("-", "_")] = os.path.join(dp, f)
    return idx


def module_deps(path):
    data = open(path, "rb").read()
    i = data.find(b"\0depends=")
    if i < 0:
        return []
    s = data[i + 9:data.index(b"\0", i + 1)].decode()
    return [x.replace("-", "_") for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--busybox", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("--modules", required=True)
    ap.add_argument("--readelf", required=True)
    ap.add_argument("--strip", required=True)
    ap.add_argument("--search", action="append", default=[])
    ap.add_argument("--bin", action="append", default=[])
    ap.add_argument("--module", action="append", default=[])
    a = ap.parse_args()

    cpio = Cpio()
    for d in ("proc", "sys", "dev", "tmp", "scratch", "nacre", "newroot", "usr/lib", "etc/nacre",
              "lib/" + MULTIARCH):
        cpio.dir(d)
    cpio.chardev("dev/console", 5, 1)
    cpio.file("etc/ld.so.cache", ld_so_cache(), 0o644)
    cpio.file("init", open(a.init, "rb").read())
    cpio.file("bin/busybox", open(a.busybox, "rb").read())
    cpio.symlink("bin/sh", "busybox")

    search = a.search + ["/usr/lib/" + MULTIARCH, "/lib/" + MULTIARCH]
    todo = list(a.bin)
    done = set()
    while todo:
        path = todo.pop()
        libs, interp = needed(a.readelf, path)
        if interp and interp != INTERP:
            sys.exit("mkinitramfs: %s: unexpected ELF interpreter %s" % (path, interp))
        if interp and INTERP not in done:
            done.add(INTERP)
            real = os.path.realpath(INTERP)
            todo.append(real)
            cpio.file(INTERP, open(real, "rb").read())
        for lib in libs:
            if lib in done:
                continue
            done.add(lib)
            found = find_lib(lib, search)
            if found is None:
                sys.exit("mkinitramfs: %s needs %s, not found in %s" % (path, lib, search))
            todo.append(os.path.realpath(found))
            cpio.file("lib/%s/%s" % (MULTIARCH, lib), stripped(a.strip, found), 0o644)
    for prog in a.bin:
        cpio.file("opt/nacre/bin/" + os.path.basename(prog), stripped(a.strip, prog))

    idx = module_index(a.modules)
    order = []

    def add(m):
        if m in order:
            return
        if m not in idx:
            sys.exit("mkinitramfs: kernel module %s not found under %s" % (m, a.modules))
        for d in module_deps(idx[m]):
            add(d)
        order.append(m)
    for m in a.module:
        add(m)
    for m in order:
        cpio.file("lib/modules/%s.ko" % m, open(idx[m], "rb").read(), 0o644)
    cpio.file("etc/nacre/modules", ("\n".join(order) + "\n").encode(), 0o644)

    # Not compressed: under TCG the kernel takes about 4 s to gunzip the
    # archive, and copying 15 MB into guest RAM costs QEMU nothing.
    data = cpio.finish()
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, a.out)


def ld_so_cache():
    """A valid glibc loader cache (format 1.1) that lists no library, padded
    to 512 bytes of string table: the loader then searches its built-in
    multiarch directories (/lib/arm-linux-gnueabihf ...), where every library
    is. It exists because the sandbox binds it read-only into each app, as on
    a full distribution, and the sandbox tests read it from inside."""
    strings = 512
    head = b"glibc-ld.so.cache" + b"1.1" + struct.pack("<IIB3sI3I", 0, strings, 0, b"\0" * 3, 0,
                                                           0, 0, 0)
    return head + b"\0" * strings


def stripped(strip, path):
    """The file's bytes without debug symbols (smaller archive, faster boot)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "stripped")
        subprocess.run([strip, "--strip-debug", "-o", out, path], check=True)
        return open(out, "rb").read()


if __name__ == "__main__":
    main()
