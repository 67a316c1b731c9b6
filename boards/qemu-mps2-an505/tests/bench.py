#!/usr/bin/env python3
"""Footprint and guest instruction counts of the qemu-mps2-an505 Secure image.

Run by `meson test -C build-m33 --benchmark --suite mps2-bench` (and by
boards/qemu-mps2-an505/test.sh). Prints:
  - flash and RAM of the Secure image (boot stage + pluton + secmon +
    crypto), per component, against the 64 KiB / 16 KiB targets;
  - guest instructions (QEMU's insn plugin, built by setup.sh from Debian's
    QEMU source) for a secure boot of a 256 KiB image against the raw
    BLAKE2b-256 digest + one Ed25519 verify, and for one secmon call round
    trip through the veneers, split into the bare world switch, the codec
    and the rest.
Counts are whole runs; each figure is a difference of two runs that differ
only in the measured work, so start-up cancels out.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import board_test  # noqa: E402  (the same device set-up as the tests)

board_test.log = lambda text: None  # the tests' console transcript is not wanted here

FLASH_TARGET = 64 * 1024
RAM_TARGET = 16 * 1024
N_CALLS = 1000


def sections(elf):
    out = subprocess.run(["arm-none-eabi-size", "-A", elf], capture_output=True, text=True, check=True).stdout
    s = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[0].startswith(".") and f[1].isdigit():
            s[f[0]] = int(f[1])
    return s


def components(elf):
    """Bytes of code + read-only data + initialised data per component, by
    the source file each symbol comes from (nm -l reads the debug info, which
    survives LTO's inlining across libraries; inlined code counts where it
    landed)."""
    groups = [
        ("/subprojects/libsodium", "libsodium (target subset)"),
        ("/lib/pluton/", "libpluton"),
        ("/lib/update/", "libupdate (boot stage, installer)"),
        ("/lib/secmon/", "libsecmon (codec, core, event log)"),
        ("/lib/attest/", "libattest (evidence producer)"),
        ("/boards/qemu-mps2-an505/cbor/", "libattest (evidence producer)"),
        ("/boards/qemu-mps2-an505/", "board: HAL, boot main, TrustZone, veneers, start-up"),
    ]
    out = subprocess.run(["arm-none-eabi-nm", "-S", "-l", elf], capture_output=True, text=True).stdout
    sizes = collections.Counter()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 4 or f[2] not in "TtRrDdWw":
            continue
        where = f[4] if len(f) > 4 else ""
        name = next((n for k, n in groups if k in where), "newlib, libgcc, CMSE runtime, unattributed")
        sizes[name] += int(f[1], 16)
    return sizes


class Counter:
    def __init__(self, a):
        self.a = a

    def count(self, elf, argv, dev=None):
        env = dict(os.environ, NACRE_M33_INSN_PLUGIN=self.a.plugin)
        if dev:
            env["NACRE_M33_DEVICE"] = dev
        r = subprocess.run([self.a.run_qemu, elf, *argv], env=env, capture_output=True, text=True, timeout=300)
        m = re.search(r"insns: (\d+)", r.stderr + r.stdout)
        if r.returncode != 0 or not m:
            raise SystemExit("bench: %s %s failed (exit %d):\n%s%s" % (elf, argv, r.returncode, r.stdout, r.stderr))
        return int(m.group(1)), r.stdout


def main():
    ap = argparse.ArgumentParser()
    for o in ("--run-qemu", "--secure", "--ns-bin", "--ns-elf", "--bench-raw", "--plugin"):
        ap.add_argument(o, required=True)
    ap.add_argument("--nacre", default=os.environ.get("NACRE_HOST_TOOL"))
    a = ap.parse_args()

    # ---- footprint ----------------------------------------------------------
    s = sections(a.secure)
    flash = s.get(".text", 0) + s.get(".ARM.exidx", 0) + s.get(".data", 0) + s.get(".gnu.sgstubs", 0)
    ram = s.get(".data", 0) + s.get(".bss", 0) + s.get(".stack", 0)
    print("== qemu-mps2-an505 Secure image footprint (%s)" % os.path.basename(a.secure))
    print("flash: %6d bytes (%.1f KiB)  target <= 64 KiB: %s" % (flash, flash / 1024, "met" if flash <= FLASH_TARGET else "NOT met"))
    print("RAM:   %6d bytes (%.1f KiB)  target <= 16 KiB: %s   (.data %d + .bss %d + stack %d; OTP shadow %d not counted)"
          % (ram, ram / 1024, "met" if ram <= RAM_TARGET else "NOT met", s.get(".data", 0), s.get(".bss", 0),
             s.get(".stack", 0), s.get(".otp_shadow", 0)))
    for k, v in components(a.secure).most_common():
        print("  %-48s %6d" % (k, v))
    ns = sections(a.ns_elf)
    print("NS app image: %d bytes of code, %d bytes of RAM" % (ns.get(".text", 0) + ns.get(".data", 0),
                                                              ns.get(".data", 0) + ns.get(".bss", 0) + ns.get(".task", 0)))
    if not os.path.exists(a.plugin):
        print("no instruction-counting plugin at %s (run setup.sh): counts skipped" % a.plugin)
        return 0
    if not a.nacre or not os.access(a.nacre, os.X_OK):
        print("no host nacre CLI: boot and round-trip counts skipped")
        return 0

    c = Counter(a)
    # ---- raw digest + verify -------------------------------------------------
    base, _ = c.count(a.bench_raw, ["none"])
    raw, _ = c.count(a.bench_raw, ["raw"])
    raw_cost = raw - base
    h, _ = c.count(a.bench_raw, ["hash"])
    v, _ = c.count(a.bench_raw, ["verify"])
    print("\n== guest instructions (QEMU insn plugin)")
    print("raw: BLAKE2b-256 of 256 KiB + one Ed25519 verify        %10d" % raw_cost)
    print("  BLAKE2b-256 of 256 KiB alone                          %10d  (%.1f per byte)"
          % (h - base, (h - base) / (256 * 1024)))
    print("  one Ed25519 verify alone                              %10d" % (v - base))
    k, _ = c.count(a.bench_raw, ["keygen"])
    print("one Ed25519 key pair from a seed (table-free base mult) %10d" % (k - base))

    with tempfile.TemporaryDirectory(prefix="nacre-m33-bench-") as work:
        args = argparse.Namespace(run_qemu=a.run_qemu, secure=a.secure, ns_bin=a.ns_bin, nacre=a.nacre)
        b = board_test.Board(args, work)
        # A 256 KiB payload: the NS app, zero-padded.
        big = os.path.join(work, "ns-256k.bin")
        with open(a.ns_bin, "rb") as f:
            data = f.read()
        with open(big, "wb") as f:
            f.write(data + bytes(256 * 1024 - len(data)))
        dev = b.confirmed_device("big", payload=big)
        pre, _ = c.count(a.secure, ["bench", "0", "stop=pre-boot"], dev)
        boot, out = c.count(a.secure, ["bench", "0", "stop=boot"], dev)
        full, _ = c.count(a.secure, ["bench", "0"], dev)
        boot_cost = boot - pre
        print("secure boot of a 256 KiB image (nacre_boot_run: journal,")
        print("  verify + payload digest, measure, DICE keys)            %10d  (%.2fx raw)" % (boot_cost, boot_cost / raw_cost))
        print("  reset to NS app exit, whole run (+ load, re-hash in NS")
        print("  memory, TrustZone, secmon start)                        %10d" % full)
        # ---- the Secure stack on the deepest paths the app takes ----------------
        # A first boot: install, trial boot (nacre_boot_run verifies the slot,
        # derives the DICE keys), then the NS app's calls (SIGN ...) and its
        # confirm (libupdate verifies the slot again).
        dev = b.new_device("small")
        b.install(dev, b.image("1.0.0", 1))
        rc, run_out = b.run(dev, "run")
        boot_hw = re.search(r"boot stage stack high-water (\d+)", run_out)
        ns_hw = re.search(r"NS: Secure stack high-water (\d+)", run_out)
        if rc != 0 or "NS: confirm: OK" not in run_out or not boot_hw or not ns_hw:
            raise SystemExit("bench: the first boot failed (exit %d):\n%s" % (rc, run_out))
        # ---- one secmon call round trip ---------------------------------------
        per = {}
        for name in ("bench", "bench-empty", "bench-codec", "bench-transport"):
            zero, _ = c.count(a.secure, [name, "0"], dev)
            many, _ = c.count(a.secure, [name, str(N_CALLS)], dev)
            per[name] = (many - zero) / N_CALLS
        print("secmon PING round trip through the veneer (NS encode,")
        print("  veneer, checks, copies, core, NS decode), per call      %10.0f" % per["bench"])
        print("  of which the bare world switch (empty veneer)           %10.0f" % per["bench-empty"])
        print("  of which the codec (4 passes over 1,024-byte messages)  %10.0f" % per["bench-codec"])
        print("  the veneer transport alone (world switch, caller and")
        print("    pointer checks, 2 x 1 KiB copies)                     %10.0f  (target <= 300)" % per["bench-transport"])
        print("  the rest: secmon core bookkeeping (rate limit, app")
        print("    table) and the NS call wrapper                        %10.0f"
              % (per["bench"] - per["bench-codec"] - per["bench-transport"]))
        stack = s.get(".stack", 0)
        hw = max(int(boot_hw.group(1)), int(ns_hw.group(1)))
        print("Secure stack high-water: boot stage %s, NS app running (SIGN, confirm ...) %s, of %d bytes "
              "(%d spare, %.0f%%)" % (boot_hw.group(1), ns_hw.group(1), stack, stack - hw,
                                      100.0 * (stack - hw) / hw if hw else 0))

    return 0


if __name__ == "__main__":
    sys.exit(main())
