"""Shared helpers for the nacre-service integration tests (standard library only).

Each test script is run by meson as:
    python3 test_service_X.py PATH/TO/nacre-service PATH/TO/nacre PATH/TO/devreq
It starts the real service on a free 127.0.0.1 port with a temporary --data
directory, makes keys, devices, images and evidence with the real nacre tool,
and signs device requests with devreq (inside libpluton, like the agent).
"""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SERVICE = NACRE = DEVREQ = None


def main():
    global SERVICE, NACRE, DEVREQ
    if len(sys.argv) < 4:
        sys.exit("usage: %s NACRE-SERVICE NACRE DEVREQ [unittest args]" % sys.argv[0])
    SERVICE, NACRE, DEVREQ = (os.path.abspath(a) for a in sys.argv[1:4])
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)


def run(*args, check=True):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s %s" % (args, p.returncode, p.stdout, p.stderr))
    return p


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def nacre(*args, check=True):
    return run(NACRE, *args, check=check)


def spki_hex(path):
    with open(path, encoding="ascii") as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("-----")]
    der = base64.b64decode("".join(lines))
    assert len(der) == 44 and der[:12] == bytes.fromhex("302a300506032b6570032100"), der.hex()
    return der[12:].hex()


class Service:
    """The real nacre-service as a child process."""

    def __init__(self, data, args=()):
        self.data = data
        self.args = [str(a) for a in args]
        self.proc = None
        self.port = None

    def start(self):
        # stderr to a file: a pipe nobody reads could fill up and stall the service.
        self.log_path = self.data.rstrip("/") + ".log"
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([SERVICE, "--data", self.data, "--listen", "127.0.0.1:0"]
                                     + self.args,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("service did not start: %r %s" % (line, self.log_text()))
        self.port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        with open(os.path.join(self.data, "admin.token")) as f:
            self.admin = f.read().strip()
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        if rc not in (0, -signal.SIGKILL):
            sys.stderr.write("service log:\n" + self.log_text())
        return rc

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, method, path, body=None, token=None, headers=None, timeout=30):
        """(status, headers dict (lowercase names), parsed JSON or raw bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        if hdrs.get("content-type", "").startswith("application/json") and data:
            return resp.status, hdrs, json.loads(data)
        return resp.status, hdrs, data


class Fleet:
    """A tenant with a root key, images, and host devices made with the nacre tool."""

    def __init__(self, svc, work, name):
        self.svc = svc
        self.work = work
        self.name = name
        self.root = os.path.join(work, name + "-root.pem")
        self.root_pub = os.path.join(work, name + "-root.pub.pem")
        nacre("keygen", "--out", self.root, "--pub", self.root_pub, "--force")
        st, _, body = svc.request("POST", "/v1/tenants",
                                  {"name": name, "root_public_key": spki_hex(self.root_pub)},
                                  token=svc.admin)
        assert st == 201, (st, body)
        self.token = body["admin_token"]
        self.ca_pem = body["ca_certificate"]

    def req(self, method, path, body=None, token=None, **kw):
        return self.svc.request(method, path, body, token=token or self.token, **kw)

    def image(self, version, counter, payload=None, key=None, component="app"):
        """Sign an image; returns its path (and a refs json next to it)."""
        base = os.path.join(self.work, "%s-%s-%s-%d" % (self.name, component, version, counter))
        with open(base + ".bin", "w") as f:
            f.write(payload or ("%s app %s\n" % (self.name, version)) * 300)
        nacre("image", "sign", "--key", key or self.root, "--component", component,
              "--version", version, "--counter", str(counter),
              "--refs-out", base + ".refs.json", base + ".bin", base + ".img")
        return base + ".img"

    def device(self, name, image=None):
        """Provision a host device (running `image` if given); returns (dir, pk hex)."""
        d = os.path.join(self.work, name)
        nacre("device", "provision", d, "--root-pub", self.root_pub)
        if image is not None:
            nacre("device", "install", d, image)
            nacre("device", "boot", d)
            nacre("device", "confirm", d)
        pub = d + ".pub.pem"
        nacre("device", "pubkey", d, "--out", pub)
        return d, spki_hex(pub)

    def evidence(self, device_dir, nonce):
        out = device_dir + ".evidence"
        nacre("device", "attest", device_dir, "--nonce", nonce, "--out", out)
        with open(out, "rb") as f:
            return base64.b64encode(f.read()).decode()

    def attest(self, device_dir, device_id):
        """nonce -> evidence -> attest; returns (status, body); writes DIR.cert.pem on success."""
        st, _, body = self.svc.request("POST", "/v1/device/nonce", {"device_id": device_id})
        assert st == 200, (st, body)
        ev = self.evidence(device_dir, body["nonce"])
        st, _, body = self.svc.request("POST", "/v1/device/attest",
                                       {"device_id": device_id, "evidence": ev})
        if st == 200:
            with open(device_dir + ".cert.pem", "w") as f:
                f.write(body["certificate"])
        return st, body


def device_id_of(pk_hex):
    import hashlib
    return hashlib.blake2b(bytes.fromhex(pk_hex), digest_size=32).hexdigest()


def signed_headers(device_dir, method, path, body=b"", cert=None, **over):
    """The five headers of a signed device request, made by devreq."""
    args = [DEVREQ, device_dir, cert or device_dir + ".cert.pem", method, path]
    tmp = None
    if body:
        fd, tmp = tempfile.mkstemp()
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        args.append(tmp)
    for k, v in over.items():
        args += ["--" + k, str(v)]
    try:
        p = run(*args)
    finally:
        if tmp:
            os.unlink(tmp)
    return json.loads(p.stdout)


def device_call(svc, device_dir, method, path, body=None, cert=None, headers=None, **over):
    raw = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
    h = signed_headers(device_dir, method, path, raw, cert=cert, **over)
    if raw:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    return svc.request(method, path, raw if raw else None, headers=h)


class ServiceTestCase(unittest.TestCase):
    """One service and scratch directory per test class."""

    SERVICE_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="nacre-service-test-")
        cls.data = os.path.join(cls.work, "data")
        cls.svc = Service(cls.data, cls.SERVICE_ARGS).start()
        # Runs even if a subclass's setUpClass fails after this (no stray service).
        cls.addClassCleanup(cls.svc.stop, signal.SIGKILL)

    @classmethod
    def tearDownClass(cls):
        rc = cls.svc.stop()
        shutil.rmtree(cls.work, ignore_errors=True)
        assert rc in (0, None), "the service exited %s on SIGTERM" % rc

    def assertError(self, resp, status, code):
        st, _, body = resp
        self.assertEqual(st, status, body)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(body["error"]["code"], code, body)
