"""nacre image sign / create / digest / attach-signature / inspect / verify,
nacre key certify, and offline signing with the real openssl binary."""
import os
import re
import struct
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase, read_bytes, blake2b_256, raw_ed25519_from_spki  # noqa: E402

HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ImageTestCase(NacreTestCase):
    def setUp(self):
        super().setUp()
        self.payload = bytes((i * 7 + 3) & 0xFF for i in range(10000))
        self.payload_path = self.write("app.bin", self.payload)

    def keypair(self, name):
        key, pub = self.path(name + ".pem"), self.path(name + ".pub.pem")
        self.nacre_ok("keygen", "--out", key, "--pub", pub)
        return key, pub

    def raw_pub(self, pub):
        return raw_ed25519_from_spki(pub)

    def sign(self, key, out="app.img", version="1.0.0", counter=1, *extra):
        img = self.path(out)
        self.nacre_ok("image", "sign", "--key", key, "--version", version,
                      "--counter", counter, *extra, self.payload_path, img)
        return img

    def inspect(self, img):
        return self.nacre_json("image", "inspect", img)

    def tbs(self, img):
        tbs = self.path("tbs.bin")
        self.nacre_ok("image", "digest", img, "--out", tbs)
        return read_bytes(tbs)


class SignInspectTest(ImageTestCase):
    def test_root_signed(self):
        key, pub = self.keypair("root")
        img = self.sign(key, "app.img", "1.2.3", 7, "--component", "thermostat",
                        "--dep", "boot@2.0.1", "--dep", "net.stack@0.10.0")
        data = read_bytes(img)
        info = self.inspect(img)
        root_id = blake2b_256(self.raw_pub(pub))
        self.assertEqual(info["component"], "thermostat")
        self.assertEqual(info["version"], "1.2.3")
        self.assertEqual(info["security_counter"], 7)
        self.assertEqual(info["payload_size"], len(self.payload))
        self.assertEqual(info["image_size"], len(data))
        self.assertEqual(info["file_size"], len(data))
        self.assertEqual(info["payload_offset"] % 256, 0)
        self.assertEqual(data[info["payload_offset"]:], self.payload)
        self.assertEqual(info["payload_digest"], blake2b_256(self.payload))
        self.assertEqual(info["signer_key_id"], root_id)
        self.assertEqual(info["root_key_id"], root_id)
        self.assertIs(info["signed"], True)
        self.assertEqual(info["signer"], "root")
        self.assertIsNone(info["key_epoch"])
        self.assertEqual(info["dependencies"],
                         [{"component": "boot", "min_version": "2.0.1"},
                          {"component": "net.stack", "min_version": "0.10.0"}])
        # The measurement is BLAKE2b-256 of the to-be-signed bytes.
        self.assertEqual(info["measurement"], blake2b_256(self.tbs(img)))
        self.assertEqual(data[:4], b"NIMG")

        out = self.nacre_ok("image", "inspect", img).stdout
        self.assertRegex(out, r"(?m)^component:\s+thermostat$")
        self.assertRegex(out, r"(?m)^version:\s+1\.2\.3$")
        self.assertRegex(out, r"(?m)^signed:\s+yes$")
        self.assertRegex(out, r"(?m)^signer:\s+root key")
        self.assertRegex(out, r"(?m)^dependencies:\s+boot >= 2\.0\.1, net\.stack >= 0\.10\.0$")

    def test_sign_output(self):
        key, _ = self.keypair("root")
        img = self.path("app.img")
        res = self.nacre_ok("image", "sign", "--key", key, "--version", "1.0.0", "--counter",
                            "1", self.payload_path, img)
        self.assertRegex(res.stdout, r"(?m)^component:\s+app$")  # the default
        self.assertRegex(res.stdout, r"(?m)^counter:\s+1$")
        self.assertRegex(res.stdout, r"(?m)^measurement:\s+[0-9a-f]{64}$")
        j = self.nacre_json("image", "sign", "--key", key, "--version", "1.0.0", "--counter",
                            "1", self.payload_path, img)
        self.assertEqual(j["measurement"], self.inspect(img)["measurement"])
        self.assertEqual(j["image"], img)

    def test_cert_signed(self):
        root, root_pub = self.keypair("root")
        signer, signer_pub = self.keypair("signer")
        cert = self.path("signer.cert")
        j = self.nacre_json("key", "certify", "--root-key", root, "--pub", signer_pub,
                            "--epoch", "2", "--out", cert)
        self.assertEqual(os.path.getsize(cert), 144)
        self.assertEqual(read_bytes(cert)[:4], b"NKC1")
        self.assertEqual(j["epoch"], 2)
        self.assertEqual(j["root_key_id"], blake2b_256(self.raw_pub(root_pub)))
        self.assertEqual(j["signer_key_id"], blake2b_256(self.raw_pub(signer_pub)))

        img = self.sign(signer, "app.img", "2.0.0", 3, "--cert", cert)
        info = self.inspect(img)
        self.assertEqual(info["signer"], "certified")
        self.assertEqual(info["key_epoch"], 2)
        self.assertIs(info["certificate_valid"], True)
        self.assertEqual(info["signer_key_id"], blake2b_256(self.raw_pub(signer_pub)))
        self.assertEqual(info["root_key_id"], blake2b_256(self.raw_pub(root_pub)))
        self.assertRegex(self.nacre_ok("image", "inspect", img).stdout,
                         r"(?m)^signer:\s+certified key, epoch 2")

        self.nacre_ok("image", "verify", "--pub", root_pub, img)
        # The signing key is not a root key.
        res = self.nacre("image", "verify", "--pub", signer_pub, img)
        self.assert_failure(res, "neither the device's root key nor certified")
        # Revocation by epoch.
        self.nacre_ok("image", "verify", "--pub", root_pub, img, "--epoch", "2")
        self.assert_failure(self.nacre("image", "verify", "--pub", root_pub, img, "--epoch", "3"),
                            "revoked")

        # The certificate must certify the key that signs.
        other, _ = self.keypair("other")
        res = self.nacre("image", "sign", "--key", other, "--cert", cert, "--version", "1.0.0",
                         "--counter", "1", self.payload_path, self.path("x.img"))
        self.assert_failure(res, "certifies another key")
        self.assertFalse(os.path.exists(self.path("x.img")))

    def test_certify_refuses_to_overwrite(self):
        root, _ = self.keypair("root")
        _, signer_pub = self.keypair("signer")
        cert = self.path("c.cert")
        self.nacre_ok("key", "certify", "--root-key", root, "--pub", signer_pub, "--epoch", "1",
                      "--out", cert)
        before = read_bytes(cert)
        res = self.nacre("key", "certify", "--root-key", root, "--pub", signer_pub,
                         "--epoch", "5", "--out", cert)
        self.assert_failure(res, "already exists")
        self.assertIn("--force", res.stderr)
        self.assertEqual(read_bytes(cert), before)
        out = self.nacre_ok("key", "certify", "--root-key", root, "--pub", signer_pub,
                            "--epoch", "5", "--out", cert, "--force").stdout
        self.assertRegex(out, r"(?m)^epoch:\s+5$")
        self.assertNotEqual(read_bytes(cert), before)
        # A public key is no root private key.
        res = self.nacre("key", "certify", "--root-key", signer_pub, "--pub", signer_pub,
                         "--epoch", "1", "--out", self.path("d.cert"))
        self.assert_failure(res, "public key")
        self.assertFalse(os.path.exists(self.path("d.cert")))


