"""Shared helpers for the nacre CLI integration tests (standard library only).

Each test script is run by meson as:
    python3 test_cli_X.py PATH/TO/nacre [--openssl PATH/TO/openssl]
and runs the real binary as a child process.
"""
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

NACRE = None
OPENSSL = None


def _parse_argv():
    global NACRE, OPENSSL
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: %s PATH/TO/nacre [--openssl PATH]" % sys.argv[0])
    NACRE = os.path.abspath(args[0])
    rest = args[1:]
    if len(rest) >= 2 and rest[0] == "--openssl":
        OPENSSL = rest[1]
        rest = rest[2:]
    if OPENSSL is None:
        OPENSSL = shutil.which("openssl")
    return rest


def main():
    """Run the unittest cases of the calling script."""
    rest = _parse_argv()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def blake2b_256(data):
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def pem_body(path):
    """The DER bytes inside the first PEM block of a file."""
    lines = read_text(path).splitlines()
    b64 = []
    inside = False
    for line in lines:
        if line.startswith("-----BEGIN "):
            inside = True
        elif line.startswith("-----END "):
            break
        elif inside:
            b64.append(line.strip())
    return base64.b64decode("".join(b64))


def raw_ed25519_from_spki(path):
    """The 32-byte raw key of an Ed25519 SPKI PEM (the DER ends with it)."""
    der = pem_body(path)
    # 30 2a 30 05 06 03 2b 65 70 03 21 00 || key
    assert len(der) == 44 and der[:12] == bytes.fromhex("302a300506032b6570032100"), der.hex()
    return der[12:]


class NacreTestCase(unittest.TestCase):
    """Gives each test a fresh scratch directory and a way to run nacre."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nacre-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def write(self, name, data):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return p

    def nacre(self, *args, env=None, expect=None):
        """Run nacre; never a crash (negative returncode = killed by a signal).

        expect: None (any), or the exit status the test requires. A success
        must leave stderr empty (no warnings, no sanitizer reports).
        """
        full_env = dict(os.environ)
        full_env.pop("NACRE_POWER_CUT_AFTER", None)
        if env:
            full_env.update(env)
        res = subprocess.run([NACRE] + [str(a) for a in args], env=full_env,
                             capture_output=True, text=True, timeout=60)
        cmd = "nacre " + " ".join(str(a) for a in args)
        self.assertGreaterEqual(res.returncode, 0,
                                "%s crashed (signal %d): %s" % (cmd, -res.returncode, res.stderr))
        if expect is not None:
            self.assertEqual(res.returncode, expect,
                             "%s: exit %d, wanted %d\nstdout: %s\nstderr: %s"
                             % (cmd, res.returncode, expect, res.stdout, res.stderr))
        if res.returncode == 0:
            self.assertEqual(res.stderr, "", "%s succeeded but wrote to stderr" % cmd)
        return res

    def nacre_ok(self, *args, env=None):
        return self.nacre(*args, env=env, expect=0)

    def nacre_json(self, *args):
        import json
        return json.loads(self.nacre_ok(*(list(args) + ["--json"])).stdout)

    def assert_failure(self, res, contains=None, status=1):
        """Exit status 1 (or status) and exactly one 'nacre: ...' line on stderr."""
        self.assertEqual(res.returncode, status,
                         "exit %d, wanted %d; stderr: %s" % (res.returncode, status, res.stderr))
        lines = res.stderr.splitlines()
        if status == 1:
            self.assertEqual(len(lines), 1, "want one line on stderr, got: %r" % res.stderr)
        else:
            self.assertGreaterEqual(len(lines), 1)
            self.assertIn("see 'nacre", res.stderr)
        self.assertTrue(lines[0].startswith("nacre: "), lines[0])
        if contains is not None:
            self.assertIn(contains, res.stderr)

    def provision(self, name="dev", *extra):
        d = self.path(name)
        info = self.nacre_json("device", "provision", d, *extra)
        self.assertEqual(info["lifecycle"], "provisioned")
        return d

    def openssl(self, *args, check=True):
        if OPENSSL is None:
            self.skipTest("openssl not found")
        res = subprocess.run([OPENSSL] + [str(a) for a in args], capture_output=True,
                             text=True, timeout=120)
        if check:
            self.assertEqual(res.returncode, 0, "openssl %s: %s" % (" ".join(args), res.stderr))
        return res
