"""The nacre-service dashboard in a real browser (standard library only).

    python3 test_dashboard.py PATH/TO/nacre-service PATH/TO/nacre OUT_DIR [--chromium PATH]

Starts the real nacre-service on a free 127.0.0.1 port with a temporary
--data directory and fills it through the API: a tenant whose root key and
devices come from the real `nacre` tool (`nacre keygen`, `nacre device
provision`, `nacre device pubkey`), a group, a signed image and a staged
deployment; one device installs the image, boots it and attests (state
"attested", a certificate), one attests while running a genuine image that
was never deployed (state "attestation_failed", flag and alert), one is
quarantined, one is only claimed; a second group's deployment halts when its
only device fails attestation. The attested device uploads three app crashes (signed inside
libpluton by tests/service/devreq, looked for in OUT_DIR): a failure bucket
and a crash_loop alert. One label and one quarantine reason are HTML
injection attempts.

Then headless Chromium loads the dashboard (--dump-dom after virtual time
has run the page's scripts) and the test checks the DOM: every device row,
the states, both deployments and their rollout, the halt reason, the failure
bucket, the alerts, the summary counts; that the hostile strings are text
and never markup; that without a token the page asks for one and that a
wrong token is refused. A screenshot of the
populated page goes to OUT_DIR/dashboard.png (its path is printed).

Exit status 77 (meson: skipped) if Chromium is not installed.
"""
import base64
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

SERVICE = NACRE = OUT_DIR = CHROMIUM = None

XSS_LABEL = '<img src=x onerror="document.body.setAttribute(\'data-pwned\',\'1\')">'
XSS_REASON = '<script>document.title="pwned"</script>'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hex_of_spki_pem(path):
    """The raw 32-byte Ed25519 key of a SPKI PEM, as hex."""
    with open(path, encoding="ascii") as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("-----")]
    der = base64.b64decode("".join(lines))
    assert len(der) == 44 and der[:12] == bytes.fromhex("302a300506032b6570032100"), der.hex()
    return der[12:].hex()


