#!/usr/bin/env python3
"""Board tests of qemu-mps2-an505, run by `meson test -C build-m33`.

Each test prepares a device (a directory holding the board's host files:
factory.bin, otp.bin, flash.bin, install.img ...), signs Non-secure images
with the host `nacre` CLI, and boots the Secure image in QEMU one or more
times through run-qemu.sh, checking the exit status and the console.

    board_test.py --run-qemu R --secure ELF --ns-bin BIN --nacre NACRE TEST

Exit statuses of a run (boards/qemu-mps2-an505/README.md): 0 the NS app
finished, 10 boot refused, 20 SecureFault, 30 NS MemManage, 40 power cut.
A test fails when a boot, fault or refusal it expects does not happen.
"""
import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

SECTOR = 4096
SLOT_A = 0x004000  # flash.bin offsets (nacre/board_mps2.h)
SLOT_B = 0x064000
SLOT_SIZE = 96 * SECTOR
COMPONENT = "ns-app"
SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")


class Fail(Exception):
    pass


class Board:
    def __init__(self, args, work):
        self.a = args
        self.work = work
        self.keys = {}
        self.quiet = False  # True: runs print nothing (the demo prints its own summary)

    # ---- host tools ---------------------------------------------------------
    def nacre(self, *argv):
        r = subprocess.run([self.a.nacre, *argv], capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail("nacre %s: %s%s" % (" ".join(argv), r.stdout, r.stderr))
        return r.stdout

    def key(self, name):
        if name not in self.keys:
            pem = os.path.join(self.work, name + ".pem")
            pub = os.path.join(self.work, name + ".pub")
            self.nacre("keygen", "--out", pem, "--pub", pub)
            self.keys[name] = (pem, pub)
        return self.keys[name]

    def root_hash(self, name="root"):
        return hashlib.blake2b(raw_pub(self.key(name)[1]), digest_size=32).digest()

    def image(self, version, counter, key="root", payload=None, refs=None):
        out = os.path.join(self.work, "%s-%s-%d.img" % (key, version, counter))
        pl = payload or self.a.ns_bin
        argv = ["image", "sign", "--key", self.key(key)[0], "--version", version, "--counter",
                str(counter), "--component", COMPONENT]
        if refs:
            argv += ["--refs-out", refs]
        self.nacre(*argv, pl, out)
        return out

    # ---- devices --------------------------------------------------------------
    def new_device(self, name):
        d = os.path.join(self.work, name)
        os.makedirs(d)
        with open(os.path.join(d, "factory.bin"), "wb") as f:
            f.write(self.root_hash() + os.urandom(32))  # a fresh entropy-seed fuse per device
        return d

    def copy_device(self, src, name):
        d = os.path.join(self.work, name)
        shutil.copytree(src, d)
        return d

    def run(self, dev, *argv, plugin=None):
        env = dict(os.environ, NACRE_M33_DEVICE=dev)
        if plugin:
            env["NACRE_M33_INSN_PLUGIN"] = plugin
        r = subprocess.run([self.a.run_qemu, self.a.secure, *argv], env=env, capture_output=True,
                           text=True, timeout=120)
        out = r.stdout + r.stderr
        if not self.quiet:
            log("---- run %s (exit %d)\n%s" % (" ".join(argv) or "run", r.returncode, out))
        return r.returncode, out

    def expect(self, dev, argv, code, *needles):
        rc, out = self.run(dev, *argv)
        if rc != code:
            raise Fail("%s: exit %d, expected %d" % (" ".join(argv), rc, code))
        for n in needles:
            if n not in out:
                raise Fail("%s: %r not in the output" % (" ".join(argv), n))
        return out

    def install(self, dev, img):
        shutil.copy(img, os.path.join(dev, "install.img"))

    def confirmed_device(self, name, version="1.0.0", counter=1, payload=None, refs=None):
        """A provisioned device running `version`, confirmed."""
        d = self.new_device(name)
        self.install(d, self.image(version, counter, payload=payload, refs=refs))
        self.expect(d, ["run"], 0, "secure: provisioned", "install: ns-app %s pending" % version,
                    "trial boot", "NS: confirm: OK", "NS: app done")
        return d


def raw_pub(pem_path):
    with open(pem_path) as f:
        der = base64.b64decode("".join(l for l in f.read().splitlines() if not l.startswith("-----")))
    return der[-32:]


def pem_of(raw):
    b = base64.b64encode(SPKI_ED25519 + raw).decode()
    return "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % b


def write_slot(dev, offset, img_path):
    with open(img_path, "rb") as f:
        img = f.read()
    with open(os.path.join(dev, "flash.bin"), "r+b") as f:
        f.seek(offset)
        f.write(img + b"\xff" * (SLOT_SIZE - len(img)))


def flip(dev, offset):
    with open(os.path.join(dev, "flash.bin"), "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


def log(text):
    sys.stdout.write(text)
    sys.stdout.flush()


# ---- the tests ------------------------------------------------------------------

def t_unit_boot_valid(b):
    d = b.confirmed_device("dev")
    b.expect(d, ["run"], 0, "boot: slot A, confirmed image", "NS: app done", "NS: security counter 1")


def t_boot_tampered(b):
    base = b.confirmed_device("dev")
    d = b.copy_device(base, "payload")
    flip(d, SLOT_A + 512 + 100)  # a payload byte
    b.expect(d, ["run"], 10, "boot: REFUSED", "image payload does not match its signed digest")
    d = b.copy_device(base, "header")
    flip(d, SLOT_A + 64 + 20)  # inside the protected (signed) TLVs
    b.expect(d, ["run"], 10, "boot: REFUSED")
    rc, out = b.run(d, "run")
    if "NS:" in out:
        raise Fail("a tampered image reached the NS world")


def t_boot_downgrade(b):
    d = b.confirmed_device("dev")  # v1.0.0 counter 1 in slot A
    b.install(d, b.image("2.0.0", 2))
    b.expect(d, ["run"], 0, "install: ns-app 2.0.0 pending", "slot B, trial boot", "NS: confirm: OK")
    b.expect(d, ["run"], 0, "slot B, confirmed image", "NS: security counter 2")
    # The installer refuses the old image ...
    b.install(d, b.image("1.0.0", 1))
    b.expect(d, ["run"], 0, "install: REFUSED refused downgrade", "slot B, confirmed image")
    # ... and so does the boot stage when it is written into the slot directly.
    write_slot(d, SLOT_B, b.image("1.0.0", 1))
    b.expect(d, ["run"], 10, "boot: REFUSED", "refused downgrade")


def t_boot_unknown_key(b):
    d = b.confirmed_device("dev")
    rogue = b.image("9.0.0", 9, key="rogue")
    d2 = b.copy_device(d, "install")
    b.install(d2, rogue)
    b.expect(d2, ["run"], 0, "install: REFUSED image signer is neither", "slot A, confirmed image")
    write_slot(d, SLOT_A, rogue)
    b.expect(d, ["run"], 10, "boot: REFUSED", "image signer is neither")


EVENT_LOG = (0x0C4000, 0x0C8000)


def event_log(dev):
    with open(os.path.join(dev, "flash.bin"), "rb") as f:
        f.seek(EVENT_LOG[0])
        return f.read(EVENT_LOG[1] - EVENT_LOG[0])


def attack(code, *needles, events=()):
    def t(b):
        d = b.confirmed_device("dev")
        out = b.expect(d, [t.scenario], code, *needles)
        if "NOT STOPPED" in out:
            raise Fail("attack not stopped")
        log_bytes = event_log(d)
        for e in events:  # a refusal is a security event, in flash
            if e not in log_bytes:
                raise Fail("no security event %r in the event log" % e)
    return t


def t_attack_devkey(b):
    d = b.confirmed_device("dev")
    out = b.expect(d, ["attack-devkey"], 0, "undefined call with a device-key handle: UNKNOWN_CALL")
    f = {}
    for line in out.splitlines():
        if line.startswith("NS: devkey "):
            k, v = line[len("NS: devkey "):].split(" ", 1)
            f[k] = bytes.fromhex(v.strip())

    def verifies(pk):
        with tempfile.TemporaryDirectory() as t:
            for name, data in (("msg", f["msg"]), ("sig", f["sig"])):
                with open(os.path.join(t, name), "wb") as fh:
                    fh.write(data)
            with open(os.path.join(t, "pk.pem"), "w") as fh:
                fh.write(pem_of(pk))
            r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", os.path.join(t, "pk.pem"),
                                "-rawin", "-in", os.path.join(t, "msg"), "-sigfile", os.path.join(t, "sig")],
                               capture_output=True)
            return r.returncode == 0
    if not verifies(f["app-pk"]):
        raise Fail("the app's signature does not verify with the app key: the check proves nothing")
    if verifies(f["deviceid-pk"]):
        raise Fail("the NS app obtained a signature by the DeviceID key")
    log("signature verifies with the app key, not with the DeviceID key\n")


