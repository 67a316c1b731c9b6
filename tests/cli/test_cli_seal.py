"""nacre device seal / unseal."""
import os
import stat
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase, read_bytes, read_text  # noqa: E402

OVERHEAD = 104  # NACRE_PLUTON_SEAL_OVERHEAD
MAX_PLAINTEXT = 64 * 1024


class SealTest(NacreTestCase):
    def setUp(self):
        super().setUp()
        self.dev = self.provision()
        self.secret = os.urandom(1000)
        self.pt = self.write("secret.bin", self.secret)
        self.fw1 = self.write("fw1.bin", b"firmware v1" * 500)
        self.fw2 = self.write("fw2.bin", b"firmware v2" * 500)

    def seal(self, *extra, out="sealed.bin"):
        out = self.path(out)
        self.nacre_ok("device", "seal", self.dev, "--in", self.pt, "--out", out, *extra)
        return out

    def unseal(self, blob, *extra, dev=None, expect=0):
        out = self.path("opened.bin")
        if os.path.exists(out):
            os.unlink(out)
        res = self.nacre("device", "unseal", dev or self.dev, "--in", blob, "--out", out, *extra)
        if expect == 0:
            self.assertEqual(res.returncode, 0, res.stderr)
            with open(out, "rb") as f:
                return f.read()
        self.assert_failure(res)
        self.assertFalse(os.path.exists(out), "plaintext written despite the failure")
        return res

    def test_round_trip(self):
        blob = self.seal()
        self.assertEqual(os.path.getsize(blob), len(self.secret) + OVERHEAD)
        self.assertNotIn(self.secret[:32], read_bytes(blob))
        self.assertEqual(self.unseal(blob), self.secret)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("opened.bin")).st_mode), 0o600)

    def test_round_trip_sizes(self):
        for size in (0, 1, MAX_PLAINTEXT):
            self.secret = os.urandom(size)
            self.pt = self.write("secret.bin", self.secret)
            self.assertEqual(self.unseal(self.seal()), self.secret, size)

    def test_too_large(self):
        self.pt = self.write("big.bin", bytes(MAX_PLAINTEXT + 1))
        res = self.nacre("device", "seal", self.dev, "--in", self.pt, "--out", self.path("s"))
        self.assert_failure(res, "too large")

    def test_context(self):
        blob = self.seal("--context", "app-one")
        self.assertEqual(self.unseal(blob, "--context", "app-one"), self.secret)
        res = self.unseal(blob, "--context", "app-two", expect=1)
        self.assertIn("wrong context", res.stderr)
        self.unseal(blob, expect=1)  # empty context
        res = self.nacre("device", "seal", self.dev, "--in", self.pt, "--out", self.path("x"),
                         "--context", "c" * 65)
        self.assert_failure(res, "at most 64", status=2)

    def test_bound_to_firmware(self):
        blob = self.seal("--bind", "0", "--firmware", self.fw1)
        self.assertEqual(self.unseal(blob, "--firmware", self.fw1), self.secret)
        res = self.unseal(blob, "--firmware", self.fw2, expect=1)
        self.assertIn("measurements differ", res.stderr)
        self.unseal(blob, expect=1)  # no firmware measured: R0 is zero

    def test_unbound_ignores_firmware(self):
        blob = self.seal("--firmware", self.fw1)
        self.assertEqual(self.unseal(blob, "--firmware", self.fw2), self.secret)

    def test_bind_list(self):
        blob = self.seal("--bind", "0,1,7", "--firmware", self.fw1)
        self.assertEqual(self.unseal(blob, "--firmware", self.fw1), self.secret)
        for bad in ("8", "", "0,", "a", "-1", "0,,1"):
            res = self.nacre("device", "seal", self.dev, "--in", self.pt, "--out",
                             self.path("x"), "--bind", bad)
            self.assert_failure(res, "--bind", status=2)

    def test_tampered(self):
        blob = self.seal()
        data = read_bytes(blob)
        for pos in (0, 10, OVERHEAD - 20, len(data) // 2, len(data) - 1):
            bad = bytearray(data)
            bad[pos] ^= 0x01
            p = self.write("bad.bin", bytes(bad))
            self.unseal(p, expect=1)
        # Truncated and empty blobs.
        for n in (0, 10, OVERHEAD - 1, len(data) - 1):
            p = self.write("short.bin", data[:n])
            self.unseal(p, expect=1)

    def test_other_device(self):
        blob = self.seal()
        other = self.provision("other")
        res = self.unseal(blob, dev=other, expect=1)
        self.assertIn("another device", res.stderr)

    def test_missing_input(self):
        res = self.nacre("device", "seal", self.dev, "--in", self.path("nope"), "--out",
                         self.path("s"))
        self.assert_failure(res, "nope")
        self.assert_failure(self.nacre("device", "seal", self.dev, "--out", self.path("s")),
                            "--in", status=2)
        self.assert_failure(self.nacre("device", "unseal", self.dev, "--in", self.pt),
                            "--out", status=2)
        # unseal takes no --bind: the binding is inside the sealed file.
        self.assert_failure(self.nacre("device", "unseal", self.dev, "--in", self.pt, "--out",
                                       self.path("o"), "--bind", "0"), status=2)


if __name__ == "__main__":
    nacre_cli.main()
