"""nacre device install / boot / confirm / status: signed updates on a host
device (trial boot, confirm, automatic revert, anti-rollback, refused images,
power cuts during an install), and device info following the booted image."""
import hashlib
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase, read_bytes  # noqa: E402

CUT = "NACRE_POWER_CUT_AFTER"
ZERO = "0" * 64


def r0_after(measurement_hex):
    """R0 after one extend from zero: BLAKE2b-256(zero register || measurement)."""
    return hashlib.blake2b(bytes(32) + bytes.fromhex(measurement_hex),
                           digest_size=32).hexdigest()


class UpdateTestCase(NacreTestCase):
    def setUp(self):
        super().setUp()
        self.root, self.root_pub = self.path("root.pem"), self.path("root.pub.pem")
        self.nacre_ok("keygen", "--out", self.root, "--pub", self.root_pub)
        self.dev = self.provision("dev", "--root-pub", self.root_pub)

    def image(self, version, counter, size=20000, name=None, key=None, cert=None,
              component="app"):
        """A root-signed (or, with cert, certified-key-signed) image of a
        payload that differs per version."""
        name = name or "app-%s-c%d.img" % (version, counter)
        seed = ("%s/%d" % (version, counter)).encode()
        payload = (hashlib.sha256(seed).digest() * (size // 32 + 1))[:size]
        payload_path = self.write(name + ".bin", payload)
        img = self.path(name)
        args = ["image", "sign", "--key", key or self.root, "--version", version,
                "--counter", counter, "--component", component, payload_path, img]
        if cert is not None:
            args += ["--cert", cert]
        self.nacre_ok(*args)
        return img

    def install(self, img, *extra, dev=None):
        return self.nacre_json("device", "install", dev or self.dev, img, *extra)

    def boot(self, dev=None):
        return self.nacre_json("device", "boot", dev or self.dev)

    def confirm(self, dev=None):
        return self.nacre_json("device", "confirm", dev or self.dev)

    def status(self, dev=None):
        return self.nacre_json("device", "status", dev or self.dev)

    def info(self, dev=None):
        return self.nacre_json("device", "info", dev or self.dev)


class LifecycleTest(UpdateTestCase):
    def test_full_lifecycle(self):
        v1 = self.image("1.0.0", 1)
        v2 = self.image("1.1.0", 2)
        v3 = self.image("1.2.0", 3)

        # Nothing installed: nothing to boot; info keeps R0 zero.
        st = self.status()
        self.assertEqual((st["confirmed"], st["pending"], st["running"]), (None, None, None))
        self.assertIsNone(st["slots"]["A"]["image"])
        self.assertIsNone(st["slots"]["B"]["image"])
        self.assert_failure(self.nacre("device", "boot", self.dev), "no bootable image")
        self.assert_failure(self.nacre("device", "confirm", self.dev), "nothing to confirm")
        info = self.info()
        self.assertIsNone(info["running"])
        self.assertEqual(info["registers"][0], ZERO)
        alias0 = info["alias"]

        # v1: install -> pending -> trial 1 of 3 -> confirm -> counter 1.
        j = self.install(v1)
        self.assertEqual(j["slot"], "A")
        self.assertEqual(j["resumed_at"], 0)
        self.assertEqual(j["image"]["version"], "1.0.0")
        out = self.nacre_ok("device", "status", self.dev).stdout
        self.assertRegex(out, r"(?m)^pending:\s+A \(trial boots 0 of 3\)$")
        self.assertRegex(out, r"(?m)^slot A:\s+app 1\.0\.0, security counter 1: valid$")
        self.assertRegex(out, r"(?m)^slot B:\s+empty$")
        st = self.status()
        self.assertEqual((st["confirmed"], st["pending"]), (None, "A"))
        self.assertEqual(st["slots"]["A"]["verdict"], "valid")

        out = self.nacre_ok("device", "boot", self.dev).stdout
        self.assertRegex(out, r"(?m)^booted:\s+slot A: app 1\.0\.0, security counter 1$")
        self.assertRegex(out, r"(?m)^trial:\s+1 of 3")
        self.assertIn("trial boot of a pending update", out)
        info = self.info()
        self.assertEqual(info["running"]["slot"], "A")
        self.assertIs(info["running"]["trial"], True)
        self.assertEqual(info["running"]["image"]["version"], "1.0.0")
        m1 = info["running"]["image"]["measurement"]
        self.assertEqual(info["registers"][0], r0_after(m1))
        self.assertNotEqual(info["alias"], alias0)
        alias1 = info["alias"]
        self.assertRegex(self.nacre_ok("device", "info", self.dev).stdout,
                         r"(?m)^running image:\s+slot A: app 1\.0\.0, security counter 1 "
                         r"\(trial 1 of 3\)$")

        j = self.confirm()
        self.assertEqual(j["slot"], "A")
        self.assertEqual(j["security_counter"], 1)
        self.assertEqual(j["image"]["version"], "1.0.0")
        self.assertEqual(self.info()["counters"][0], 1)
        # Confirmed already: nothing more to confirm.
        res = self.nacre("device", "confirm", self.dev)
        self.assert_failure(res, "nothing to confirm: the running image is not a trial")
        j = self.boot()
        self.assertEqual((j["slot"], j["reason"], j["trial"]), ("A", "confirmed", None))
        self.assertIn("confirmed image",
                      self.nacre_ok("device", "boot", self.dev).stdout)
        self.assertEqual(self.info()["alias"], alias1)  # same image, same Alias key

        # v2: into slot B, trial, confirm.
        self.assertEqual(self.install(v2)["slot"], "B")
        j = self.boot()
        self.assertEqual((j["slot"], j["reason"], j["trial"], j["max_trials"]),
                         ("B", "trial", 1, 3))
        info = self.info()
        m2 = info["running"]["image"]["measurement"]
        self.assertNotEqual(info["alias"], alias1)
        self.assertEqual(info["registers"][0], r0_after(m2))
        self.assertNotEqual(info["registers"][0], ZERO)
        alias2 = info["alias"]
        self.assertEqual(self.confirm()["security_counter"], 2)
        st = self.status()
        self.assertEqual((st["confirmed"], st["pending"], st["security_counter"]), ("B", None, 2))
        # v1, still in slot A, is now below the counter.
        self.assertIs(st["slots"]["A"]["valid"], False)
        self.assertIn("downgrade", st["slots"]["A"]["verdict"])

        # v3 is never confirmed: three trials, then the boot stage reverts.
        self.assertEqual(self.install(v3)["slot"], "A")
        for n in (1, 2, 3):
            out = self.nacre_ok("device", "boot", self.dev).stdout
            self.assertRegex(out, r"(?m)^booted:\s+slot A: app 1\.2\.0")
            self.assertRegex(out, r"(?m)^trial:\s+%d of 3" % n)
        out = self.nacre_ok("device", "boot", self.dev).stdout
        self.assertRegex(out, r"(?m)^booted:\s+slot B: app 1\.1\.0, security counter 2$")
        self.assertRegex(out, r"(?m)^reason:\s+reverted")
        self.assertRegex(out, r"(?m)^passed over:\s+slot A: not confirmed after 3 trial boots$")
        j = self.boot()
        self.assertEqual((j["slot"], j["reason"], j["passed_over"]), ("B", "confirmed", None))
        self.assertEqual(self.info()["alias"], alias2)
        self.assert_failure(self.nacre("device", "confirm", self.dev), "nothing to confirm")
        st = self.status()
        self.assertEqual((st["confirmed"], st["pending"], st["security_counter"]), ("B", None, 2))

        # A downgrade (counter 1) is refused; the other slot is left empty.
        old = self.image("1.0.1", 1)
        res = self.nacre("device", "install", self.dev, old)
        self.assert_failure(res, "downgrade: security counter below the device's")
        self.assertIn("image 1, device 2", res.stderr)
        self.assertEqual(res.stdout, "")
        st = self.status()
        self.assertEqual((st["confirmed"], st["pending"]), ("B", None))
        self.assertEqual(st["slots"]["B"]["image"]["version"], "1.1.0")
        self.assertIs(st["slots"]["B"]["valid"], True)
        self.assertIsNone(st["slots"]["A"]["image"])
        self.assertRegex(self.nacre_ok("device", "status", self.dev).stdout,
                         r"(?m)^slot A:\s+empty$")

        # A tampered payload is refused at the end; the active slot is untouched.
        v4 = self.image("1.3.0", 4)
        data = bytearray(read_bytes(v4))
        data[-100] ^= 0x01
        bad = self.write("tampered.img", bytes(data))
        res = self.nacre("device", "install", self.dev, bad)
        self.assert_failure(res, "digest")
        st2 = self.status()
        self.assertEqual(st2["slots"]["B"], st["slots"]["B"])
        self.assertEqual((st2["confirmed"], st2["pending"]), ("B", None))
        self.assertIsNone(st2["slots"]["A"]["image"])
        j = self.boot()
        self.assertEqual((j["slot"], j["reason"], j["image"]["version"]),
                         ("B", "confirmed", "1.1.0"))
        self.assertEqual(self.info()["alias"], alias2)

        # The genuine v4 is accepted.
        self.install(v4)
        self.assertEqual(self.boot()["image"]["version"], "1.3.0")
        self.assertEqual(self.confirm()["security_counter"], 4)

    def test_seal_follows_the_running_image(self):
        v1, v2 = self.image("1.0.0", 1), self.image("2.0.0", 2)
        self.install(v1)
        self.boot()
        self.confirm()
        secret = self.write("secret.txt", "wifi password")
        sealed = self.path("s.sealed")
        self.nacre_ok("device", "seal", self.dev, "--bind", "0", "--in", secret, "--out", sealed)
        self.nacre_ok("device", "unseal", self.dev, "--in", sealed, "--out", self.path("o1"))
        self.install(v2)
        self.boot()
        self.assert_failure(self.nacre("device", "unseal", self.dev, "--in", sealed, "--out",
                                       self.path("o2")), "bound measurements differ")
        # --firmware still overrides the running image.
        fw = self.write("fw.bin", "firmware")
        a = self.nacre_json("device", "info", self.dev, "--firmware", fw)
        self.assertIsNone(a["running"])
        self.assertEqual(a["firmware"]["digest"],
                         hashlib.blake2b(b"firmware", digest_size=32).hexdigest())

    def test_running_image_no_longer_valid(self):
        """The counter raised past the running image (here by hand): attach
        finds no valid image, and the other commands fall back to R0 zero."""
        self.install(self.image("1.0.0", 1))
        self.boot()
        self.confirm()
        self.assertIsNotNone(self.info()["running"])
        self.nacre_ok("device", "counter", self.dev, "0", "--advance", "5")
        info = self.info()
        self.assertIsNone(info["running"])
        self.assertEqual(info["registers"][0], ZERO)
        self.assertRegex(self.nacre_ok("device", "info", self.dev).stdout,
                         r"(?m)^running image:\s+none \(slot A no longer verifies: refused "
                         r"downgrade")
        res = self.nacre("device", "boot", self.dev)
        self.assert_failure(res, "no bootable image")
        self.assertIn("slot A: refused downgrade", res.stderr)

    def test_text_outputs(self):
        v1 = self.image("1.0.0", 1)
        out = self.nacre_ok("device", "install", self.dev, v1).stdout
        self.assertRegex(out, r"(?m)^installed:\s+app 1\.0\.0, security counter 1$")
        self.assertRegex(out, r"(?m)^slot:\s+A$")
        self.assertIn("pending:        it gets a trial boot at the next 'nacre device boot'",
                      out)
        self.nacre_ok("device", "boot", self.dev)
        out = self.nacre_ok("device", "status", self.dev).stdout
        self.assertRegex(out, r"(?m)^running:\s+A \(a trial at the last boot\)$")
        self.assertRegex(out, r"(?m)^pending:\s+A \(trial boots 1 of 3\)$")
        out = self.nacre_ok("device", "confirm", self.dev).stdout
        self.assertRegex(out, r"(?m)^confirmed:\s+slot A: app 1\.0\.0, security counter 1$")
        self.assertRegex(out, r"(?m)^anti-rollback:\s+security counter 1, key epoch 0$")
        out = self.nacre_ok("device", "status", self.dev).stdout
        self.assertRegex(out, r"(?m)^confirmed:\s+A$")
        self.assertRegex(out, r"(?m)^anti-rollback:\s+security counter 1, key epoch 0$")
        self.assertRegex(out, r"(?m)^installing:\s+none$")

    def test_certified_key_and_epoch(self):
        signer, signer_pub = self.path("s.pem"), self.path("s.pub.pem")
        self.nacre_ok("keygen", "--out", signer, "--pub", signer_pub)
        cert0, cert2 = self.path("e0.cert"), self.path("e2.cert")
        for cert, epoch in ((cert0, "0"), (cert2, "2")):
            self.nacre_ok("key", "certify", "--root-key", self.root, "--pub", signer_pub,
                          "--epoch", epoch, "--out", cert)
        self.install(self.image("1.0.0", 1, key=signer, cert=cert2))
        self.boot()
        j = self.confirm()
        self.assertEqual((j["security_counter"], j["key_epoch"]), (1, 2))
        # A certificate below the device's epoch is revoked.
        res = self.nacre("device", "install", self.dev,
                         self.image("1.1.0", 2, key=signer, cert=cert0))
        self.assert_failure(res, "revoked")
        # A key the root never certified.
        other = self.path("o.pem")
        self.nacre_ok("keygen", "--out", other)
        res = self.nacre("device", "install", self.dev, self.image("1.1.0", 2, key=other))
        self.assert_failure(res, "neither the device's root key nor certified")

    def test_component_and_chunks(self):
        img = self.image("1.0.0", 1, size=9000, component="thermostat")
        res = self.nacre("device", "install", self.dev, img, "--component", "doorbell")
        self.assert_failure(res, "another component")
        self.assertIn("this device runs 'doorbell'", res.stderr)
        for chunk in ("1", "7", "256", "100000"):
            j = self.install(img, "--chunk", chunk, "--component", "thermostat")
            self.assertEqual(j["image"]["component"], "thermostat")
        j = self.nacre_json("device", "boot", self.dev, "--component", "thermostat")
        self.assertEqual(j["reason"], "trial")
        res = self.nacre("device", "boot", self.dev, "--component", "doorbell")
        self.assert_failure(res, "another component")

    def test_not_an_image_touches_nothing(self):
        self.install(self.image("1.0.0", 1))
        before = read_bytes(os.path.join(self.dev, "flash.bin"))
        junk = self.write("junk.img", b"\x7fELF" + bytes(5000))
        self.assert_failure(self.nacre("device", "install", self.dev, junk), "not a Nacre image")
        self.assert_failure(self.nacre("device", "install", self.dev, self.path("missing.img")),
                            "missing.img")
        self.assertEqual(read_bytes(os.path.join(self.dev, "flash.bin")), before)
        self.assertEqual(self.status()["pending"], "A")


class PowerCutTest(UpdateTestCase):
    def test_install_cut_then_resume(self):
        """Cut the power after N writes of an install, then install again:
        it resumes from the bytes safely in flash (or restarts), and the
        image gets its trial boot."""
        img = self.image("2.0.0", 2, size=150000, name="big.img")
        size = os.path.getsize(img)
        resumed = []
        for n in (0, 3, 5, 20, 50, 90):
            with self.subTest(cut=n):
                dev = self.provision("dev%d" % n, "--root-pub", self.root_pub)
                res = self.nacre("device", "install", dev, img, env={CUT: str(n)})
                self.assert_failure(res, "power lost")
                st = self.status(dev)
                self.assertIsNone(st["pending"])
                res = self.nacre_ok("device", "install", dev, img)
                m = re.search(r"(?m)^resuming at byte (\d+) of (\d+)$", res.stdout)
                if m:
                    offset = int(m.group(1))
                    self.assertEqual(int(m.group(2)), size)
                    self.assertTrue(0 < offset < size and offset % 4096 == 0, offset)
                    # status had announced the install it resumed.
                    self.assertEqual(st["installing"]["progress"], offset)
                    resumed.append(n)
                self.assertRegex(res.stdout, r"(?m)^installed:\s+app 2\.0\.0")
                j = self.boot(dev)
                self.assertEqual((j["reason"], j["trial"], j["image"]["version"]),
                                 ("trial", 1, "2.0.0"))
        self.assertTrue(resumed, "no cut point resumed an install")
        self.assertIn(50, resumed)

    def test_resume_of_another_image_restarts(self):
        a = self.image("1.0.0", 1, size=100000, name="a.img")
        b = self.image("1.0.1", 1, size=100000, name="b.img")
        self.assert_failure(self.nacre("device", "install", self.dev, a, env={CUT: "30"}),
                            "power lost")
        self.assertIsNotNone(self.status()["installing"])
        out = self.nacre_ok("device", "install", self.dev, b).stdout
        self.assertIn("discarded an interrupted install of another image", out)
        self.assertNotIn("resuming", out)
        self.assertEqual(self.boot()["image"]["version"], "1.0.1")

    def test_confirm_cut(self):
        """A confirm cut at any write: after the next boot the device has
        either confirmed the image (counter raised) or still offers it as a
        trial; confirming again always ends confirmed with the counter up."""
        cuts = 0
        for n in range(0, 4):
            with self.subTest(cut=n):
                dev = self.provision("c%d" % n, "--root-pub", self.root_pub)
                self.install(self.image("1.0.0", 5), dev=dev)
                self.boot(dev)
                res = self.nacre("device", "confirm", dev, env={CUT: str(n)})
                if res.returncode == 0:
                    continue
                self.assert_failure(res, "power lost")
                cuts += 1
                if self.boot(dev)["reason"] == "trial":
                    self.confirm(dev)
                st = self.status(dev)
                self.assertEqual((st["confirmed"], st["pending"], st["security_counter"]),
                                 ("A", None, 5))
        # The journal write, then the counter write.
        self.assertGreaterEqual(cuts, 2)


class DeviceRefusalTest(UpdateTestCase):
    def test_no_root_key(self):
        img = self.image("1.0.0", 1)
        dev = self.provision("noroot")
        for args in (["install", dev, img], ["boot", dev], ["confirm", dev], ["status", dev]):
            res = self.nacre("device", *args)
            self.assert_failure(res, "no root-key hash")
            self.assertEqual(res.stdout, "")
        # The other commands keep working, with R0 zero.
        info = self.info(dev)
        self.assertIsNone(info["running"])
        self.assertEqual(info["registers"][0], ZERO)
        self.assertRegex(self.nacre_ok("device", "info", dev).stdout,
                         r"(?m)^running image:\s+none \(no root-key hash")

    def test_blank_and_missing(self):
        img = self.image("1.0.0", 1)
        missing = self.path("nowhere")
        for args in (["install", missing, img], ["boot", missing], ["confirm", missing],
                     ["status", missing]):
            self.assert_failure(self.nacre("device", *args), "nowhere")
        # A blank device (fuses cleared: see test_cli_device.py).
        dev = self.provision("blank")
        otp = os.path.join(dev, "otp.bin")
        with open(otp, "r+b") as f:
            f.seek(32)
            f.write(bytes(os.path.getsize(otp) - 32))
        for args in (["install", dev, img], ["boot", dev], ["confirm", dev], ["status", dev]):
            self.assert_failure(self.nacre("device", *args), "blank")

    def test_usage(self):
        img = self.image("1.0.0", 1)
        cases = [
            ["device", "install"],
            ["device", "install", self.dev],
            ["device", "install", self.dev, img, "extra"],
            ["device", "install", self.dev, img, "--chunk", "0"],
            ["device", "install", self.dev, img, "--chunk", "2000000"],
            ["device", "install", self.dev, img, "--chunk", "x"],
            ["device", "install", self.dev, img, "--component", "Bad!"],
            ["device", "boot"],
            ["device", "boot", self.dev, "--chunk", "5"],
            ["device", "confirm", self.dev, self.dev],
            ["device", "status", self.dev, "--frob"],
        ]
        for args in cases:
            res = self.nacre(*args)
            self.assert_failure(res, status=2)
            self.assertEqual(res.stdout, "", args)
        for sub in ("install", "boot", "confirm", "status"):
            out = self.nacre_ok("device", sub, "--help").stdout
            self.assertIn("usage: nacre device " + sub, out)
        # Nothing was installed by the refused commands.
        self.assertIsNone(self.status()["pending"])

    def test_json_parses(self):
        img = self.image("1.0.0", 1)
        for args in (["device", "install", self.dev, img, "--json"],
                     ["device", "status", self.dev, "--json"],
                     ["device", "boot", self.dev, "--json"],
                     ["device", "info", self.dev, "--json"],
                     ["device", "confirm", self.dev, "--json"],
                     ["device", "status", self.dev, "--json"]):
            res = self.nacre_ok(*args)
            self.assertIsInstance(json.loads(res.stdout), dict)
            self.assertTrue(res.stdout.startswith("{\n  \""), args)


if __name__ == "__main__":
    nacre_cli.main()