def t_update(b):
    d = b.confirmed_device("dev")  # v1 confirmed in A
    shutil.copy(b.image("2.0.0", 2), os.path.join(d, "update.img"))
    b.expect(d, ["update"], 0, "NS: update installed (pending, trial boot at the next reset): OK")
    b.expect(d, ["run"], 0, "boot: slot B, trial boot of a pending update 1/3; ns-app 2.0.0", "NS: confirm: OK")
    b.expect(d, ["run"], 0, "boot: slot B, confirmed image; ns-app 2.0.0", "NS: security counter 2")
    # A second update that never confirms reverts after 3 trial boots.
    shutil.copy(b.image("3.0.0", 3), os.path.join(d, "update.img"))
    b.expect(d, ["update"], 0, "installed (pending, trial boot at the next reset): OK")
    for n in (1, 2, 3):
        b.expect(d, ["noconfirm"], 0, "slot A, trial boot of a pending update %d/3; ns-app 3.0.0" % n)
    out = b.expect(d, ["run"], 0, "ns-app 2.0.0", "NS: security counter 2")
    if "confirmed image" not in out and "revert" not in out:
        raise Fail("no revert to 2.0.0")
    b.expect(d, ["run"], 0, "boot: slot B, confirmed image; ns-app 2.0.0")