class VerifyTest(ImageTestCase):
    def setUp(self):
        super().setUp()
        self.key, self.pub = self.keypair("root")
        self.img = self.sign(self.key, "app.img", "1.4.0", 5)

    def test_valid_and_wrong_root(self):
        out = self.nacre_ok("image", "verify", "--pub", self.pub, self.img).stdout
        self.assertRegex(out, r"(?m)^verdict:\s+valid$")
        self.assertRegex(out, r"(?m)^version:\s+1\.4\.0$")
        j = self.nacre_json("image", "verify", "--pub", self.pub, self.img)
        self.assertIs(j["valid"], True)
        self.assertEqual(j["security_counter"], 5)
        # A private key file works as --pub too (its public half).
        self.nacre_ok("image", "verify", "--pub", self.key, self.img)

        _, other = self.keypair("other")
        res = self.nacre("image", "verify", "--pub", other, self.img)
        self.assert_failure(res, "neither the device's root key")
        self.assertEqual(res.stdout, "")
        res = self.nacre("image", "verify", "--pub", other, self.img, "--json")
        self.assert_failure(res)
        import json
        j = json.loads(res.stdout)
        self.assertIs(j["valid"], False)
        self.assertIn("root key", j["reason"])

    def test_policy(self):
        self.nacre_ok("image", "verify", "--pub", self.pub, self.img, "--counter", "5")
        res = self.nacre("image", "verify", "--pub", self.pub, self.img, "--counter", "6")
        self.assert_failure(res, "downgrade")
        self.assertIn("image counter 5, minimum 6", res.stderr)
        self.nacre_ok("image", "verify", "--pub", self.pub, self.img, "--component", "app")
        self.assert_failure(self.nacre("image", "verify", "--pub", self.pub, self.img,
                                       "--component", "bootloader"), "another component")

    def test_tampered(self):
        data = bytearray(read_bytes(self.img))
        off = self.inspect(self.img)["payload_offset"]
        bad = bytearray(data)
        bad[off + 100] ^= 0x01
        p = self.write("bad-payload.img", bytes(bad))
        self.assert_failure(self.nacre("image", "verify", "--pub", self.pub, p), "digest")
        # inspect verifies nothing: it still shows the (unchanged) metadata.
        self.assertEqual(self.inspect(p)["version"], "1.4.0")

        # The version in the signed metadata: the signature no longer verifies.
        bad = bytearray(data)
        i = bytes(data).index(struct.pack("<HH", 2, 12)) + 4
        bad[i] ^= 0x01
        p = self.write("bad-meta.img", bytes(bad))
        self.assertEqual(self.inspect(p)["version"], "0.4.0")
        self.assert_failure(self.nacre("image", "verify", "--pub", self.pub, p),
                            "signature does not verify")

        # Cut short, and extended.
        p = self.write("short.img", bytes(data[:-1]))
        self.assert_failure(self.nacre("image", "verify", "--pub", self.pub, p), "shorter")
        p = self.write("long.img", bytes(data) + b"\0")
        self.assert_failure(self.nacre("image", "verify", "--pub", self.pub, p))
        self.assertIn("NOT the", self.nacre_ok("image", "inspect", p).stdout)

        # Not an image at all.
        p = self.write("junk.img", b"hello world" * 10)
        self.assert_failure(self.nacre("image", "verify", "--pub", self.pub, p), "not a Nacre image")
        self.assert_failure(self.nacre("image", "inspect", p), "not a Nacre image")
        self.assert_failure(self.nacre("image", "digest", p), "not a Nacre image")


