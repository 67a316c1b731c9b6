"""nacre device provision / info / secure, and device errors."""
import os
import re
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase, read_bytes, read_text  # noqa: E402

HEX64 = re.compile(r"^[0-9a-f]{64}$")
ZERO = "0" * 64


class ProvisionInfoTest(NacreTestCase):
    def test_provision_then_info_json(self):
        dev = self.path("dev")
        prov = self.nacre_json("device", "provision", dev)
        self.assertEqual(prov["lifecycle"], "provisioned")
        self.assertRegex(prov["device_id"], HEX64)
        self.assertIsNone(prov["root_key_hash"])
        self.assertTrue(os.path.isfile(os.path.join(dev, "otp.bin")))
        self.assertTrue(os.path.isfile(os.path.join(dev, "flash.bin")))

        info = self.nacre_json("device", "info", dev)
        self.assertEqual(set(info), {"device", "lifecycle", "debug_locked", "root_key_hash",
                                     "device_id", "alias", "counters", "registers", "firmware",
                                     "running"})
        self.assertIsNone(info["running"])  # nothing installed
        self.assertEqual(info["lifecycle"], "provisioned")
        self.assertIs(info["debug_locked"], False)
        self.assertIsNone(info["root_key_hash"])
        self.assertEqual(info["device_id"], prov["device_id"])
        self.assertRegex(info["alias"], HEX64)
        self.assertNotEqual(info["alias"], info["device_id"])
        self.assertEqual(info["counters"], [0] * 8)
        self.assertEqual(info["registers"], [ZERO] * 8)
        self.assertIsNone(info["firmware"])

    def test_info_text(self):
        dev = self.provision()
        out = self.nacre_ok("device", "info", dev).stdout
        self.assertRegex(out, r"(?m)^lifecycle:\s+provisioned$")
        self.assertRegex(out, r"(?m)^debug locked:\s+no$")
        self.assertRegex(out, r"(?m)^root-key hash:\s+not set$")
        self.assertRegex(out, r"(?m)^DeviceID key:\s+[0-9a-f]{64}$")
        self.assertRegex(out, r"(?m)^Alias key:\s+[0-9a-f]{64}$")
        self.assertRegex(out, r"(?m)^counters 0\.\.7:\s+0 0 0 0 0 0 0 0$")
        for i in range(8):
            self.assertRegex(out, r"(?m)^R%d:\s+%s$" % (i, ZERO))

    def test_two_devices_differ(self):
        a = self.nacre_json("device", "info", self.provision("a"))
        b = self.nacre_json("device", "info", self.provision("b"))
        self.assertNotEqual(a["device_id"], b["device_id"])
        self.assertNotEqual(a["alias"], b["alias"])

    def test_firmware_changes_alias_not_device_id(self):
        dev = self.provision()
        fw1 = self.write("fw1.bin", b"firmware one\n" * 1000)
        fw2 = self.write("fw2.bin", b"firmware two\n" * 1000)
        none = self.nacre_json("device", "info", dev)
        one = self.nacre_json("device", "info", dev, "--firmware", fw1)
        two = self.nacre_json("device", "info", dev, "--firmware", fw2)
        again = self.nacre_json("device", "info", dev, "--firmware", fw1)

        self.assertEqual(none["device_id"], one["device_id"])
        self.assertEqual(one["device_id"], two["device_id"])
        self.assertNotEqual(none["alias"], one["alias"])
        self.assertNotEqual(one["alias"], two["alias"])
        self.assertNotEqual(one["registers"][0], two["registers"][0])
        self.assertNotEqual(one["registers"][0], ZERO)
        self.assertEqual(one["registers"][1:], [ZERO] * 7)
        # Same firmware, same Alias and R0: the derivation is deterministic.
        self.assertEqual(one["alias"], again["alias"])
        self.assertEqual(one["registers"][0], again["registers"][0])
        # R0 = BLAKE2b-256(zero register || BLAKE2b-256(file)).
        import hashlib
        digest = hashlib.blake2b(read_bytes(fw1), digest_size=32).digest()
        self.assertEqual(one["firmware"]["digest"], digest.hex())
        r0 = hashlib.blake2b(bytes(32) + digest, digest_size=32).hexdigest()
        self.assertEqual(one["registers"][0], r0)

    def test_missing_firmware_file(self):
        dev = self.provision()
        res = self.nacre("device", "info", dev, "--firmware", self.path("nope.bin"))
        self.assert_failure(res, "nope.bin")

    def test_provision_twice_refused(self):
        dev = self.provision()
        res = self.nacre("device", "provision", dev)
        self.assert_failure(res, "already provisioned")

    def test_root_key_later_then_secure(self):
        dev = self.provision()
        # SECURED needs a root-key hash.
        self.assert_failure(self.nacre("device", "secure", dev), "root key hash")
        key, pub = self.path("k.pem"), self.path("k.pub")
        self.nacre_ok("keygen", "--out", key, "--pub", pub)
        prov = self.nacre_json("device", "provision", dev, "--root-pub", pub)
        self.assertRegex(prov["root_key_hash"], HEX64)
        # Write-once.
        self.assert_failure(self.nacre("device", "provision", dev, "--root-pub", pub),
                            "write-once")

        before = self.nacre_json("device", "info", dev)
        out = self.nacre_ok("device", "secure", dev).stdout
        self.assertRegex(out, r"(?m)^lifecycle:\s+secured$")
        info = self.nacre_json("device", "info", dev)
        self.assertEqual(info["lifecycle"], "secured")
        self.assertIs(info["debug_locked"], True)
        self.assertEqual(info["root_key_hash"], prov["root_key_hash"])
        self.assertEqual(info["device_id"], before["device_id"])

        # OTP is closed: every provisioning-style write is refused.
        self.assert_failure(self.nacre("device", "provision", dev, "--root-pub", pub), "secured")
        self.assert_failure(self.nacre("device", "provision", dev))
        self.assert_failure(self.nacre("device", "secure", dev), "secured")
        self.assertEqual(self.nacre_json("device", "info", dev)["lifecycle"], "secured")

    def test_provision_with_root_pub_then_secure(self):
        key, pub = self.path("k.pem"), self.path("k.pub")
        self.nacre_ok("keygen", "--out", key, "--pub", pub)
        dev = self.provision("dev", "--root-pub", pub)
        self.nacre_ok("device", "secure", dev)
        self.assertEqual(self.nacre_json("device", "info", dev)["lifecycle"], "secured")
        # Keys, counters and sealing keep working on a secured device.
        self.nacre_ok("device", "counter", dev, "0", "--increment")