def t_powercut(b):
    """Cut power at every persistent write of an update (install, trial boot,
    confirm in one run); after each cut the next boot must run v1 or v2."""
    base = b.confirmed_device("dev")
    v2 = b.image("2.0.0", 2)
    n = 0
    seen = set()
    while True:
        d = b.copy_device(base, "cut%d" % n)
        b.install(d, v2)
        rc, out = b.run(d, "run", "cut=%d" % n)
        if rc not in (0, 40):
            raise Fail("cut=%d: exit %d" % (n, rc))
        os.remove(os.path.join(d, "install.img")) if os.path.exists(os.path.join(d, "install.img")) else None
        rc2, out2 = b.run(d, "noconfirm")
        if rc2 != 0 or "NS: app done" not in out2:
            raise Fail("cut=%d: the device does not boot afterwards (exit %d)" % (n, rc2))
        ver = "2.0.0" if "ns-app 2.0.0" in out2 else "1.0.0" if "ns-app 1.0.0" in out2 else None
        if ver is None:
            raise Fail("cut=%d: booted neither 1.0.0 nor 2.0.0" % n)
        if ver == "1.0.0" and "NS: security counter 1" not in out2:
            raise Fail("cut=%d: 1.0.0 runs with the counter raised" % n)
        seen.add(ver)
        if rc == 0:
            break
        shutil.rmtree(d)
        n += 1
    if n < 3 or seen != {"1.0.0", "2.0.0"}:
        raise Fail("only %d cut points / versions %s: the cuts did not land" % (n, sorted(seen)))
    log("%d cut points, every one recovered (booted: %s)\n" % (n, ", ".join(sorted(seen))))