class Service:
    """A nacre-service process on a free loopback port."""

    def __init__(self, exe, root):
        self.data = os.path.join(root, "data")
        self.log_path = os.path.join(root, "service.log")
        for _ in range(5):
            self.port = free_port()
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [exe, "--data", self.data, "--listen", "127.0.0.1:%d" % self.port],
                stdout=self.log, stderr=subprocess.STDOUT)
            if self._wait_listening():
                self.base = "http://127.0.0.1:%d" % self.port
                with open(os.path.join(self.data, "admin.token"), encoding="ascii") as f:
                    self.admin_token = f.read().strip()
                return
            self.stop()
        raise RuntimeError("nacre-service did not start; log: " + self.log_text())

    def _wait_listening(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False  # exited (port taken?): try another port
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def call(self, method, path, token, body=None, octet=None, want=200):
        """One API call; returns the decoded JSON (or None). Fails on another status."""
        headers = {"Authorization": "Bearer " + token}
        data = None
        if octet is not None:
            data = octet
            headers["Content-Type"] = "application/octet-stream"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if status != want:
            raise AssertionError("%s %s: HTTP %d (expected %d): %s" %
                                 (method, path, status, want, text[:500]))
        return json.loads(text) if text else None

    def get_raw(self, path):
        with urllib.request.urlopen(self.base + path, timeout=20) as r:
            return r.status, dict(r.headers), r.read()


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="nacre-dashboard-")
        cls.svc = Service(SERVICE, cls.tmp)
        try:
            cls._populate()
        except BaseException:
            print(cls.svc.log_text(), file=sys.stderr)
            cls.svc.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def nacre(cls, *args):
        r = subprocess.run([NACRE] + list(args), cwd=cls.tmp, capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise AssertionError("nacre %s failed (%d): %s" % (" ".join(args), r.returncode,
                                                               r.stderr))
        return r.stdout

    @classmethod
    def _populate(cls):
        svc = cls.svc
        cls.nacre("keygen", "--out", "root.pem", "--pub", "root.pub.pem", "--force")
        t = svc.call("POST", "/v1/tenants", svc.admin_token,
                     {"name": "acme", "root_public_key": hex_of_spki_pem(
                         os.path.join(cls.tmp, "root.pub.pem"))}, want=201)
        admin = t["admin_token"]
        ro = svc.call("POST", "/v1/tokens", admin, {"role": "read-only", "label": "dashboard"},
                      want=201)
        cls.token = ro["token"]
        svc.call("POST", "/v1/groups", admin, {"name": "field"}, want=201)
        svc.call("POST", "/v1/groups", admin, {"name": "lab"}, want=201)

        # The firmware image, deployed in two waves to the group.
        with open(os.path.join(cls.tmp, "fw.bin"), "wb") as f:
            f.write(b"thermostat firmware 1.1.0\n" * 500)
        cls.nacre("image", "sign", "--key", "root.pem", "--version", "1.1.0", "--counter", "1",
                  "--component", "thermostat", "fw.bin", "fw.img")
        with open(os.path.join(cls.tmp, "fw.img"), "rb") as f:
            img = svc.call("POST", "/v1/images", admin, octet=f.read(), want=201)
        cls.image_id = img["image_id"]

        # Devices: provisioned by the real tool, claimed into the group.
        labels = [("thermostat-kitchen", "field"), (XSS_LABEL, "field"),
                  ("thermostat-attic", "field"), ("thermostat-garage", "field"),
                  ("lab-unit", "lab")]
        cls.devices = []
        for i, (label, group) in enumerate(labels):
            d = "dev%d" % i
            cls.nacre("device", "provision", d, "--root-pub", "root.pub.pem")
            info = json.loads(cls.nacre("device", "pubkey", d, "--out", d + ".pub.pem", "--json"))
            dev = svc.call("POST", "/v1/devices", admin,
                           {"device_id_public_key": info["public_key"], "group": group,
                            "label": label}, want=201)
            assert dev["device_id"] == info["device_id"], (dev, info)
            cls.devices.append({"dir": d, "id": dev["device_id"], "label": label})

        # dev1 (the hostile label) runs a genuine image that was never deployed:
        # its evidence is good but matches no reference value (attestation_failed).
        # It attests before the deployment exists, so that the deployment's
        # first wave (chosen by hash) does not count it as a bad device.
        with open(os.path.join(cls.tmp, "other.bin"), "wb") as f:
            f.write(b"thermostat firmware, unreleased build\n" * 500)
        cls.nacre("image", "sign", "--key", "root.pem", "--version", "1.1.0", "--counter", "1",
                  "--component", "thermostat", "other.bin", "other.img")
        for dev in (cls.devices[1], cls.devices[4]):
            cls.nacre("device", "install", dev["dir"], "other.img")
            cls.nacre("device", "boot", dev["dir"])
            cls.nacre("device", "confirm", dev["dir"])
        failed = cls._attest(admin, cls.devices[1], want=403)
        assert len(failed["failures"]) == 1 and "measurement" in failed["failures"][0], failed

        # Deployment 1 to "field" (4 devices, waves 50 % then 100 %): rolling.
        dep = svc.call("POST", "/v1/deployments", admin,
                       {"group": "field", "image_id": cls.image_id, "waves": [50, 100],
                        "max_failure_rate": 0.25}, want=201)
        cls.deployment_id = dep["id"]
        # Deployment 2 to "lab" (1 device): its only device then fails
        # attestation, so the deployment halts by itself with a reason.
        dep = svc.call("POST", "/v1/deployments", admin,
                       {"group": "lab", "image_id": cls.image_id, "waves": [100],
                        "max_failure_rate": 0.25}, want=201)
        cls.halted_id = dep["id"]
        cls._attest(admin, cls.devices[4], want=403)

        # dev0 runs the deployed image and attests: "attested", a certificate, 1.1.0.
        d0 = cls.devices[0]
        cls.nacre("device", "install", d0["dir"], "fw.img")
        cls.nacre("device", "boot", d0["dir"])
        cls.nacre("device", "confirm", d0["dir"])
        att = cls._attest(admin, d0, want=200)
        cls.crashes = cls._upload_crashes(d0, att["certificate"])
        # dev2 is quarantined; dev3 stays claimed.
        svc.call("POST", "/v1/devices/%s/quarantine" % cls.devices[2]["id"], admin,
                 {"reason": XSS_REASON}, want=200)

    @classmethod
    def _upload_crashes(cls, dev, cert_pem):
        """Three app_crash events from dev0 (a failure bucket and a crash_loop
        alert), signed by devreq (tests/service, built beside this test's
        OUT_DIR) inside libpluton. Returns False if devreq is not there."""
        devreq = os.path.join(OUT_DIR, "devreq")
        if not os.access(devreq, os.X_OK):
            print("devreq not found in %s: no failure buckets" % OUT_DIR, file=sys.stderr)
            return False
        cert = os.path.join(cls.tmp, dev["dir"] + ".cert.pem")
        with open(cert, "w", encoding="ascii") as f:
            f.write(cert_pem)
        now = int(time.time())
        events = {"events": [{"seq": i + 1, "time": now - 30 + i, "type": "app_crash",
                              "app": "00112233445566ff", "code": 11, "addr": 4096,
                              "detail": "<b>segfault</b> in thermostat"} for i in range(3)]}
        body = json.dumps(events).encode()
        body_file = os.path.join(cls.tmp, "events.json")
        with open(body_file, "wb") as f:
            f.write(body)
        r = subprocess.run([devreq, dev["dir"], cert, "POST", "/v1/device/events", body_file],
                           cwd=cls.tmp, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("devreq failed: " + r.stderr)
        headers = json.loads(r.stdout)
        headers["Content-Type"] = "application/json"
        req = urllib.request.Request(cls.svc.base + "/v1/device/events", data=body,
                                     method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=20) as resp:
            got = json.loads(resp.read())
        assert got["accepted"] == 3, got
        return True

    @classmethod
    def _attest(cls, admin, dev, want):
        n = cls.svc.call("POST", "/v1/device/nonce", admin, {"device_id": dev["id"]})
        ev = dev["dir"] + ".evidence"
        cls.nacre("device", "attest", dev["dir"], "--nonce", n["nonce"], "--out", ev)
        with open(os.path.join(cls.tmp, ev), "rb") as f:
            evidence = base64.b64encode(f.read()).decode()
        return cls.svc.call("POST", "/v1/device/attest", admin,
                            {"device_id": dev["id"], "evidence": evidence}, want=want)

    # ---- the browser ----

    def chromium(self, fragment, extra):
        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.tmp)
        cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
               "--no-first-run", "--disable-extensions", "--user-data-dir=" + profile,
               "--virtual-time-budget=10000"] + extra + [self.svc.base + "/" + fragment]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "chromium failed: " + r.stderr[-2000:])
        return r.stdout

    def dom(self, fragment):
        return self.chromium(fragment, ["--dump-dom"])

    def populated_dom(self):
        """The DOM of the dashboard with the read-only token (loaded once)."""
        cls = type(self)
        if not hasattr(cls, "_dom"):
            cls._dom = self.dom("#token=" + self.token)
        return cls._dom

    def body_state(self, dom):
        m = re.search(r'<body[^>]*\bdata-state="([^"]*)"', dom)
        self.assertIsNotNone(m, "no <body data-state>: the page is broken\n" + dom[:2000])
        return m.group(1)

    def row(self, dom, attr, value):
        """The <tr ...> start tag with attr="value"."""
        m = re.search(r'<tr\b[^>]*\b%s="%s"[^>]*>' % (attr, re.escape(value)), dom)
        self.assertIsNotNone(m, "no row %s=%s in the dashboard" % (attr, value))
        return m.group(0)

    def row_html(self, dom, attr, value):
        """The whole <tr>...</tr> with attr="value"."""
        start = dom.find(self.row(dom, attr, value))
        return dom[start:dom.index("</tr>", start)]

    # ---- the checks ----

    def test_page_is_self_contained(self):
        status, headers, body = self.svc.get_raw("/")
        self.assertEqual(status, 200)
        page = body.decode()
        self.assertIn('id="devices"', page)
        # Works under default-src 'self': no inline script, style or handler.
        self.assertNotRegex(page, r"<script(?![^>]*\bsrc=)[^>]*>")
        self.assertNotRegex(page, r"<style\b|\sstyle=|\son[a-z]+=")
        self.assertNotRegex(page, r"(src|href)=\"(https?:)?//")
        csp = {k.lower(): v for k, v in headers.items()}.get("content-security-policy")
        if csp is not None:
            self.assertIn("default-src 'self'", csp)

    def test_devices_and_states(self):
        dom = self.populated_dom()
        self.assertEqual(self.body_state(dom), "ok", "the page did not load the API")
        want = {0: "attested", 1: "attestation_failed", 2: "quarantined", 3: "claimed"}
        for i, state in want.items():
            tr = self.row(dom, "data-device-id", self.devices[i]["id"])
            self.assertIn('data-state="%s"' % state, tr, tr)
        self.assertEqual(len(re.findall(r"<tr\b[^>]*\bdata-device-id=", dom)), 5)
        # the attested device: its version and a certificate expiring in about a day
        r0 = self.row_html(dom, "data-device-id", self.devices[0]["id"])
        self.assertIn("1.1.0", r0)
        self.assertRegex(r0, r"expires in (23|24) h")
        self.assertIn("thermostat-kitchen", r0)
        # the failed one carries its flag as a badge
        r1 = self.row_html(dom, "data-device-id", self.devices[1]["id"])
        self.assertIn('data-flag="attestation_mismatch"', r1)
        # the quarantined one says so, with its reason as text
        r2 = self.row_html(dom, "data-device-id", self.devices[2]["id"])
        self.assertIn('data-quarantined="true"', r2)
        self.assertIn(html.escape(XSS_REASON, quote=False), r2)
        # summary counts
        self.assertRegex(dom, r'id="summary-devices">5<')
        self.assertRegex(dom, r'id="summary-quarantined">1<')

    def test_hostile_label_is_text(self):
        dom = self.populated_dom()
        self.assertEqual(self.body_state(dom), "ok")
        r1 = self.row_html(dom, "data-device-id", self.devices[1]["id"])
        self.assertIn(html.escape(XSS_LABEL, quote=False), r1)
        self.assertNotIn("<img", dom, "a device label became an element")
        self.assertNotIn("data-pwned", re.search(r"<body[^>]*>", dom).group(0))
        self.assertNotIn("<title>pwned", dom)

    def test_deployment_and_alert(self):
        dom = self.populated_dom()
        tr = self.row_html(dom, "data-deployment-id", str(self.deployment_id))
        self.assertIn('data-state="rolling"', tr)
        self.assertIn("1.1.0", tr)
        self.assertIn("field", tr)
        self.assertIn('data-wave="0" data-open="true"', tr)  # the first wave is open
        self.assertRegex(tr, r'class="bar"[^>]*data-total="4"')
        self.assertIn("offered ", tr)
        halted = self.row_html(dom, "data-deployment-id", str(self.halted_id))
        self.assertIn('data-state="halted"', halted)
        self.assertRegex(halted, r'class="reason halt-reason">[^<]*failure rate')
        for dev in (self.devices[1], self.devices[4]):
            alert = self.row_html(dom, "data-alert-device", dev["id"])
            self.assertIn('data-rule="attestation_mismatch"', alert)
            self.assertIn(dev["id"][:8], alert)

    def test_failure_bucket(self):
        if not self.crashes:
            self.skipTest("devreq not built: no events uploaded")
        dom = self.populated_dom()
        rows = re.findall(r"<tr\b[^>]*\bdata-bucket=\"[^\"]*\"[^>]*>.*?</tr>", dom)
        self.assertEqual(len(rows), 1, rows)
        self.assertIn("00112233445566ff", rows[0])
        self.assertRegex(rows[0], r'<td class="num">3</td><td class="num">1</td>')
        alert = self.row_html(dom, "data-rule", "crash_loop")
        self.assertIn(self.devices[0]["id"][:8], alert)
        self.assertRegex(dom, r'id="summary-buckets">1<')

    def test_without_token(self):
        dom = self.dom("")
        self.assertEqual(self.body_state(dom), "no-token")
        self.assertRegex(dom, r'<section id="auth-message"[^>]*data-reason="missing"')
        self.assertIn("Token required", dom)
        self.assertNotRegex(dom, r"<tr\b[^>]*data-device-id=")

    def test_refused_token(self):
        dom = self.dom("#token=nst_" + "A" * 43)
        self.assertEqual(self.body_state(dom), "token-refused")
        self.assertIn("Token refused", dom)
        self.assertNotRegex(dom, r"<tr\b[^>]*data-device-id=")

    def test_service_admin_token(self):
        # The service-admin token is valid but may not read a tenant.
        dom = self.dom("#token=" + self.svc.admin_token)
        self.assertEqual(self.body_state(dom), "token-forbidden")
        self.assertIn("Token not allowed here", dom)
        self.assertNotRegex(dom, r"<tr\b[^>]*data-device-id=")

    def test_screenshot(self):
        os.makedirs(OUT_DIR, exist_ok=True)
        path = os.path.abspath(os.path.join(OUT_DIR, "dashboard.png"))
        if os.path.exists(path):
            os.unlink(path)
        self.chromium("#token=" + self.token, ["--screenshot=" + path, "--window-size=1280,900",
                                               "--hide-scrollbars"])
        with open(path, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(png), 20000, "the screenshot looks blank")
        print("\ndashboard screenshot: " + path, file=sys.stderr)


def main():
    global SERVICE, NACRE, OUT_DIR, CHROMIUM
    args = sys.argv[1:]
    if "--chromium" in args:
        i = args.index("--chromium")
        CHROMIUM = args[i + 1]
        del args[i:i + 2]
    if len(args) < 3:
        sys.exit("usage: test_dashboard.py NACRE_SERVICE NACRE OUT_DIR [--chromium PATH]")
    SERVICE, NACRE, OUT_DIR = (os.path.abspath(a) for a in args[:3])
    CHROMIUM = CHROMIUM or shutil.which("chromium") or shutil.which("chromium-browser")
    if CHROMIUM is None:
        print("chromium not found: skipped")
        sys.exit(77)
    unittest.main(argv=[sys.argv[0]] + args[3:], verbosity=2)


if __name__ == "__main__":
    main()
