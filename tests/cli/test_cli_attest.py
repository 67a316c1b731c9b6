"""Attestation and certificates with the nacre tool: reference values from
the build (image sign --refs-out, image refs), device attest, attest verify
(pass, and every refusal with its reason), device pubkey, and the tenant CA
(ca init / issue / check) checked against OpenSSL's own verifier."""
import calendar
import hashlib
import json
import os
import re
import stat
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase, raw_ed25519_from_spki, read_bytes  # noqa: E402

NONCE = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
DAY = 86400


def openssl_time(text):
    """'Nov 22 08:47:43 2026 GMT' -> seconds since the epoch."""
    return calendar.timegm(time.strptime(text.strip(), "%b %d %H:%M:%S %Y %Z"))


class AttestTestCase(NacreTestCase):
    """A device provisioned with --root-pub that runs (confirmed) an image
    whose reference values the build wrote with --refs-out."""

    def setUp(self):
        super().setUp()
        self.root, self.root_pub = self.path("root.pem"), self.path("root.pub.pem")
        self.nacre_ok("keygen", "--out", self.root, "--pub", self.root_pub)
        self.dev = self.provision("dev", "--root-pub", self.root_pub)
        self.img, self.refs = self.image("1.0.0", 1, "app-1.0.0")
        self.run_image(self.dev, self.img)
        self.dev_pub = self.path("dev-id.pub.pem")
        self.nacre_ok("device", "pubkey", self.dev, "--out", self.dev_pub)

    def image(self, version, counter, name, payload=None):
        payload = payload or ("firmware %s\n" % version).encode() * 500
        src = self.write(name + ".bin", payload)
        img, refs = self.path(name + ".img"), self.path(name + ".refs.json")
        self.nacre_ok("image", "sign", "--key", self.root, "--version", version, "--counter",
                      counter, "--refs-out", refs, src, img)
        return img, refs

    def run_image(self, dev, img, confirm=True):
        self.nacre_ok("device", "install", dev, img)
        self.nacre_ok("device", "boot", dev)
        if confirm:
            self.nacre_ok("device", "confirm", dev)

    def attest(self, dev=None, nonce=NONCE, name="evidence.cbor"):
        out = self.path(name)
        info = self.nacre_json("device", "attest", dev or self.dev, "--nonce", nonce, "--out", out)
        self.assertEqual(info["size"], len(read_bytes(out)))
        return out, info

    def verify(self, evidence, nonce=NONCE, pub=None, refs=None, *extra, expect=None):
        return self.nacre("attest", "verify", evidence, "--nonce", nonce, "--device-pub",
                          pub or self.dev_pub, "--refs", refs or self.refs, *extra, expect=expect)

    def assert_refused(self, res, reason):
        """Exit 1, the reason listed on stdout, one 'nacre: ...' line naming it on stderr."""
        self.assert_failure(res, "attestation failed")
        self.assertIn("  - " + reason + "\n", res.stdout)
        self.assertIn(reason, res.stderr)


