"""Sandboxed apps with the nacre tool: app package / inspect, image sign,
device run (examples/hello and examples/thermostat as real sandboxed
processes under the security monitor, the thermostat's reading arriving at a
TCP listener on 127.0.0.1 through secmon's broker while its undeclared
connection is denied), device events, and what secmon refuses to launch
(a tampered image, an image signed by another key, a bad manifest).

    python3 test_cli_apps.py PATH/TO/nacre PATH/TO/hello PATH/TO/thermostat \\
        PATH/TO/configure.py [--openssl PATH]
"""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase, read_bytes  # noqa: E402

HELLO = THERMOSTAT = CONFIGURE = None
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
RUN_TIMEOUT = 120  # seconds any 'device run' may take, whatever --seconds says


def app_id(component_id):
    """What secmon records in events: BLAKE2b-256(ComponentId), first 8 bytes."""
    return hashlib.blake2b(component_id.encode(), digest_size=32).hexdigest()[:16]


def spki_pem(raw):
    """An Ed25519 public key (32 raw bytes) as SPKI PEM, for openssl."""
    der = bytes.fromhex("302a300506032b6570032100") + raw
    return "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % \
        base64.b64encode(der).decode()


class Listener:
    """A TCP server on 127.0.0.1 (port 0: the kernel picks) that keeps the
    first line of every connection, in a thread, for a bounded time."""

    def __init__(self, seconds=60):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.deadline = time.monotonic() + seconds
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping and time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\n" not in data and len(data) < 4096:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except socket.timeout:
                    pass
                self.lines.append(data.split(b"\n")[0].decode(errors="replace"))

    def close(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()


def free_port():
    """A port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppTestCase(NacreTestCase):
    """A device provisioned with a test root key, and helpers to build, sign
    and run apps on it. (No tests here: tests/sandbox/test_escape.py reuses it.)"""

    def setUp(self):
        super().setUp()
        self.root, self.root_pub = self.path("root.pem"), self.path("root.pub.pem")
        self.nacre_ok("keygen", "--out", self.root, "--pub", self.root_pub)
        self.dev = self.provision("dev", "--root-pub", self.root_pub)

    def package(self, name, exe, manifest, *extra):
        pkg = self.path(name + ".napp")
        self.nacre_ok("app", "package", "--manifest", manifest, "--exe", exe, "--out", pkg, *extra)
        return pkg

    def sign(self, pkg, component, key=None, version="1.0.0", counter=1, out=None):
        img = out or pkg.replace(".napp", ".img")
        self.nacre_ok("image", "sign", "--key", key or self.root, "--component", component,
                      "--version", version, "--counter", counter, pkg, img)
        return img

    def app_image(self, name, exe, manifest, key=None):
        return self.sign(self.package(name, exe, manifest), name, key=key)

    def hello_image(self, key=None):
        return self.app_image("hello", HELLO, os.path.join(EXAMPLES, "hello", "app_manifest.json"),
                              key=key)

    def thermostat_image(self, server_port, denied_port):
        exe, manifest = self.path("thermostat.configured"), self.path("thermostat.json")
        res = subprocess.run([sys.executable, CONFIGURE, "--exe", THERMOSTAT,
                              "--server", "127.0.0.1:%d" % server_port,
                              "--denied", "127.0.0.1:%d" % denied_port,
                              "--exe-out", exe, "--manifest-out", manifest],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        return self.app_image("thermostat", exe, manifest)

    def run_device(self, *args, expect=None):
        """nacre device run (a real, bounded process); never a crash."""
        res = subprocess.run([nacre_cli.NACRE, "device", "run", self.dev] + [str(a) for a in args],
                             capture_output=True, text=True, timeout=RUN_TIMEOUT)
        self.assertGreaterEqual(res.returncode, 0, "device run crashed: %s" % res.stderr)
        if expect is not None:
            self.assertEqual(res.returncode, expect,
                             "device run: exit %d\nstdout: %s\nstderr: %s"
                             % (res.returncode, res.stdout, res.stderr))
        return res

    def run_json(self, *args, expect=0):
        res = self.run_device(*(list(args) + ["--json"]), expect=expect)
        if expect == 0:
            self.assertEqual(res.stderr, "", "device run succeeded but wrote to stderr")
        return json.loads(res.stdout), res

    def events(self, *args):
        return self.nacre_json("device", "events", self.dev, *args)["events"]

    @staticmethod
    def app(run, name):
        found = [a for a in run["apps"] if a["name"] == name]
        assert len(found) == 1, run
        return found[0]

    def assert_hello_verified(self, hello):
        """hello's own check passed, and the signature verifies here too (openssl)."""
        out = "\n".join(hello["output"])
        self.assertEqual(hello["state"], "exited", hello)
        self.assertEqual(hello["exit_status"], 0, out)
        self.assertIn("signature: verified with the app key", out)
        key = re.search(r"^app key: ([0-9a-f]{64})$", out, re.M).group(1)
        sig = re.search(r'^signed "hello from hello": ([0-9a-f]{128})$', out, re.M).group(1)
        if nacre_cli.OPENSSL is None:
            return
        pub = self.write("hello-app.pub.pem", spki_pem(bytes.fromhex(key)))
        msg = self.write("hello-msg.bin", b"hello from hello")
        sigf = self.write("hello-sig.bin", bytes.fromhex(sig))
        res = self.openssl("pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", pub,
                           "-in", msg, "-sigfile", sigf, check=False)
        self.assertEqual(res.returncode, 0, "openssl does not verify hello's signature: %s"
                         % (res.stdout + res.stderr))
        # ... and not under another key: the app key is the one secmon says.
        other = self.write("other.pub.pem", spki_pem(hashlib.sha256(b"x").digest()))
        res = self.openssl("pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", other,
                           "-in", msg, "-sigfile", sigf, check=False)
        self.assertNotEqual(res.returncode, 0)


class PackageTest(AppTestCase):
    def test_package_inspect_sign(self):
        manifest = os.path.join(EXAMPLES, "hello", "app_manifest.json")
        pkg = self.path("hello.napp")
        res = self.nacre_ok("app", "package", "--manifest", manifest, "--exe", HELLO, "--out", pkg)
        self.assertIn("hello", res.stdout)
        self.assertIn("capabilities:", res.stdout)
        self.assertIn("--component hello", res.stdout)
        data = read_bytes(pkg)
        exe = read_bytes(HELLO)
        mtext = read_bytes(manifest)
        # "NAPP" | u32 manifest length | manifest | u32 exe length | exe
        self.assertEqual(data[:4], b"NAPP")
        self.assertEqual(int.from_bytes(data[4:8], "little"), len(mtext))
        self.assertEqual(data[8:8 + len(mtext)], mtext)
        self.assertEqual(data[8 + len(mtext) + 4:], exe)

        info = self.nacre_json("app", "package", "--manifest", manifest, "--exe", HELLO,
                               "--out", pkg)
        self.assertEqual(info["app"]["name"], "hello")
        self.assertEqual(info["executable_size"], len(exe))

        img = self.sign(pkg, "hello")
        got = self.nacre_json("app", "inspect", img)
        comp = json.loads(mtext)["ComponentId"]
        self.assertEqual(got["image"]["component"], "hello")
        self.assertEqual(got["image"]["version"], "1.0.0")
        self.assertEqual(got["app"]["name"], "hello")
        self.assertEqual(got["app"]["component_id"], comp)
        self.assertEqual(got["app"]["app_id"], app_id(comp))
        self.assertEqual(got["manifest"]["Name"], "hello")
        self.assertEqual(got["app"]["capabilities"]["allowed_connections"], [])
        self.assertEqual(got["executable_digest"], hashlib.blake2b(exe, digest_size=32).hexdigest())
        text = self.nacre_ok("app", "inspect", img).stdout
        for want in ("component:", "hello", app_id(comp), "capabilities:", "none", "measurement:"):
            self.assertIn(want, text)
        # A bare package inspects too (no image part).
        self.assertIsNone(self.nacre_json("app", "inspect", pkg)["image"])
        # Not an app at all.
        junk = self.write("junk.img", b"junk" * 100)
        self.assert_failure(self.nacre("app", "inspect", junk), "junk.img")

    def test_bad_manifests_refused_with_their_path(self):
        base = json.loads(read_bytes(os.path.join(EXAMPLES, "hello", "app_manifest.json")))
        cases = [
            ({"Capabilities": {"Frobnicate": True}}, "Capabilities.Frobnicate"),
            ({"Capabilities": {"MutableStorage": {"SizeKB": 100}}},
             "Capabilities.MutableStorage.SizeKB"),
            ({"Capabilities": {"AllowedConnections": ["127.0.0.1"]}},
             "Capabilities.AllowedConnections"),
            ({"Capabilites": {}}, "Capabilites"),
            ({"ComponentId": "not-a-uuid"}, "ComponentId"),
        ]
        for change, path in cases:
            m = dict(base)
            m.update(change)
            f = self.write("bad.json", json.dumps(m))
            res = self.nacre("app", "package", "--manifest", f, "--exe", HELLO,
                             "--out", self.path("bad.napp"))
            self.assert_failure(res, path)
            self.assertIn("manifest", res.stderr)
            self.assertFalse(os.path.exists(self.path("bad.napp")))
        # Not JSON; not an ELF program; usage errors.
        f = self.write("notjson.json", "{")
        self.assert_failure(self.nacre("app", "package", "--manifest", f, "--exe", HELLO,
                                       "--out", self.path("x.napp")), "manifest")
        good = os.path.join(EXAMPLES, "hello", "app_manifest.json")
        script = self.write("script.sh", "#!/bin/sh\necho hi\n")
        self.assert_failure(self.nacre("app", "package", "--manifest", good, "--exe", script,
                                       "--out", self.path("x.napp")), "not an ELF program")
        self.assert_failure(self.nacre("app", "package", "--manifest", good, "--exe", HELLO),
                            "--out", status=2)
        self.assert_failure(self.nacre("app", "package", "--exe", HELLO, "--out", "x"), status=2)
        self.assert_failure(self.nacre("app", "frobnicate"), status=2)
        for cmd in (["app"], ["app", "package"], ["app", "inspect"], ["device", "run"],
                    ["device", "events"]):
            res = self.nacre_ok(*(cmd + ["--help"]))
            self.assertIn("usage: nacre " + " ".join(cmd), res.stdout)
        self.assertIn("device run", self.nacre_ok("help").stdout)
        self.assertIn("app package", self.nacre_ok("help").stdout)


class RunTest(AppTestCase):
    def test_hello_and_thermostat(self):
        listener = Listener(seconds=RUN_TIMEOUT)
        denied_port = free_port()
        try:
            hello = self.hello_image()
            thermo = self.thermostat_image(listener.port, denied_port)
            run, _ = self.run_json("--seconds", "30", "--app", hello, "--app", thermo)
            # A second run: the thermostat's storage kept its reading counter.
            run2, _ = self.run_json("--seconds", "30", "--app", thermo)
        finally:
            listener.close()

        self.assertEqual(run["ended"], "exited", run)
        self.assert_hello_verified(self.app(run, "hello"))

        t = self.app(run, "thermostat")
        out = "\n".join(t["output"])
        self.assertEqual((t["state"], t["exit_status"]), ("exited", 0), out)
        self.assertIn("storage is empty: first reading", out)
        self.assertIn("connection to 127.0.0.1:%d denied (DENIED)" % denied_port, out)
        self.assertEqual(len(listener.lines), 2, listener.lines)
        m = re.fullmatch(r"reading 1 (-?\d+)", listener.lines[0])
        self.assertIsNotNone(m, listener.lines)
        self.assertTrue(2100 <= int(m.group(1)) <= 2300, m.group(1))  # the emulated sensor
        self.assertIn('sent "%s" to 127.0.0.1:%d' % (listener.lines[0], listener.port), out)
        self.assertRegex(listener.lines[1], r"^reading 2 -?\d+$")
        out2 = "\n".join(self.app(run2, "thermostat")["output"])
        self.assertIn("storage holds 1 earlier reading(s)", out2)

        # The event log: both apps started and exited; the denied connection names host:port.
        thermo_id = self.app(run, "thermostat")["app_id"]
        hello_id = self.app(run, "hello")["app_id"]
        self.assertEqual(hello_id, app_id("2f0c8a4e-6b1d-4c3a-9e7f-1a2b3c4d5e6f"))
        evs = self.events()
        kinds = [(e["type"], e["app_id"]) for e in evs]
        for ident in (hello_id, thermo_id):
            self.assertIn(("app_start", ident), kinds)
            self.assertIn(("app_exit", ident), kinds)
        denied = [e for e in evs if e["type"] == "connection_denied"]
        self.assertEqual(len(denied), 2, denied)  # one per run
        self.assertEqual(denied[0]["app_id"], thermo_id)
        self.assertEqual(denied[0]["target"], "127.0.0.1:%d" % denied_port)
        self.assertEqual(denied[0]["code_text"], "DENIED")
        logs = [e for e in evs if e["type"] == "app_log"]
        self.assertTrue(any(e["app_id"] == hello_id for e in logs), logs)
        self.assertEqual([e for e in evs if e["type"] in ("app_crash", "sandbox_degraded")], [])
        # The run's JSON carries the same events; seqs increase.
        self.assertEqual([e["seq"] for e in run["events"]],
                         sorted(e["seq"] for e in run["events"]))
        self.assertTrue(any(e["type"] == "connection_denied" for e in run["events"]))

        text = self.nacre_ok("device", "events", self.dev).stdout
        self.assertRegex(text, r"connection_denied +%s +DENIED +127\.0\.0\.1:%d"
                         % (thermo_id, denied_port))
        self.assertIn("app_start", text)
        self.assertIn("app_exit", text)
        last = evs[-1]["seq"]
        since = self.events("--since", str(evs[-3]["seq"]))
        self.assertEqual([e["seq"] for e in since], [e["seq"] for e in evs[-2:]])
        self.assertEqual(self.events("--since", str(last)), [])
        self.assertIn("no events", self.nacre_ok("device", "events", self.dev, "--since",
                                                 str(last)).stdout)

    def test_text_output_is_prefixed(self):
        res = self.run_device("--seconds", "30", "--app", self.hello_image(), expect=0)
        self.assertEqual(res.stderr, "")
        self.assertRegex(res.stdout, r"(?m)^\[hello\] signature: verified with the app key$")
        self.assertRegex(res.stdout, r"(?m)^\[hello\] app key: [0-9a-f]{64}$")
        self.assertIn("every app exited", res.stdout)
        self.assertRegex(res.stdout, r"(?m)^  hello +exited 0$")

    def test_refused_images(self):
        hello = self.hello_image()
        good_run, _ = self.run_json("--seconds", "30", "--app", hello)
        self.assertEqual(self.app(good_run, "hello")["exit_status"], 0)

        # One changed byte in the executable: the payload digest no longer matches.
        data = bytearray(read_bytes(hello))
        data[-100] ^= 0x01
        tampered = self.write("tampered.img", bytes(data))
        res = self.run_device("--seconds", "10", "--app", tampered, expect=1)
        self.assert_failure(res, "tampered.img refused")
        evs = self.events()
        self.assertEqual((evs[-1]["type"], evs[-1]["code_text"], evs[-1]["app_id"]),
                         ("verify_failed", "VERIFY", None), evs[-3:])
        self.assertEqual(evs[-1]["detail"], "hello")
        self.assertEqual(evs[-1]["addr"], 15)  # NACRE_UPDATE_ERR_PAYLOAD_DIGEST
        self.assertNotIn("[hello]", res.stdout)
        self.assertIn("no app ran", res.stdout)

        # Signed by a key the device does not know.
        other, other_pub = self.path("other.pem"), self.path("other.pub.pem")
        self.nacre_ok("keygen", "--out", other, "--pub", other_pub)
        foreign = self.sign(self.package("hello", HELLO,
                                         os.path.join(EXAMPLES, "hello", "app_manifest.json")),
                            "hello", key=other, out=self.path("foreign.img"))
        res = self.run_device("--seconds", "10", "--app", foreign, expect=1)
        self.assert_failure(res, "foreign.img refused")
        self.assertIn("neither the device's root key nor certified by it", res.stderr)
        last = self.events()[-1]
        self.assertEqual((last["type"], last["code_text"], last["addr"]),
                         ("verify_failed", "VERIFY", 12))  # NACRE_UPDATE_ERR_UNKNOWN_KEY

        # The image's component must be the manifest's Name.
        renamed = self.sign(self.path("hello.napp"), "thermostat", out=self.path("renamed.img"))
        res = self.run_device("--seconds", "10", "--app", renamed, expect=1)
        self.assert_failure(res, "renamed.img refused")

        # A refused app does not stop the others; the run still fails.
        run, res = self.run_json("--seconds", "30", "--app", tampered, "--app", hello, expect=1)
        self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
        self.assertEqual(run["apps"][1]["exit_status"], 0)
        self.assertIn("signature: verified with the app key", run["apps"][1]["output"])
        self.assertIn("payload does not match", run["apps"][0]["error"])
        self.assertEqual([a["state"] for a in run["apps"]], ["refused", "exited"])
        self.assertTrue(run["apps"][0]["error"])

    def test_stop_and_usage(self):
        hello = self.hello_image()
        # The second launch waits 60 s: the run stops at --seconds, or at SIGTERM.
        run, _ = self.run_json("--seconds", "2", "--stagger", "60000", "--app", hello,
                               "--app", hello)
        self.assertEqual(run["ended"], "timeout")
        self.assertEqual([a["state"] for a in run["apps"]], ["exited", "not launched"])
        proc = subprocess.Popen([nacre_cli.NACRE, "device", "run", self.dev, "--seconds", "60",
                                 "--stagger", "60000", "--app", hello, "--app", hello],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(err, "")
        self.assertIn("stopped by SIGTERM", out)
        # The device is free again afterwards.
        self.nacre_ok("device", "events", self.dev)

        for args in ([], ["--app"], ["--app", hello, "--seconds", "0"],
                     ["--app", hello, "--seconds", "x"], ["--app", hello, "--frobnicate"],
                     ["--app", hello, "--stagger", "-1"]):
            res = self.run_device(*args)
            self.assert_failure(res, status=2)
        res = self.nacre("device", "run", "--app", hello)
        self.assert_failure(res, "DIR", status=2)
        self.assert_failure(self.nacre("device", "events"), status=2)
        self.assert_failure(self.nacre("device", "events", self.dev, "--since", "x"), status=2)
        self.assert_failure(self.nacre("device", "events", self.path("nothing")), "opening device")
        missing = self.run_device("--app", self.path("missing.img"), expect=1)
        self.assert_failure(missing, "missing.img")


if __name__ == "__main__":
    HELLO, THERMOSTAT, CONFIGURE = (os.path.abspath(p) for p in sys.argv[2:5])
    del sys.argv[2:5]
    nacre_cli.main()