class OfflineSigningTest(ImageTestCase):
    """image create -> image digest -> openssl pkeyutl -sign -rawin -> attach-signature."""

    def offline(self, key, pub, name):
        img = self.path(name + ".img")
        out = self.nacre_ok("image", "create", "--pub", pub, "--version", "3.0.0",
                            "--counter", "9", self.payload_path, img).stdout
        self.assertRegex(out, r"(?m)^signed:\s+no$")
        info = self.inspect(img)
        self.assertIs(info["signed"], False)
        self.assertIsNone(info["signer"])
        self.assert_failure(self.nacre("image", "verify", "--pub", pub, img), "not signed")

        tbs = self.path(name + ".tbs")
        sig = self.path(name + ".sig")
        self.nacre_ok("image", "digest", img, "--out", tbs)
        self.openssl("pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", tbs, "-out", sig)
        self.assertEqual(os.path.getsize(sig), 64)
        self.nacre_ok("image", "attach-signature", img, sig, "--root-pub", pub)
        self.nacre_ok("image", "verify", "--pub", pub, img)
        info = self.inspect(img)
        self.assertIs(info["signed"], True)
        self.assertEqual(info["signer"], "root")
        # Signing does not change the signed bytes, so nor the measurement.
        self.assertEqual(read_bytes(tbs), self.tbs(img))
        return img

    def test_openssl_generated_key(self):
        key, pub = self.path("osl.pem"), self.path("osl.pub.pem")
        self.openssl("genpkey", "-algorithm", "ed25519", "-out", key)
        self.openssl("pkey", "-in", key, "-pubout", "-out", pub)
        self.offline(key, pub, "osl")

    def test_nacre_generated_key(self):
        key, pub = self.keypair("root")
        img = self.offline(key, pub, "nacre")
        # Same key, same image: nacre's own signature is identical (Ed25519 is
        # deterministic), so the files are byte for byte the same.
        again = self.sign(key, "again.img", "3.0.0", 9)
        self.assertEqual(read_bytes(again), read_bytes(img))

    def test_certified_key_offline(self):
        root, root_pub = self.keypair("root")
        signer, signer_pub = self.keypair("signer")
        cert = self.path("s.cert")
        self.nacre_ok("key", "certify", "--root-key", root, "--pub", signer_pub, "--epoch", "1",
                      "--out", cert)
        img = self.path("c.img")
        self.nacre_ok("image", "create", "--pub", signer_pub, "--version", "1.0.0",
                      "--counter", "1", self.payload_path, img)
        tbs, sig = self.path("c.tbs"), self.path("c.sig")
        self.nacre_ok("image", "digest", img, "--out", tbs)
        self.openssl("pkeyutl", "-sign", "-rawin", "-inkey", signer, "-in", tbs, "-out", sig)
        out = self.path("c-signed.img")
        self.nacre_ok("image", "attach-signature", img, sig, "--cert", cert, "--out", out)
        self.nacre_ok("image", "verify", "--pub", root_pub, out)
        self.assertEqual(self.inspect(out)["key_epoch"], 1)
        # --out left the unsigned image alone.
        self.assertIs(self.inspect(img)["signed"], False)

    def test_wrong_signature_refused_image_unchanged(self):
        key, pub = self.keypair("root")
        other, other_pub = self.keypair("other")
        img = self.path("app.img")
        self.nacre_ok("image", "create", "--pub", pub, "--version", "1.0.0", "--counter", "1",
                      self.payload_path, img)
        before = read_bytes(img)
        tbs, sig = self.path("tbs"), self.path("sig")
        self.nacre_ok("image", "digest", img, "--out", tbs)
        # Signed by another key, attached as the root key the image names.
        self.openssl("pkeyutl", "-sign", "-rawin", "-inkey", other, "-in", tbs, "-out", sig)
        self.assert_failure(self.nacre("image", "attach-signature", img, sig, "--root-pub", pub),
                            "signature does not verify")
        self.assertEqual(read_bytes(img), before)
        # ... or as the other key: it is not the signer the image names.
        res = self.nacre("image", "attach-signature", img, sig, "--root-pub", other_pub)
        self.assert_failure(res, "signer key id")
        self.assertEqual(read_bytes(img), before)
        # A signature over other bytes.
        self.write("other.bin", b"something else")
        self.openssl("pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", self.path("other.bin"),
                     "-out", sig)
        self.assert_failure(self.nacre("image", "attach-signature", img, sig, "--root-pub", pub),
                            "signature does not verify")
        self.assertEqual(read_bytes(img), before)
        # Not 64 bytes.
        self.write("short.sig", b"\0" * 63)
        self.assert_failure(self.nacre("image", "attach-signature", img, self.path("short.sig"),
                                       "--root-pub", pub), "64")
        self.assertEqual(read_bytes(img), before)
        self.assertFalse(self.inspect(img)["signed"])

    def test_digest_hex_equals_file(self):
        key, pub = self.keypair("root")
        img = self.sign(key)
        tbs = self.tbs(img)
        hexline = self.nacre_ok("image", "digest", img).stdout
        self.assertEqual(hexline, tbs.hex() + "\n")
        # Header and signed metadata: 64 bytes + protected_size from the header.
        self.assertEqual(tbs[:4], b"NIMG")
        protected_size = struct.unpack_from("<I", tbs, 8)[0]
        self.assertEqual(len(tbs), 64 + protected_size)
        self.assertEqual(tbs, read_bytes(img)[:len(tbs)])
        self.assertIn("pure", self.nacre_ok("image", "digest", "--help").stdout)