class RefsTest(AttestTestCase):
    def test_refs_out_matches_the_image(self):
        refs = json.loads(nacre_cli.read_text(self.refs))
        self.assertEqual(refs["version"], 1)
        self.assertEqual(len(refs["components"]), 1)
        comp = refs["components"][0]
        shown = self.nacre_json("image", "inspect", self.img)
        self.assertEqual(comp, {"name": "app", "version": "1.0.0",
                                "measurement": shown["measurement"],
                                "signer_id": shown["signer_key_id"],
                                "security_counter": 1})
        # The measurement is BLAKE2b-256 of header || protected area (the TBS bytes).
        tbs = self.path("tbs.bin")
        self.nacre_ok("image", "digest", self.img, "--out", tbs)
        self.assertEqual(comp["measurement"], hashlib.blake2b(read_bytes(tbs),
                                                              digest_size=32).hexdigest())

    def test_image_refs_merges_and_verifies(self):
        img2, _ = self.image("1.1.0", 2, "app-1.1.0")
        merged = self.path("merged.json")
        out = self.nacre_json("image", "refs", self.img, "--image", img2, self.img,
                              "--out", merged, "--pub", self.root_pub)
        self.assertEqual([c["version"] for c in out["components"]], ["1.0.0", "1.1.0"])
        self.assertEqual(json.loads(nacre_cli.read_text(merged)), out)
        # The single-image file equals what sign --refs-out wrote.
        single = self.path("single.json")
        self.nacre_ok("image", "refs", self.img, "--out", single)
        self.assertEqual(json.loads(nacre_cli.read_text(single)),
                         json.loads(nacre_cli.read_text(self.refs)))
        # --pub verifies: another root refuses, nothing written.
        other, other_pub = self.path("other.pem"), self.path("other.pub.pem")
        self.nacre_ok("keygen", "--out", other, "--pub", other_pub)
        bad = self.path("bad.json")
        self.assert_failure(self.nacre("image", "refs", self.img, "--out", bad, "--pub", other_pub),
                            "verifying")
        self.assertFalse(os.path.exists(bad))
        self.assert_failure(self.nacre("image", "refs", "--out", bad), status=2)
        self.assert_failure(self.nacre("image", "refs", self.img), status=2)

    def test_offline_signing_refs(self):
        # create (unsigned) and attach-signature write the same reference values as sign.
        src = self.write("off.bin", b"offline\n" * 100)
        img = self.path("off.img")
        refs_create, refs_attach = self.path("create.json"), self.path("attach.json")
        self.nacre_ok("image", "create", "--pub", self.root_pub, "--version", "2.0.0",
                      "--counter", "3", "--refs-out", refs_create, src, img)
        tbs, sig = self.path("tbs.bin"), self.path("sig.bin")
        self.nacre_ok("image", "digest", img, "--out", tbs)
        if nacre_cli.OPENSSL is None:
            self.skipTest("openssl not found")
        self.openssl("pkeyutl", "-sign", "-rawin", "-inkey", self.root, "-in", tbs, "-out", sig)
        self.nacre_ok("image", "attach-signature", img, sig, "--root-pub", self.root_pub,
                      "--refs-out", refs_attach)
        self.assertEqual(nacre_cli.read_text(refs_create), nacre_cli.read_text(refs_attach))

    def test_bad_refs_files(self):
        ev, _ = self.attest()
        cases = {
            "not json": "nope",
            "wrong version": json.dumps({"version": 2, "components": []}),
            "empty": json.dumps({"version": 1, "components": []}),
            "short hex": json.dumps({"version": 1, "components": [
                {"name": "app", "version": "1.0.0", "measurement": "00", "signer_id": "00" * 32,
                 "security_counter": 1}]}),
            "negative counter": json.dumps({"version": 1, "components": [
                {"name": "app", "version": "1.0.0", "measurement": "00" * 32,
                 "signer_id": "00" * 32, "security_counter": -1}]}),
        }
        for name, text in cases.items():
            path = self.write(name.replace(" ", "-") + ".json", text)
            res = self.verify(ev, NONCE, None, path)
            self.assert_failure(res, "reading reference values")


