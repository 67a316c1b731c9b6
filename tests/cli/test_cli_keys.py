"""nacre keygen, key files and OpenSSL interoperability."""
import os
import re
import stat
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase, read_bytes, read_text, blake2b_256, raw_ed25519_from_spki  # noqa: E402


def openssl_pub_hex(text):
    """The 'pub:' bytes of 'openssl pkey -text' output, as hex."""
    m = re.search(r"pub:\s*\n((?:\s+[0-9a-f:]+\n?)+)", text)
    assert m, text
    return re.sub(r"[^0-9a-f]", "", m.group(1))


def printed(stdout, label):
    m = re.search(r"^%s:\s+(\S+)" % re.escape(label), stdout, re.M)
    assert m, "no %r in %r" % (label, stdout)
    return m.group(1)


class KeygenTest(NacreTestCase):
    def test_keygen_files_read_by_openssl(self):
        key, pub = self.path("k.pem"), self.path("k.pub")
        res = self.nacre_ok("keygen", "--out", key, "--pub", pub)
        ours = printed(res.stdout, "Ed25519 public")
        self.assertEqual(len(ours), 64)

        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(pub).st_mode), 0o644)
        with open(key) as f:
            self.assertTrue(f.read().startswith("-----BEGIN PRIVATE KEY-----\n"))

        text = self.openssl("pkey", "-in", key, "-noout", "-text").stdout
        self.assertIn("ED25519 Private-Key", text)
        self.assertEqual(openssl_pub_hex(text), ours)

        text = self.openssl("pkey", "-pubin", "-in", pub, "-noout", "-text").stdout
        self.assertIn("ED25519 Public-Key", text)
        self.assertEqual(openssl_pub_hex(text), ours)

        # OpenSSL derives exactly our public key file from our private key.
        derived = self.openssl("pkey", "-in", key, "-pubout").stdout
        with open(pub) as f:
            self.assertEqual(derived, f.read())

        # The printed root-key hash is BLAKE2b-256 of the raw key.
        self.assertEqual(printed(res.stdout, "root-key hash"),
                         blake2b_256(bytes.fromhex(ours)))

    def test_keygen_refuses_to_overwrite(self):
        key, pub = self.path("k.pem"), self.path("k.pub")
        self.nacre_ok("keygen", "--out", key, "--pub", pub)
        before = read_text(key), read_text(pub)

        res = self.nacre("keygen", "--out", key)
        self.assert_failure(res, "already exists")
        self.assertIn("--force", res.stderr)
        # An existing --pub is refused before the (new) private key is written.
        other = self.path("other.pem")
        self.assert_failure(self.nacre("keygen", "--out", other, "--pub", pub), "already exists")
        self.assertFalse(os.path.exists(other))
        self.assertEqual((read_text(key), read_text(pub)), before)

        self.nacre_ok("keygen", "--out", key, "--pub", pub, "--force")
        after = read_text(key), read_text(pub)
        self.assertNotEqual(after[0], before[0])
        self.assertNotEqual(after[1], before[1])
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        # No temporary files are left behind.
        self.assertEqual(sorted(os.listdir(self.tmp)), ["k.pem", "k.pub"])

    def test_keygen_usage(self):
        self.assert_failure(self.nacre("keygen"), "--out", status=2)
        self.assert_failure(self.nacre("keygen", "--out", self.path("a"), "--pub", self.path("a")),
                            status=2)
        self.assert_failure(self.nacre("keygen", "--out", self.path("nodir", "k.pem")),
                            "no such file")


class OpenSSLKeysTest(NacreTestCase):
    def test_openssl_ed25519_root_key(self):
        key, pub = self.path("root.pem"), self.path("root.pub")
        self.openssl("genpkey", "-algorithm", "ed25519", "-out", key)
        self.openssl("pkey", "-in", key, "-pubout", "-out", pub)
        raw = raw_ed25519_from_spki(pub)
        want = blake2b_256(raw)

        info = self.nacre_json("device", "provision", self.path("dev"), "--root-pub", pub)
        self.assertEqual(info["root_key_hash"], want)
        info = self.nacre_json("device", "info", self.path("dev"))
        self.assertEqual(info["root_key_hash"], want)

        # The private key PEM works too: its public half is used.
        info = self.nacre_json("device", "provision", self.path("dev2"), "--root-pub", key)
        self.assertEqual(info["root_key_hash"], want)

    def test_rsa_and_ec_keys_refused(self):
        rsa, rsa_pub = self.path("rsa.pem"), self.path("rsa.pub")
        self.openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                     "-out", rsa)
        self.openssl("pkey", "-in", rsa, "-pubout", "-out", rsa_pub)
        ec = self.path("ec.pem")
        self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", ec)
        for bad in (rsa_pub, rsa, ec):
            dev = self.path("dev-" + os.path.basename(bad))
            res = self.nacre("device", "provision", dev, "--root-pub", bad)
            self.assert_failure(res, "not an Ed25519 key")
            self.assertIn(bad, res.stderr)
            # The key is checked before anything is created.
            self.assertFalse(os.path.exists(dev))

    def test_bad_key_files_refused(self):
        cases = {
            "missing.pem": (None, "no such file"),
            "text.pem": (b"hello\n", "not a PEM file"),
            "empty.pem": (b"", "not a PEM file"),
            "cert.pem": (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                         "no PRIVATE KEY or PUBLIC KEY"),
            "broken.pem": (b"-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----\n",
                           "malformed"),
        }
        for name, (content, reason) in cases.items():
            p = self.path(name)
            if content is not None:
                self.write(name, content)
            res = self.nacre("device", "provision", self.path("dev"), "--root-pub", p)
            self.assert_failure(res)
            self.assertIn(reason.lower(), res.stderr.lower(), name)

    def test_info_pub_out_is_spki(self):
        dev = self.provision()
        pub = self.path("devid.pub")
        info = self.nacre_json("device", "info", dev, "--pub-out", pub)
        self.assertEqual(raw_ed25519_from_spki(pub).hex(), info["device_id"])
        text = self.openssl("pkey", "-pubin", "-in", pub, "-noout", "-text").stdout
        self.assertEqual(openssl_pub_hex(text), info["device_id"])
        # Replaced on a second run.
        self.nacre_ok("device", "info", dev, "--pub-out", pub)


if __name__ == "__main__":
    nacre_cli.main()