class ImageUsageTest(ImageTestCase):
    def test_bad_versions_refused(self):
        key, _ = self.keypair("root")
        for bad in ("1.0", "1.0.0.0", "01.0.0", "1.00.0", "v1.0.0", "1.-1.0", "+1.0.0",
                    "4294967296.0.0", "", "1..0", " 1.0.0", "1.0.0 ", "1.0.x", "1.0.0-rc1"):
            res = self.nacre("image", "sign", "--key", key, "--version", bad, "--counter", "1",
                             self.payload_path, self.path("x.img"))
            self.assert_failure(res, "--version", status=2)
        self.assertFalse(os.path.exists(self.path("x.img")))
        self.nacre_ok("image", "sign", "--key", key, "--version", "4294967295.0.10",
                      "--counter", "4294967295", self.payload_path, self.path("x.img"))
        self.assertEqual(self.inspect(self.path("x.img"))["version"], "4294967295.0.10")

    def test_usage_errors(self):
        key, pub = self.keypair("root")
        img = self.sign(key)
        sig = self.write("sig", b"\0" * 64)
        p = self.payload_path
        x = self.path("x.img")
        cases = [
            ["image"],
            ["image", "frob"],
            ["image", "sign", p, x],
            ["image", "sign", "--key", key, "--counter", "1", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "-1", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "4294967296", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1", p],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1", p, x, "y"],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1",
             "--component", "App", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1",
             "--component", "a" * 33, p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1",
             "--component", "", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1",
             "--dep", "boot", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1",
             "--dep", "boot@1.0", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1",
             "--dep", "a@1.0.0", "--dep", "a@2.0.0", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1",
             "--dep", "a@1.0.0", "--dep", "b@1.0.0", "--dep", "c@1.0.0", "--dep", "d@1.0.0",
             "--dep", "e@1.0.0", p, x],
            ["image", "sign", "--key", key, "--version", "1.0.0", "--counter", "1",
             "--pub", pub, p, x],
            ["image", "create", "--version", "1.0.0", "--counter", "1", p, x],
            ["image", "create", "--pub", pub, "--key", key, "--version", "1.0.0",
             "--counter", "1", p, x],
            ["image", "digest"],
            ["image", "digest", img, img],
            ["image", "digest", img, "--out"],
            ["image", "attach-signature", img, sig],
            ["image", "attach-signature", img, sig, "--root-pub", pub, "--cert", sig],
            ["image", "attach-signature", img, "--root-pub", pub],
            ["image", "inspect"],
            ["image", "inspect", img, "--frob"],
            ["image", "verify", img],
            ["image", "verify", "--pub", pub],
            ["image", "verify", "--pub", pub, img, "--counter", "x"],
            ["image", "verify", "--pub", pub, img, "--epoch", "-2"],
            ["key"],
            ["key", "frob"],
            ["key", "certify", "--root-key", key, "--epoch", "1", "--out", x],
            ["key", "certify", "--root-key", key, "--pub", pub, "--out", x],
            ["key", "certify", "--root-key", key, "--pub", pub, "--epoch", "1"],
            ["key", "certify", "--root-key", key, "--pub", pub, "--epoch", "1x", "--out", x],
        ]
        for args in cases:
            res = self.nacre(*args)
            self.assertEqual(res.returncode, 2, (args, res.stderr))
            self.assertEqual(res.stdout, "", args)
            lines = res.stderr.splitlines()
            self.assertEqual(len(lines), 2, (args, res.stderr))
            self.assertTrue(lines[0].startswith("nacre: "), lines)
            self.assertRegex(lines[1], r"^see 'nacre( [a-z-]+)* --help'$")
        self.assertFalse(os.path.exists(x))

    def test_bad_files(self):
        key, pub = self.keypair("root")
        x = self.path("x.img")
        # A public key cannot sign.
        res = self.nacre("image", "sign", "--key", pub, "--version", "1.0.0", "--counter", "1",
                         self.payload_path, x)
        self.assert_failure(res, "public key")
        self.assert_failure(self.nacre("image", "sign", "--key", key, "--version", "1.0.0",
                                       "--counter", "1", self.path("missing.bin"), x),
                            "missing.bin")
        # A certificate must be 144 bytes and signed by its root.
        short = self.write("short.cert", b"NKC1" + b"\0" * 100)
        self.assert_failure(self.nacre("image", "sign", "--key", key, "--cert", short,
                                       "--version", "1.0.0", "--counter", "1",
                                       self.payload_path, x), "not a key certificate")
        _, signer_pub = self.keypair("signer")
        cert = self.path("s.cert")
        self.nacre_ok("key", "certify", "--root-key", key, "--pub", signer_pub, "--epoch", "1",
                      "--out", cert)
        bad = bytearray(read_bytes(cert))
        bad[20] ^= 1
        self.write("bad.cert", bytes(bad))
        self.assert_failure(self.nacre("image", "sign", "--key", key, "--cert",
                                       self.path("bad.cert"), "--version", "1.0.0",
                                       "--counter", "1", self.payload_path, x),
                            "certificate is malformed or not signed")
        self.assertFalse(os.path.exists(x))

    def test_help(self):
        for sub in ("sign", "create", "digest", "attach-signature", "inspect", "verify"):
            for flag in ("--help", "-h"):
                out = self.nacre_ok("image", sub, flag).stdout
                self.assertIn("usage: nacre image " + sub, out)
            self.assertIn("usage: nacre image " + sub, self.nacre_ok("help", "image", sub).stdout)
        self.assertIn("usage: nacre key certify", self.nacre_ok("key", "certify", "-h").stdout)
        self.assertIn("usage: nacre image", self.nacre_ok("image", "--help").stdout)
        self.assertIn("usage: nacre key", self.nacre_ok("help", "key").stdout)
        main = self.nacre_ok("help").stdout
        for name in ("image sign", "image create", "image digest", "image attach-signature",
                     "image inspect", "image verify", "key certify", "device install",
                     "device boot", "device confirm", "device status"):
            self.assertIn(name, main)


if __name__ == "__main__":
    nacre_cli.main()
