"""examples/d2d end to end: two host devices, each attested and certified by
the tenant CA with the nacre tool, run d2d_server and d2d_client as real
processes on 127.0.0.1 (a free port chosen by the server), authenticate each
other, exchange one encrypted message and print each other's device id.
A device certified by another tenant is refused.

    python3 test_d2d_example.py PATH/TO/nacre PATH/TO/d2d_server PATH/TO/d2d_client
"""
import hashlib
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase, raw_ed25519_from_spki  # noqa: E402

SERVER = CLIENT = None
NONCE = "5eed" * 16
TIMEOUT = 30


class D2dExampleTest(NacreTestCase):
    def setUp(self):
        super().setUp()
        self.root, self.root_pub = self.path("root.pem"), self.path("root.pub.pem")
        self.nacre_ok("keygen", "--out", self.root, "--pub", self.root_pub)
        src = self.write("app.bin", b"thermostat app 1.0.0\n" * 400)
        self.img, self.refs = self.path("app.img"), self.path("refs.json")
        self.nacre_ok("image", "sign", "--key", self.root, "--version", "1.0.0", "--counter",
                      "1", "--refs-out", self.refs, src, self.img)
        self.ca = self.path("ca")
        self.nacre_ok("ca", "init", self.ca, "--tenant", "acme")
        self.ca_cert = os.path.join(self.ca, "ca-cert.pem")

    def device(self, name, ca=None):
        """Provision, install, boot, confirm, attest, certify; returns (dir, cert, device id)."""
        dev = self.provision(name, "--root-pub", self.root_pub)
        self.nacre_ok("device", "install", dev, self.img)
        self.nacre_ok("device", "boot", dev)
        self.nacre_ok("device", "confirm", dev)
        pub, ev, cert = (self.path(name + x) for x in (".pub.pem", ".cbor", ".cert.pem"))
        self.nacre_ok("device", "pubkey", dev, "--out", pub)
        self.nacre_ok("device", "attest", dev, "--nonce", NONCE, "--out", ev)
        self.nacre_ok("ca", "issue", "--ca", ca or self.ca, "--evidence", ev, "--nonce", NONCE,
                      "--device-pub", pub, "--refs", self.refs, "--out", cert)
        dev_id = hashlib.blake2b(raw_ed25519_from_spki(pub), digest_size=32).hexdigest()
        return dev, cert, dev_id

    def start_server(self, dev, cert, ca_cert):
        proc = subprocess.Popen([SERVER, dev, "--cert", cert, "--ca", ca_cert, "--port", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + TIMEOUT
        lines = []
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"listening on (127\.0\.0\.1):(\d+)$", line.strip())
            if m:
                return proc, int(m.group(2)), lines
        proc.kill()
        out, err = proc.communicate()
        self.fail("server did not start: %s%s%s" % ("".join(lines), out, err))

    def finish(self, proc, lines):
        out, err = proc.communicate(timeout=TIMEOUT)
        self.assertGreaterEqual(proc.returncode, 0, "server crashed: %s" % err)
        return proc.returncode, "".join(lines) + out, err

    def client(self, dev, cert, ca_cert, port):
        res = subprocess.run([CLIENT, dev, "--cert", cert, "--ca", ca_cert, "--port", str(port),
                              "--message", "set point 21.5 C"],
                             capture_output=True, text=True, timeout=TIMEOUT)
        self.assertGreaterEqual(res.returncode, 0, "client crashed: %s" % res.stderr)
        return res

    def test_pair_authenticates_and_talks(self):
        a, cert_a, id_a = self.device("dev-a")
        b, cert_b, id_b = self.device("dev-b")
        self.assertNotEqual(id_a, id_b)
        server, port, lines = self.start_server(a, cert_a, self.ca_cert)
        try:
            res = self.client(b, cert_b, self.ca_cert, port)
        finally:
            rc, out, err = self.finish(server, lines)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        self.assertEqual(res.stderr, "")
        self.assertIn("authenticated peer device %s" % id_a, res.stdout)
        self.assertIn("received (decrypted): hello from the server", res.stdout)
        self.assertIn("authenticated peer device %s" % id_b, out)
        self.assertIn("received (decrypted): set point 21.5 C", out)
        self.assertIn("listening on 127.0.0.1:%d" % port, out)

    def test_other_tenant_refused(self):
        a, cert_a, _ = self.device("dev-a")
        other = self.path("ca-globex")
        self.nacre_ok("ca", "init", other, "--tenant", "globex")
        b, cert_b, _ = self.device("dev-b", ca=other)
        # B trusts its own tenant's CA; A refuses B's certificate (and B never gets A's m3).
        server, port, lines = self.start_server(a, cert_a, self.ca_cert)
        try:
            res = self.client(b, cert_b, os.path.join(other, "ca-cert.pem"), port)
        finally:
            rc, out, err = self.finish(server, lines)
        self.assertEqual(rc, 1)
        self.assertIn("peer certificate not issued by our tenant CA", err)
        self.assertEqual(res.returncode, 1)
        self.assertNotIn("authenticated", res.stdout)

    def test_expired_certificate_refused(self):
        a, cert_a, _ = self.device("dev-a")
        b, cert_b, _ = self.device("dev-b")
        # The client's clock says 25 hours later: its own certificate has expired.
        server, port, lines = self.start_server(a, cert_a, self.ca_cert)
        try:
            res = subprocess.run([CLIENT, b, "--cert", cert_b, "--ca", self.ca_cert, "--port",
                                  str(port), "--now", str(int(time.time()) + 25 * 3600)],
                                 capture_output=True, text=True, timeout=TIMEOUT)
        finally:
            rc, out, err = self.finish(server, lines)
        self.assertEqual(res.returncode, 1)
        self.assertIn("our certificate is invalid now", res.stderr)
        self.assertEqual(rc, 1)


if __name__ == "__main__":
    SERVER, CLIENT = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    del sys.argv[2:4]
    nacre_cli.main()