class VerifyTest(AttestTestCase):
    def test_pass(self):
        ev, info = self.attest()
        self.assertEqual(len(info["components"]), 1)
        res = self.verify(ev, expect=0)
        self.assertIn("verdict:        pass", res.stdout)
        out = json.loads(self.verify(ev, NONCE, None, None, "--json", expect=0).stdout)
        self.assertTrue(out["pass"])
        self.assertEqual(out["failures"], [])
        claims = out["claims"]
        self.assertEqual(claims["nonce"], NONCE)
        dev_pk = raw_ed25519_from_spki(self.dev_pub)
        self.assertEqual(claims["ueid"], "01" + hashlib.blake2b(dev_pk, digest_size=32).hexdigest())
        refs = json.loads(nacre_cli.read_text(self.refs))["components"][0]
        self.assertEqual(claims["components"], [refs])
        self.assertEqual(claims["lifecycle"], "provisioned")
        self.assertEqual(claims["security_counter"], 1)
        alias = self.path("alias.pub.pem")
        self.nacre_ok("device", "pubkey", self.dev, "--alias", "--out", alias)
        self.assertEqual(out["alias_key"], raw_ed25519_from_spki(alias).hex())
        # A SECURED device is required: this one is only provisioned.
        self.assert_refused(self.verify(ev, NONCE, None, None, "--require-secured"),
                            "device not secured (debug open)")
        self.assert_refused(self.verify(ev, NONCE, None, None, "--min-counter", "2"),
                            "security counter below the reference")
        self.verify(ev, NONCE, None, None, "--min-counter", "1", expect=0)

    def test_wrong_nonce(self):
        ev, _ = self.attest()
        other = "00" * 32
        self.assert_refused(self.verify(ev, other), "wrong nonce")
        res = self.verify(ev, other, None, None, "--json")
        self.assertEqual(res.returncode, 1)
        out = json.loads(res.stdout)
        self.assertFalse(out["pass"])
        self.assertEqual(out["failures"], ["wrong nonce"])
        self.assertEqual(len(res.stderr.splitlines()), 1)

    def test_another_devices_key(self):
        ev, _ = self.attest()
        dev2 = self.provision("dev2", "--root-pub", self.root_pub)
        pub2 = self.path("dev2.pub.pem")
        self.nacre_ok("device", "pubkey", dev2, "--out", pub2)
        self.assert_refused(self.verify(ev, NONCE, pub2), "unknown device")

    def test_modified_firmware(self):
        # Same signing key, another payload: the build's reference values do not name it.
        img2, refs2 = self.image("1.0.1", 1, "app-modified", payload=b"evil firmware\n" * 300)
        self.run_image(self.dev, img2, confirm=False)  # trial boot of the new image
        ev, info = self.attest()
        self.assertEqual(info["components"][0]["version"], "1.0.1")
        self.assert_refused(self.verify(ev), "measurement not in the reference values")
        # Its own reference values would pass: it is the measurement that differs.
        self.verify(ev, NONCE, None, refs2, expect=0)

    def test_no_image_booted(self):
        dev = self.provision("blank-slots", "--root-pub", self.root_pub)
        pub = self.path("blank.pub.pem")
        self.nacre_ok("device", "pubkey", dev, "--out", pub)
        res = self.nacre_ok("device", "attest", dev, "--nonce", NONCE, "--out",
                            self.path("ev-none.cbor"))
        self.assertIn("no component", res.stdout)
        res = self.verify(self.path("ev-none.cbor"), NONCE, pub)
        self.assert_failure(res, "attestation failed")

    def test_damaged_evidence(self):
        ev, _ = self.attest()
        data = read_bytes(ev)
        cuts = sorted({0, 1, 2, 10, len(data) // 3, len(data) // 2, len(data) - 1})
        for cut in cuts:
            path = self.write("cut-%d.cbor" % cut, data[:cut])
            res = self.verify(path)
            self.assert_failure(res, "attestation failed")
        for pos in (5, len(data) // 2, len(data) - 5):
            flipped = bytearray(data)
            flipped[pos] ^= 0x01
            path = self.write("flip-%d.cbor" % pos, bytes(flipped))
            self.assert_failure(self.verify(path), "attestation failed")
        big = self.write("big.cbor", data + bytes(3000))
        self.assert_failure(self.verify(big), "attestation failed")
        garbage = self.write("garbage.cbor", os.urandom(400))
        self.assert_failure(self.verify(garbage), "attestation failed")

    def test_usage_errors(self):
        ev, _ = self.attest()
        for args in (["attest", "verify", ev, "--device-pub", self.dev_pub, "--refs", self.refs],
                     ["attest", "verify", ev, "--nonce", "zz", "--device-pub", self.dev_pub,
                      "--refs", self.refs],
                     ["attest", "verify", ev, "--nonce", "0011", "--device-pub", self.dev_pub,
                      "--refs", self.refs],
                     ["attest", "verify", "--nonce", NONCE, "--device-pub", self.dev_pub,
                      "--refs", self.refs],
                     ["device", "attest", self.dev, "--out", self.path("x")],
                     ["device", "attest", self.dev, "--nonce", NONCE],
                     ["device", "attest", self.dev, "--nonce", NONCE, "--out", self.path("x"),
                      "--iat", "soon"],
                     ["device", "pubkey", self.dev]):
            self.assert_failure(self.nacre(*args), status=2)
        self.assert_failure(self.verify(self.path("missing.cbor")), "reading evidence")

    def test_pubkey(self):
        info = self.nacre_json("device", "info", self.dev)
        out = self.nacre_json("device", "pubkey", self.dev, "--out", self.path("d.pem"))
        self.assertEqual(out["public_key"], info["device_id"])
        self.assertEqual(out["device_id"],
                         hashlib.blake2b(bytes.fromhex(info["device_id"]),
                                         digest_size=32).hexdigest())
        out = self.nacre_json("device", "pubkey", self.dev, "--alias", "--out", self.path("a.pem"))
        self.assertEqual(out["public_key"], info["alias"])
        self.assertEqual(raw_ed25519_from_spki(self.path("a.pem")).hex(), info["alias"])


class CaTest(AttestTestCase):
    def setUp(self):
        super().setUp()
        self.ca = self.path("ca")
        self.nacre_ok("ca", "init", self.ca, "--tenant", "acme")
        self.ev, _ = self.attest()

    def issue(self, out="dev.cert.pem", ca=None, *extra):
        path = self.path(out)
        res = self.nacre_ok("ca", "issue", "--ca", ca or self.ca, "--evidence", self.ev,
                            "--nonce", NONCE, "--device-pub", self.dev_pub, "--refs", self.refs,
                            "--out", path, *extra)
        return path, res

    def device_id(self):
        return hashlib.blake2b(raw_ed25519_from_spki(self.dev_pub), digest_size=32).hexdigest()

    def test_init(self):
        key, cert = os.path.join(self.ca, "ca-key.pem"), os.path.join(self.ca, "ca-cert.pem")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.ca).st_mode), 0o700)
        before = read_bytes(cert)
        self.assert_failure(self.nacre("ca", "init", self.ca, "--tenant", "acme"),
                            "already exists")
        self.assertEqual(read_bytes(cert), before)
        self.assert_failure(self.nacre("ca", "init", self.path("x"), "--tenant", "a/b"), status=2)
        self.assert_failure(self.nacre("ca", "init", self.path("x")), status=2)
        text = self.openssl("x509", "-in", cert, "-noout", "-text").stdout
        self.assertIn("CA:TRUE", text)
        self.assertIn("Certificate Sign, CRL Sign", text)
        self.assertIn("Subject: O = acme, CN = acme Nacre tenant CA", text)
        self.assertIn("Signature Algorithm: ED25519", text)
        # OpenSSL reads the CA key too.
        self.openssl("pkey", "-in", key, "-noout")

    def test_issue_and_openssl(self):
        cert, res = self.issue()
        dev_id = self.device_id()
        self.assertIn(dev_id, res.stdout)
        ok = self.openssl("verify", "-CAfile", os.path.join(self.ca, "ca-cert.pem"), cert)
        self.assertIn(": OK", ok.stdout)
        strict = self.openssl("verify", "-x509_strict", "-purpose", "sslclient", "-CAfile",
                              os.path.join(self.ca, "ca-cert.pem"), cert)
        self.assertIn(": OK", strict.stdout)
        text = self.openssl("x509", "-in", cert, "-noout", "-text").stdout
        self.assertIn("Public Key Algorithm: ED25519", text)
        self.assertIn("Signature Algorithm: ED25519", text)
        self.assertIn("Subject: O = acme, CN = %s" % dev_id, text)
        self.assertIn("URI:urn:nacre:device:%s" % dev_id, text)
        self.assertIn("CA:FALSE", text)
        self.assertIn("TLS Web Client Authentication, TLS Web Server Authentication", text)
        self.assertRegex(text, r"X509v3 Key Usage: critical\s+Digital Signature")
        # The certified key is the attested Alias key.
        alias = self.path("alias.pub.pem")
        self.nacre_ok("device", "pubkey", self.dev, "--alias", "--out", alias)
        spki = self.path("cert.pub.pem")
        self.openssl("x509", "-in", cert, "-noout", "-pubkey", "-out", spki)
        self.assertEqual(raw_ed25519_from_spki(spki), raw_ed25519_from_spki(alias))
        # Validity: 24 hours from now, notBefore 60 s earlier for clock skew.
        dates = self.openssl("x509", "-in", cert, "-noout", "-startdate", "-enddate").stdout
        start = openssl_time(re.search(r"notBefore=(.*)", dates).group(1))
        end = openssl_time(re.search(r"notAfter=(.*)", dates).group(1))
        self.assertEqual(end - start, DAY + 60)
        self.assertLessEqual(abs(end - DAY - time.time()), 30)
        # And nacre agrees.
        out = self.nacre_json("ca", "check", "--ca", self.ca, cert)
        self.assertTrue(out["valid"])
        self.assertEqual(out["device_id"], dev_id)
        self.assertEqual((out["not_before"], out["not_after"]), (start, end))

    def test_issue_refused_when_evidence_fails(self):
        out = self.path("refused.cert.pem")
        res = self.nacre("ca", "issue", "--ca", self.ca, "--evidence", self.ev, "--nonce",
                         "11" * 32, "--device-pub", self.dev_pub, "--refs", self.refs,
                         "--out", out)
        self.assert_failure(res, "refusing to issue")
        self.assertIn("wrong nonce", res.stdout)
        self.assertFalse(os.path.exists(out))
        # Modified firmware: refused for the measurement.
        img2, _ = self.image("1.0.1", 1, "app-modified", payload=b"evil\n" * 999)
        self.run_image(self.dev, img2, confirm=False)
        ev2, _ = self.attest(name="ev-modified.cbor")
        res = self.nacre("ca", "issue", "--ca", self.ca, "--evidence", ev2, "--nonce", NONCE,
                         "--device-pub", self.dev_pub, "--refs", self.refs, "--out", out)
        self.assert_failure(res, "measurement not in the reference values")
        self.assertFalse(os.path.exists(out))

    def test_other_tenant(self):
        other = self.path("ca-globex")
        self.nacre_ok("ca", "init", other, "--tenant", "globex")
        cert, _ = self.issue("globex.cert.pem", other)
        res = self.nacre("ca", "check", "--ca", self.ca, cert)
        self.assert_failure(res, "not issued by this CA")
        self.assertIn("globex Nacre tenant CA", res.stderr)
        bad = self.openssl("verify", "-CAfile", os.path.join(self.ca, "ca-cert.pem"), cert,
                           check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.nacre_ok("ca", "check", "--ca", other, cert)
        # A CA with the same tenant name but its own key is another CA.
        twin = self.path("ca-twin")
        self.nacre_ok("ca", "init", twin, "--tenant", "acme")
        cert, _ = self.issue("twin.cert.pem", twin)
        self.assert_failure(self.nacre("ca", "check", "--ca", self.ca, cert),
                            "not issued by this CA")

    def test_expiry(self):
        cert, _ = self.issue()
        now = int(time.time())
        self.nacre_ok("ca", "check", "--ca", self.ca, cert, "--now", now + DAY - 120)
        res = self.nacre("ca", "check", "--ca", self.ca, cert, "--now", now + DAY + 3600)
        self.assert_failure(res, "certificate expired")
        res = self.nacre("ca", "check", "--ca", self.ca, cert, "--now", now - 3600)
        self.assert_failure(res, "not yet valid")
        # OpenSSL agrees: 25 hours from now it has expired.
        res = self.openssl("verify", "-attime", str(now + DAY + 3600), "-CAfile",
                           os.path.join(self.ca, "ca-cert.pem"), cert, check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("expired", res.stdout + res.stderr)
        out = json.loads(self.nacre("ca", "check", "--ca", self.ca, cert, "--json", "--now",
                                    now + 2 * DAY).stdout)
        self.assertEqual(out, {"certificate": cert, "valid": False,
                               "reason": "certificate expired"})
        # A certificate issued with --now 25 hours ahead is not yet valid now.
        later, _ = self.issue("later.cert.pem", None, "--now", now + DAY + 3600)
        self.assert_failure(self.nacre("ca", "check", "--ca", self.ca, later), "not yet valid")

    def test_check_bad_input(self):
        junk = self.write("junk.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        self.assert_failure(self.nacre("ca", "check", "--ca", self.ca, junk), "well-formed")
        self.assert_failure(self.nacre("ca", "check", "--ca", self.ca, self.path("none.pem")),
                            "no such file")
        # The CA certificate is not a device certificate.
        self.assert_failure(self.nacre("ca", "check", "--ca", self.ca,
                                       os.path.join(self.ca, "ca-cert.pem")),
                            "not a Nacre device certificate")
        # An EC key certified by the tenant CA (made with OpenSSL): wrong key type.
        if nacre_cli.OPENSSL is None:
            self.skipTest("openssl not found")
        ec, csr, ec_cert = self.path("ec.pem"), self.path("ec.csr"), self.path("ec.cert.pem")
        ext = self.write("ext.cnf", "basicConstraints=critical,CA:FALSE\n"
                         "keyUsage=critical,digitalSignature\n"
                         "extendedKeyUsage=clientAuth,serverAuth\n"
                         "subjectAltName=URI:urn:nacre:device:%s\n"
                         "subjectKeyIdentifier=hash\n"
                         "authorityKeyIdentifier=keyid:always\n" % self.device_id())
        self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", ec)
        self.openssl("req", "-new", "-key", ec, "-subj", "/O=acme/CN=%s" % self.device_id(),
                     "-out", csr)
        self.openssl("x509", "-req", "-in", csr, "-CA", os.path.join(self.ca, "ca-cert.pem"),
                     "-CAkey", os.path.join(self.ca, "ca-key.pem"), "-CAcreateserial",
                     "-days", "1", "-extfile", ext, "-out", ec_cert)
        self.openssl("verify", "-CAfile", os.path.join(self.ca, "ca-cert.pem"), ec_cert)
        self.assert_failure(self.nacre("ca", "check", "--ca", self.ca, ec_cert), "not Ed25519")


if __name__ == "__main__":
    nacre_cli.main()