def t_attest(b):
    refs = os.path.join(b.work, "refs.json")
    d = b.confirmed_device("dev", refs=refs)
    nonce = bytes(range(32))
    with open(os.path.join(d, "nonce.bin"), "wb") as f:
        f.write(nonce)
    b.expect(d, ["run", "attest"], 0, "attest: evidence.bin", "NS: app done")
    with open(os.path.join(d, "deviceid.pub"), "rb") as f:
        pub = os.path.join(b.work, "device.pub.pem")
        with open(pub, "w") as p:
            p.write(pem_of(f.read()))
    ev = os.path.join(d, "evidence.bin")
    r = subprocess.run([b.a.nacre, "attest", "verify", ev, "--nonce", nonce.hex(), "--device-pub", pub,
                        "--refs", refs], capture_output=True, text=True)
    log(r.stdout + r.stderr)
    if r.returncode != 0 or "verdict:        pass" not in r.stdout:
        raise Fail("board evidence does not verify on the host")
    r = subprocess.run([b.a.nacre, "attest", "verify", ev, "--nonce", "00" * 32, "--device-pub", pub,
                        "--refs", refs], capture_output=True, text=True)
    if r.returncode == 0:
        raise Fail("evidence verified with the wrong nonce")


CONSOLE_KEEP = ("secure:", "install:", "boot:", "attest:", "NS:", "SECURE FAULT", "NS FAULT")


def console(out, skip=("NS: kernel", "NS: app task")):
    """The lines of a run worth showing: the Secure image's and the NS app's."""
    for line in out.splitlines():
        line = line.strip()
        if line.startswith(CONSOLE_KEEP) and not line.startswith(skip):
            sys.stdout.write("   | %s\n" % line)
    sys.stdout.flush()


def t_demo(b):
    """boards/qemu-mps2-an505/demo.sh: one story, in readable sections. Each
    step fails the demo if the board does not behave as described."""
    b.quiet = True
    refs = os.path.join(b.work, "refs.json")
    say = log

    def step(title, dev, argv, code, *needles):
        say("\n-- %s\n   $ run-qemu.sh nacre-secure.elf %s\n" % (title, " ".join(argv)))
        rc, out = b.run(dev, *argv)
        console(out)
        why = None
        if rc != code:
            why = "exit status %d, expected %d" % (rc, code)
        elif "NOT STOPPED" in out:
            why = "an attack was not stopped"
        else:
            why = next(("%r not on the console" % n for n in needles if n not in out), None)
        if why:
            say("   the whole console:\n%s" % out)
            raise Fail("%s: %s" % (title, why))
        say("   ok: exit status %d%s\n" % (rc, {0: "", 10: " (boot refused)", 20: " (SecureFault)"}.get(rc, "")))
        return out

    say("== Nacre on qemu-mps2-an505: Cortex-M33 with TrustZone-M, under QEMU\n")
    say("\n-- factory: a root key, the NS app signed as image ns-app 1.0.0 (host `nacre`), a blank board\n")
    img = b.image("1.0.0", 1, refs=refs)
    say("   root key hash %s...; %s (%d bytes)\n"
        % (b.root_hash().hex()[:16], os.path.basename(img), os.path.getsize(img)))
    d = b.new_device("dev")
    b.install(d, img)

    step("first boot: provisioning, install, secure boot (trial), the NS app on secmon, confirm",
         d, ["run"], 0, "secure: provisioned", "install: ns-app 1.0.0 pending", "trial boot",
         "NS: signed telemetry: OK", "NS: confirm: OK", "NS: app done")

    nonce = os.urandom(32)
    with open(os.path.join(d, "nonce.bin"), "wb") as f:
        f.write(nonce)
    step("reboot: the confirmed image; attestation evidence for a fresh nonce", d, ["run", "attest"], 0,
         "boot: slot A, confirmed image", "attest: evidence.bin", "NS: confirm: STATE", "NS: app done")
    say("   (confirm: STATE is right: the image is already confirmed, there is nothing to confirm)\n")

    attacks = b.copy_device(d, "attacks")
    step("attack: the NS app hands secmon Secure pointers (refused, logged in flash)", attacks,
         ["attack-secptr"], 0, "Secure request pointer: MALFORMED", "Secure response pointer: MALFORMED")
    if b"nsc:req range" not in event_log(attacks):
        raise Fail("the refusal is not in the flash event log")
    say("   ok: 'nsc:req range' is in the security-event log (flash)\n")
    step("attack: the NS app reads Secure RAM (the hardware says no)", attacks, ["attack-sram"], 20,
         "SecureFault")
    tampered = b.copy_device(d, "tampered")
    flip(tampered, SLOT_A + 512 + 100)
    out = step("attack: one payload byte of the installed image flipped in flash (secure boot refuses it)",
               tampered, ["run"], 10, "boot: REFUSED")
    if "NS:" in out:
        raise Fail("a tampered image reached the Non-secure world")

    say("\n-- the board's evidence, verified on the host: nacre attest verify\n")
    pub = os.path.join(b.work, "device.pub.pem")
    with open(os.path.join(d, "deviceid.pub"), "rb") as f, open(pub, "w") as p:
        p.write(pem_of(f.read()))
    ev = os.path.join(d, "evidence.bin")
    argv = ["attest", "verify", ev, "--nonce", nonce.hex(), "--device-pub", pub, "--refs", refs]
    say("   $ nacre attest verify evidence.bin --nonce <fresh> --device-pub deviceid.pem --refs refs.json\n")
    r = subprocess.run([b.a.nacre, *argv], capture_output=True, text=True)
    for line in (r.stdout + r.stderr).splitlines():
        say("   | %s\n" % line)
    if r.returncode != 0 or "verdict:        pass" not in r.stdout:
        raise Fail("the board's evidence does not verify on the host")
    argv[4] = "00" * 32
    r = subprocess.run([b.a.nacre, *argv], capture_output=True, text=True)
    if r.returncode == 0:
        raise Fail("the evidence verified with another nonce")
    say("   ok: verdict pass; with another nonce it fails (exit %d)\n" % r.returncode)