class DeviceErrorTest(NacreTestCase):
    """Device commands on things that are not (intact) devices: exit 1, one line."""

    def every_command(self, dev):
        pt = self.write("pt.txt", "hello")
        return [
            ["device", "info", dev],
            ["device", "info", dev, "--json"],
            ["device", "secure", dev],
            ["device", "seal", dev, "--in", pt, "--out", self.path("s.bin")],
            ["device", "unseal", dev, "--in", pt, "--out", self.path("u.txt")],
            ["device", "counter", dev, "0"],
            ["device", "counter", dev, "0", "--increment"],
        ]

    def check_all_fail(self, dev, contains):
        for args in self.every_command(dev):
            res = self.nacre(*args)
            self.assert_failure(res, contains)
            self.assertEqual(res.stdout, "", args)

    def test_not_a_device(self):
        empty = self.path("empty")
        os.mkdir(empty)
        self.check_all_fail(empty, "not a Nacre device")
        self.check_all_fail(self.path("does-not-exist"), "does-not-exist")
        # A plain file is no device either, and provision cannot make one there.
        f = self.write("file", "x")
        self.check_all_fail(f, None)
        self.assert_failure(self.nacre("device", "provision", f))

    def test_truncated_flash(self):
        dev = self.provision()
        flash = os.path.join(dev, "flash.bin")
        size = os.path.getsize(flash)
        for cut in (size // 2, 100, 0):
            os.truncate(flash, cut)
            self.check_all_fail(dev, "flash.bin")

    def test_damaged_otp(self):
        dev = self.provision()
        otp = os.path.join(dev, "otp.bin")
        data = bytearray(read_bytes(otp))
        data[0] ^= 0xFF  # header magic
        self.write("dev/otp.bin", bytes(data))
        self.check_all_fail(dev, "otp.bin")
        os.truncate(otp, 3)
        self.check_all_fail(dev, "otp.bin")

    def blank_device(self):
        """A created but never provisioned device: provision one, then clear
        its fuses (otp.bin is a 32-byte header followed by the OTP bytes)."""
        dev = self.provision()
        otp = os.path.join(dev, "otp.bin")
        with open(otp, "r+b") as f:
            size = os.path.getsize(otp)
            f.seek(32)
            f.write(bytes(size - 32))
        return dev

    def test_blank_device(self):
        dev = self.blank_device()
        info = self.nacre_json("device", "info", dev)
        self.assertEqual(info["lifecycle"], "blank")
        self.assertIsNone(info["device_id"])
        self.assertIsNone(info["alias"])
        self.assertIsNone(info["counters"])
        self.assertIsNone(info["root_key_hash"])
        self.assertEqual(len(info["registers"]), 8)
        out = self.nacre_ok("device", "info", dev).stdout
        self.assertRegex(out, r"(?m)^lifecycle:\s+blank$")
        self.assertRegex(out, r"(?m)^DeviceID key:\s+none")
        # Key, counter and seal operations need a provisioned device.
        self.assert_failure(self.nacre("device", "counter", dev, "0"), "blank")
        self.assert_failure(self.nacre("device", "secure", dev), "blank")
        pt = self.write("pt", "x")
        self.assert_failure(self.nacre("device", "seal", dev, "--in", pt, "--out",
                                       self.path("s")), "blank")
        self.assert_failure(self.nacre("device", "info", dev, "--pub-out", self.path("p.pub")),
                            "blank")
        # provision works on the existing (blank) device.
        prov = self.nacre_json("device", "provision", dev)
        self.assertEqual(prov["lifecycle"], "provisioned")

    def test_power_cut_during_provision(self):
        # Writes of a provision without a root key: 0 UDS, 1 its check value,
        # 2 counter-area erase, 3 counter header, 4 lifecycle byte.
        dev = self.path("dev")
        res = self.nacre("device", "provision", dev, env={"NACRE_POWER_CUT_AFTER": "0"})
        self.assert_failure(res, "power lost")
        # The UDS fuse write was torn: the part can never be provisioned
        # cleanly, and libpluton says so instead of guessing.
        self.assert_failure(self.nacre("device", "info", dev), "OTP partly programmed")
        self.assert_failure(self.nacre("device", "provision", dev), "OTP partly programmed")

    def test_power_cut_after_fuses_is_resumed(self):
        for cut in (2, 3, 4):
            with self.subTest(cut=cut):
                dev = self.path("dev%d" % cut)
                res = self.nacre("device", "provision", dev,
                                 env={"NACRE_POWER_CUT_AFTER": str(cut)})
                self.assert_failure(res, "power lost")
                info = self.nacre_json("device", "info", dev)
                self.assertEqual(info["lifecycle"], "blank")
                prov = self.nacre_json("device", "provision", dev)
                self.assertEqual(prov["lifecycle"], "provisioned")
                info = self.nacre_json("device", "info", dev)
                self.assertEqual(info["lifecycle"], "provisioned")
                self.assertEqual(info["counters"], [0] * 8)

    def test_device_in_use(self):
        # The host board holds flock(LOCK_EX) on flash.bin while a device is open.
        import fcntl
        dev = self.provision()
        with open(os.path.join(dev, "flash.bin"), "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.assert_failure(self.nacre("device", "info", dev), "in use")
        self.nacre_ok("device", "info", dev)

    def test_bad_power_cut_value(self):
        dev = self.provision()
        for bad in ("abc", "-1", "1x", ""):
            res = self.nacre("device", "info", dev, env={"NACRE_POWER_CUT_AFTER": bad})
            self.assert_failure(res, "NACRE_POWER_CUT_AFTER", status=2)


if __name__ == "__main__":
    nacre_cli.main()