TESTS = {
    "boot-valid": t_unit_boot_valid,
    "boot-tampered": t_boot_tampered,
    "boot-downgrade": t_boot_downgrade,
    "boot-unknown-key": t_boot_unknown_key,
    "attack-secure-ram": attack(20, "SecureFault", "SFSR=0x00000008"),
    "attack-non-veneer": attack(20, "SecureFault", "SFSR=0x00000001"),
    "attack-secure-pointer": attack(0, "Secure request pointer: MALFORMED", "Secure response pointer: MALFORMED",
                                    events=(b"nsc:req range", b"nsc:resp rang")),
    "attack-overflow": attack(0, "wrapping request length: MALFORMED", "wrapping response length: MALFORMED",
                              "request length past the message: MALFORMED",
                              events=(b"nsc:req range", b"nsc:resp rang", b"nsc:length")),
    "attack-privileged-pointer": attack(0, "kernel memory as the response buffer: MALFORMED",
                                        events=(b"nsc:resp rang",)),
    "attack-privileged-read": attack(30, "NS FAULT: MemManage"),
    "attack-otp-write": attack(20, "SecureFault", "SFSR=0x00000008"),
    "attack-device-key": t_attack_devkey,
    "update": t_update,
    "powercut": t_powercut,
    "attest": t_attest,
    "demo": t_demo,
}
SCENARIOS = {
    "attack-secure-ram": "attack-sram",
    "attack-non-veneer": "attack-nonveneer",
    "attack-secure-pointer": "attack-secptr",
    "attack-overflow": "attack-overflow",
    "attack-privileged-pointer": "attack-privptr",
    "attack-privileged-read": "attack-priv",
    "attack-otp-write": "attack-otp",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-qemu", required=True)
    ap.add_argument("--secure", required=True)
    ap.add_argument("--ns-bin", required=True)
    ap.add_argument("--nacre", default=os.environ.get("NACRE_HOST_TOOL"))
    ap.add_argument("test", choices=sorted(TESTS))
    a = ap.parse_args()
    if not a.nacre or not os.access(a.nacre, os.X_OK):
        print("SKIP: no host nacre CLI (set NACRE_HOST_TOOL or build the host build in build/)")
        return 77
    t = TESTS[a.test]
    t.scenario = SCENARIOS.get(a.test)
    with tempfile.TemporaryDirectory(prefix="nacre-m33-") as work:
        try:
            t(Board(a, work))
        except (Fail, subprocess.TimeoutExpired) as e:
            print("FAIL: %s: %s" % (a.test, e))
            return 1
    print("PASS: %s" % a.test)
    return 0


if __name__ == "__main__":
    sys.exit(main())
