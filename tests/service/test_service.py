"""nacre-service, endpoint by endpoint, against real devices made by the nacre tool.

    python3 test_service.py NACRE-SERVICE NACRE DEVREQ

Tenants and tokens, groups and claims, nonce / attest / certificate, signed
device requests, events and the six threat rules, crash buckets, images,
deployments with staged waves and the automatic halt, update checks,
downloads with Range, install reports, quarantine, restart.
"""
import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import http.client
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import time

import svc_test
from svc_test import (Fleet, ServiceTestCase, device_call, device_id_of, nacre, read_bytes,
                      read_json)


class TestCommandLine(ServiceTestCase):
    def test_help_and_usage_errors(self):
        p = svc_test.run(svc_test.SERVICE, "--help")
        self.assertIn("--data DIR", p.stdout)
        for args in ([], ["--data", self.work], ["--data", self.work, "--listen", "nonsense"],
                     ["--listen", "127.0.0.1:0"], ["--bogus"],
                     ["--data", self.work, "--listen", "127.0.0.1:0", "--tls-cert", "x"]):
            p = svc_test.run(svc_test.SERVICE, *args, check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertTrue(p.stderr.startswith("nacre-service: "), p.stderr)

    def test_port_in_use_is_a_runtime_failure(self):
        p = svc_test.run(svc_test.SERVICE, "--data", os.path.join(self.work, "other"),
                         "--listen", "127.0.0.1:%d" % self.svc.port, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot listen", p.stderr)

    def test_tls(self):
        openssl = shutil.which("openssl")
        if openssl is None:
            self.skipTest("no openssl command to make a server certificate")
        key, cert = os.path.join(self.work, "tls-key.pem"), os.path.join(self.work, "tls.pem")
        svc_test.run(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                     "-days", "1", "-subj", "/CN=127.0.0.1")
        data = os.path.join(self.work, "tls-data")
        p = subprocess.Popen([svc_test.SERVICE, "--data", data, "--listen", "127.0.0.1:0",
                              "--tls-cert", cert, "--tls-key", key],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = p.stdout.readline()
            self.assertIn("https://127.0.0.1:", line)
            port = int(line.split("127.0.0.1:")[1].split()[0])
            ctx = ssl.create_default_context(cafile=cert)
            ctx.check_hostname = False
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
            with open(os.path.join(data, "admin.token")) as f:
                conn.request("GET", "/v1/tenants",
                             headers={"Authorization": "Bearer " + f.read().strip()})
            resp = conn.getresponse()
            self.assertEqual((resp.status, json.loads(resp.read())), (200, {"tenants": []}))
            conn.close()
        finally:
            p.terminate()
            self.assertEqual(p.wait(timeout=20), 0)
            p.stdout.close()
        p = svc_test.run(svc_test.SERVICE, "--data", data, "--listen", "127.0.0.1:0",
                         "--tls-cert", cert, "--tls-key", os.path.join(self.work, "nope"),
                         check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot read", p.stderr)

    def test_data_dir_layout(self):
        mode = os.stat(os.path.join(self.data, "admin.token")).st_mode & 0o777
        self.assertEqual(mode, 0o600)
        with open(os.path.join(self.data, "admin.token")) as f:
            tok = f.read().strip()
        self.assertTrue(tok.startswith("nst_") and len(tok) == 47, tok)
        self.assertTrue(os.path.exists(os.path.join(self.data, "nacre.db")))


class TestTenantsAndTokens(ServiceTestCase):
    def test_tenants(self):
        a = Fleet(self.svc, self.work, "acme")
        self.assertIn("BEGIN CERTIFICATE", a.ca_pem)
        self.assertTrue(os.path.exists(os.path.join(self.data, "tenants", "acme", "ca",
                                                    "ca-cert.pem")))
        self.assertError(self.svc.request("POST", "/v1/tenants",
                                          {"name": "acme", "root_public_key": "00" * 32},
                                          token=self.svc.admin), 409, "exists")
        self.assertError(self.svc.request("POST", "/v1/tenants",
                                          {"name": "Acme!", "root_public_key": "00" * 32},
                                          token=self.svc.admin), 400, "invalid_name")
        self.assertError(self.svc.request("POST", "/v1/tenants",
                                          {"name": "x", "root_public_key": "zz"},
                                          token=self.svc.admin), 400, "invalid_field")
        st, _, body = self.svc.request("GET", "/v1/tenants", token=self.svc.admin)
        self.assertEqual(st, 200)
        self.assertEqual([t["name"] for t in body["tenants"]], ["acme"])
        # The tenant admin cannot manage tenants; the service admin nothing inside one.
        self.assertError(a.req("GET", "/v1/tenants"), 403, "forbidden")
        self.assertError(self.svc.request("GET", "/v1/devices", token=self.svc.admin),
                         403, "forbidden")
        self.assertError(self.svc.request("GET", "/v1/tenants"), 401, "unauthenticated")
        st, _, body = a.req("GET", "/v1/ca")
        self.assertEqual(body["ca_certificate"], a.ca_pem)

    def test_tokens_and_roles(self):
        b = Fleet(self.svc, self.work, "beta")
        st, _, ro = b.req("POST", "/v1/tokens", {"role": "read-only", "label": "dashboard"})
        self.assertEqual(st, 201, ro)
        self.assertEqual(ro["role"], "read-only")
        self.assertEqual(b.req("GET", "/v1/devices", token=ro["token"])[0], 200)
        self.assertError(b.req("POST", "/v1/groups", {"name": "g"}, token=ro["token"]),
                         403, "forbidden")
        self.assertError(b.req("GET", "/v1/tokens", token=ro["token"]), 403, "forbidden")
        st, _, lst = b.req("GET", "/v1/tokens")
        self.assertEqual(st, 200)
        self.assertIn(ro["id"], [t["id"] for t in lst["tokens"]])
        self.assertNotIn("token", lst["tokens"][0])
        self.assertError(b.req("POST", "/v1/tokens", {"role": "service-admin"}), 400,
                         "invalid_field")
        self.assertEqual(b.req("DELETE", "/v1/tokens/%d" % ro["id"])[0], 204)
        self.assertError(b.req("GET", "/v1/devices", token=ro["token"]), 401, "unauthenticated")
        self.assertError(b.req("DELETE", "/v1/tokens/%d" % ro["id"]), 404, "not_found")
        self.assertError(b.req("PATCH", "/v1/groups"), 405, "method_not_allowed")


class TestFleet(ServiceTestCase):
    """One tenant, devices running v1, then a staged update to v2."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        f = cls.f = Fleet(cls.svc, cls.work, "acme")
        cls.v1 = f.image("1.0.0", 1)
        cls.v2 = f.image("1.1.0", 2)
        cls.dev = {}
        for i in range(4):
            cls.dev[i] = f.device("dev%d" % i, cls.v1)
        assert f.req("POST", "/v1/groups", {"name": "field"})[0] == 201
        for i, (d, pk) in cls.dev.items():
            st, _, body = f.req("POST", "/v1/devices", {"device_id_public_key": pk,
                                                        "group": "field", "label": "dev-%d" % i})
            assert st == 201, body
        with open(cls.v1, "rb") as fh:
            st, _, cls.im1 = f.req("POST", "/v1/images", fh.read(),
                                   headers={"Content-Type": "application/octet-stream"})
        assert st == 201, cls.im1
        st, _, cls.dep1 = f.req("POST", "/v1/deployments",
                                {"group": "field", "image_id": cls.im1["image_id"],
                                 "waves": [100], "max_failure_rate": 0.25})
        assert st == 201, cls.dep1

    def id(self_, i):
        return device_id_of(self_.dev[i][1])

    def test_01_claim_and_devices(self):
        f = self.f
        st, _, d = f.req("GET", "/v1/devices/" + self.id(0))
        self.assertEqual(st, 200, d)
        self.assertEqual(d["device_id"], self.id(0))
        self.assertEqual(d["group"], "field")
        self.assertIn(d["state"], ("claimed", "attested"))
        self.assertError(f.req("POST", "/v1/devices", {"device_id_public_key": self.dev[0][1]}),
                         409, "exists")
        other = Fleet(self.svc, self.work, "other")
        self.assertError(other.req("POST", "/v1/devices",
                                   {"device_id_public_key": self.dev[0][1]}), 409, "exists")
        self.assertError(other.req("GET", "/v1/devices/" + self.id(0)), 404, "not_found")
        self.assertError(f.req("POST", "/v1/devices", {"device_id_public_key": "ab" * 32,
                                                       "group": "nosuch"}), 404, "not_found")
        st, _, groups = f.req("GET", "/v1/groups")
        self.assertEqual(groups["groups"], [{"name": "field", "devices": 4}])
        st, _, lst = f.req("GET", "/v1/devices")
        self.assertEqual(len(lst["devices"]), 4)

    def test_02_images(self):
        f = self.f
        im = self.im1
        self.assertEqual(im["version"], "1.0.0")
        self.assertEqual(im["name"], "app")
        self.assertEqual(im["security_counter"], 1)
        self.assertEqual(im["size"], os.path.getsize(self.v1))
        refs = read_json(self.v1[:-4] + ".refs.json")["components"][0]
        self.assertEqual(im["measurement"], refs["measurement"])
        self.assertEqual(im["image_id"], refs["measurement"])
        self.assertEqual(im["signer_id"], refs["signer_id"])
        with open(self.v1, "rb") as fh:
            self.assertError(f.req("POST", "/v1/images", fh.read()), 409, "exists")
        tampered = bytearray(read_bytes(self.v2))
        tampered[-10] ^= 1
        st, _, body = f.req("POST", "/v1/images", bytes(tampered))
        self.assertEqual((st, body["error"]["code"]), (400, "bad_image"), body)
        # Signed by a key that is not the tenant's root.
        nacre("keygen", "--out", os.path.join(self.work, "evil.pem"), "--force")
        evil = f.image("9.9.9", 9, key=os.path.join(self.work, "evil.pem"))
        with open(evil, "rb") as fh:
            self.assertError(f.req("POST", "/v1/images", fh.read()), 400, "bad_image")
        self.assertError(f.req("POST", "/v1/images", b"NIMG"), 400, "bad_image")
        st, _, lst = f.req("GET", "/v1/images")
        self.assertEqual([i["image_id"] for i in lst["images"]], [im["image_id"]])

    def test_03_attest_and_certificate(self):
        f = self.f
        st, body = f.attest(self.dev[0][0], self.id(0))
        self.assertEqual(st, 200, body)
        self.assertIn("BEGIN CERTIFICATE", body["certificate"])
        self.assertEqual(body["ca_certificate"], f.ca_pem)
        self.assertAlmostEqual(body["expires_at"], time.time() + 86400, delta=30)
        ca = os.path.join(self.data, "tenants", "acme", "ca")
        p = nacre("ca", "check", "--ca", ca, self.dev[0][0] + ".cert.pem", check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        st, _, d = f.req("GET", "/v1/devices/" + self.id(0))
        self.assertEqual((d["state"], d["version"]), ("attested", "1.0.0"))
        self.assertEqual(d["certificate_expires_at"], body["expires_at"])
        self.assertEqual(d["flags"], [])
        # The nonce is single use: evidence over a used nonce fails.
        st, _, n = self.svc.request("POST", "/v1/device/nonce", {"device_id": self.id(1)})
        ev = f.evidence(self.dev[1][0], n["nonce"])
        st, _, ok = self.svc.request("POST", "/v1/device/attest",
                                     {"device_id": self.id(1), "evidence": ev})
        self.assertEqual(st, 200, ok)
        with open(self.dev[1][0] + ".cert.pem", "w") as fh:
            fh.write(ok["certificate"])
        st, _, again = self.svc.request("POST", "/v1/device/attest",
                                        {"device_id": self.id(1), "evidence": ev})
        self.assertEqual(st, 403, again)
        self.assertEqual(again["error"]["code"], "attestation_failed")
        self.assertTrue(any("nonce" in x for x in again["failures"]), again)
        # A replay proves nothing about the device: its state is unchanged.
        st, _, d = f.req("GET", "/v1/devices/" + self.id(1))
        self.assertEqual((d["state"], d["flags"]), ("attested", []))
        # Unclaimed devices get no nonce.
        self.assertError(self.svc.request("POST", "/v1/device/nonce", {"device_id": "ab" * 32}),
                         404, "not_found")
        self.assertError(self.svc.request("POST", "/v1/device/nonce", {"device_id": "AB" * 32}),
                         400, "invalid_field")
        # Garbage evidence is refused and changes nothing (anyone could send it).
        st, _, n = self.svc.request("POST", "/v1/device/nonce", {"device_id": self.id(2)})
        st, _, body = self.svc.request("POST", "/v1/device/attest",
                                       {"device_id": self.id(2), "evidence": "AAAA"})
        self.assertEqual((st, body["error"]["code"]), (403, "attestation_failed"))
        st, _, d = f.req("GET", "/v1/devices/" + self.id(2))
        self.assertEqual((d["state"], d["flags"]), ("claimed", []))
        for i in (2, 3):
            self.assertEqual(f.attest(self.dev[i][0], self.id(i))[0], 200)

    def test_04_modified_firmware_fails_attestation(self):
        f = self.f
        mod = f.image("1.0.0", 1, payload="patched on the device\n")
        d, pk = f.device("devmod", mod)
        st, _, _ = f.req("POST", "/v1/devices", {"device_id_public_key": pk, "group": "field"})
        self.assertEqual(st, 201)
        st, body = f.attest(d, device_id_of(pk))
        self.assertEqual((st, body["error"]["code"]), (403, "attestation_failed"), body)
        self.assertIn("measurement", " ".join(body["failures"]))
        self.assertNotIn("certificate", body)
        st, _, dev = f.req("GET", "/v1/devices/" + device_id_of(pk))
        self.assertEqual(dev["state"], "attestation_failed")
        self.assertEqual(dev["flags"], ["attestation_mismatch"])
        st, _, alerts = f.req("GET", "/v1/alerts")
        self.assertIn(("attestation_mismatch", device_id_of(pk)),
                      [(a["rule"], a["device_id"]) for a in alerts["alerts"]])
        # Once per device and rule.
        f.attest(d, device_id_of(pk))
        st, _, alerts = f.req("GET", "/v1/alerts")
        self.assertEqual(sum(a["device_id"] == device_id_of(pk) for a in alerts["alerts"]), 1)
        # Move it out of the group so the rollout below has four devices.
        f.req("POST", "/v1/groups", {"name": "lab"})
        st, _, dev = f.req("PUT", "/v1/devices/" + device_id_of(pk), {"group": "lab"})
        self.assertEqual((st, dev["group"]), (200, "lab"))

    def test_05_signed_requests_and_events(self):
        f = self.f
        d0 = self.dev[0][0]
        st, _, body = device_call(self.svc, d0, "GET", "/v1/device/update")
        self.assertEqual(st, 200, body)
        evs = [{"seq": 1, "time": 1000, "type": "app_start", "app": "00" * 8, "code": 0,
                "addr": 0, "detail": "hello"},
               {"seq": 2, "time": 1001, "type": "connection_denied", "app": "01" * 8,
                "code": 0, "addr": 0, "detail": "evil.example:443"}]
        st, _, body = device_call(self.svc, d0, "POST", "/v1/device/events", {"events": evs})
        self.assertEqual((st, body), (200, {"accepted": 2, "last_seq": 2}))
        # Sent again (the agent did not see the reply): nothing new.
        st, _, body = device_call(self.svc, d0, "POST", "/v1/device/events", {"events": evs})
        self.assertEqual((st, body), (200, {"accepted": 0, "last_seq": 2}))
        st, _, lst = f.req("GET", "/v1/events?device=%s&limit=10" % self.id(0))
        self.assertEqual([e["seq"] for e in lst["events"]], [2, 1])
        self.assertEqual(lst["events"][0]["detail"], "evil.example:443")
        self.assertEqual(lst["events"][0]["device_id"], self.id(0))
        st, _, d = f.req("GET", "/v1/devices/" + self.id(0))
        self.assertIn("connection_outside_manifest", d["flags"])
        self.assertGreater(d["last_seen"], 0)
        # Three refused requests, a rollback, a verify failure; three crashes in 600 s.
        more = [{"seq": 3 + i, "time": 2000 + i, "type": "refused", "code": 1,
                 "detail": "open /etc"} for i in range(3)]
        more += [{"seq": 6, "time": 2100, "type": "rollback", "detail": "1.0.0 < 1.1.0"},
                 {"seq": 7, "time": 2101, "type": "verify_failed", "detail": "bad image"}]
        more += [{"seq": 8 + i, "time": 3000 + 100 * i, "type": "app_crash",
                  "app": "ab" * 8, "code": 11, "addr": 4096} for i in range(3)]
        st, _, body = device_call(self.svc, d0, "POST", "/v1/device/events", {"events": more})
        self.assertEqual((st, body["accepted"], body["last_seq"]), (200, 8, 10))
        st, _, d = f.req("GET", "/v1/devices/" + self.id(0))
        for rule in ("connection_outside_manifest", "capability_violations", "rollback_attempt",
                     "image_refused", "crash_loop"):
            self.assertIn(rule, d["flags"])
        st, _, fails = f.req("GET", "/v1/failures")
        self.assertEqual(len(fails["buckets"]), 1, fails)
        b = fails["buckets"][0]
        self.assertEqual((b["app"], b["signal"], b["version"], b["count"], b["devices"]),
                         ("ab" * 8, 11, "1.0.0", 3, 1))
        self.assertEqual((b["first_seen"], b["last_seen"]), (3000, 3200))
        # Two crashes far apart on another device: no crash loop.
        d1 = self.dev[1][0]
        st, _, body = device_call(self.svc, d1, "POST", "/v1/device/events", {"events": [
            {"seq": 1, "time": 10000, "type": "app_crash", "app": "ab" * 8, "code": 11},
            {"seq": 2, "time": 20000, "type": "app_crash", "app": "ab" * 8, "code": 11},
            {"seq": 3, "time": 30000, "type": "app_crash", "app": "ab" * 8, "code": 11}]})
        self.assertEqual(body["accepted"], 3)
        st, _, d = f.req("GET", "/v1/devices/" + self.id(1))
        self.assertNotIn("crash_loop", d["flags"])
        st, _, s = f.req("GET", "/v1/summary")
        self.assertEqual(s["devices"], 5)
        self.assertGreaterEqual(s["attested"], 4)
        self.assertGreaterEqual(s["flagged"], 2)
        self.assertEqual(s["buckets"], 1)
        self.assertEqual(s["deployments"], 1)
        # Bad event bodies.
        self.assertError(device_call(self.svc, d0, "POST", "/v1/device/events",
                                     {"events": [{"seq": 99, "time": 1, "type": "nope"}]}),
                         400, "invalid_field")
        self.assertError(device_call(self.svc, d0, "POST", "/v1/device/events",
                                     {"events": [{"seq": i, "time": 1, "type": "app_log"}
                                                 for i in range(257)]}), 400, "invalid_field")

    def test_06_staged_rollout(self):
        f = self.f
        with open(self.v2, "rb") as fh:
            st, _, im2 = f.req("POST", "/v1/images", fh.read())
        self.assertEqual(st, 201, im2)
        st, _, dep = f.req("POST", "/v1/deployments", {"group": "field", "image_id":
                                                       im2["image_id"], "waves": [50, 100],
                                                       "max_failure_rate": 0.5})
        self.assertEqual(st, 201, dep)
        self.assertEqual((dep["state"], dep["wave"], dep["version"]), ("rolling", 0, "1.1.0"))
        self.assertEqual(dep["devices"]["total"], 4)
        self.assertEqual(dep["devices"]["offered"], 2)
        st, _, old = f.req("GET", "/v1/deployments/%d" % self.dep1["id"])
        self.assertEqual(old["state"], "cancelled")
        offered, waiting = [], []
        for i in range(4):
            st, _, u = device_call(self.svc, self.dev[i][0], "GET", "/v1/device/update")
            self.assertEqual(st, 200, u)
            (offered if u["update"] else waiting).append(i)
        self.assertEqual((len(offered), len(waiting)), (2, 2))
        a = offered[0]
        st, _, u = device_call(self.svc, self.dev[a][0], "GET", "/v1/device/update")
        u = u["update"]
        self.assertEqual((u["deployment_id"], u["image_id"], u["version"], u["size"]),
                         (dep["id"], im2["image_id"], "1.1.0", os.path.getsize(self.v2)))
        self.assertEqual(u["url"], "/v1/device/images/" + im2["image_id"])
        # Download: whole, ranges, unsatisfiable, not offered.
        data = read_bytes(self.v2)
        st, h, body = device_call(self.svc, self.dev[a][0], "GET", u["url"])
        self.assertEqual((st, body), (200, data))
        st, h, body = device_call(self.svc, self.dev[a][0], "GET", u["url"],
                                  headers={"Range": "bytes=10-99"})
        self.assertEqual((st, body, h["content-range"]), (206, data[10:100],
                                                          "bytes 10-99/%d" % len(data)))
        st, h, body = device_call(self.svc, self.dev[a][0], "GET", u["url"],
                                  headers={"Range": "bytes=100-"})
        self.assertEqual((st, body), (206, data[100:]))
        st, h, body = device_call(self.svc, self.dev[a][0], "GET", u["url"],
                                  headers={"Range": "bytes=-5"})
        self.assertEqual((st, body), (206, data[-5:]))
        st, h, body = device_call(self.svc, self.dev[a][0], "GET", u["url"],
                                  headers={"Range": "bytes=%d-" % len(data)})
        self.assertEqual((st, body["error"]["code"]), (416, "range_not_satisfiable"))
        self.assertEqual(h["content-range"], "bytes */%d" % len(data))
        self.assertError(device_call(self.svc, self.dev[waiting[0]][0], "GET", u["url"]),
                         404, "not_found")
        self.assertError(device_call(self.svc, self.dev[a][0], "GET",
                                     "/v1/device/images/" + self.im1["image_id"]),
                         404, "not_found")
        # Install: the first device confirms; the second confirms too: wave 1 opens.
        for i in offered:
            nacre("device", "install", self.dev[i][0], self.v2)
            nacre("device", "boot", self.dev[i][0])
            nacre("device", "confirm", self.dev[i][0])
            # New firmware, new Alias key: the device attests again before it reports.
            self.assertEqual(f.attest(self.dev[i][0], self.id(i))[0], 200)
            st, _, body = device_call(self.svc, self.dev[i][0], "POST", "/v1/device/install-report",
                                      {"deployment_id": dep["id"], "image_id": im2["image_id"],
                                       "result": "confirmed", "detail": ""})
            self.assertEqual((st, body), (200, {}))
        st, _, dep = f.req("GET", "/v1/deployments/%d" % dep["id"])
        self.assertEqual((dep["state"], dep["wave"]), ("rolling", 1), dep)
        self.assertEqual(dep["devices"]["offered"], 4)
        self.assertEqual(dep["devices"]["confirmed"], 2)
        st, _, d = f.req("GET", "/v1/devices/" + self.id(a))
        self.assertEqual(d["update"], {"deployment_id": dep["id"], "status": "confirmed",
                                       "version": "1.1.0"})
        st, _, d = f.req("GET", "/v1/devices/" + self.id(a))
        self.assertEqual(d["version"], "1.1.0")
        # Wave 1: b confirms, then crashes (a health regression, not an install
        # failure); c has not reported yet, so the wave stays open.
        b, c = waiting
        nacre("device", "install", self.dev[b][0], self.v2)
        nacre("device", "boot", self.dev[b][0])
        nacre("device", "confirm", self.dev[b][0])
        self.assertEqual(f.attest(self.dev[b][0], self.id(b))[0], 200)
        st, _, body = device_call(self.svc, self.dev[b][0], "POST", "/v1/device/install-report",
                                  {"deployment_id": dep["id"], "image_id": im2["image_id"],
                                   "result": "confirmed", "detail": ""})
        self.assertEqual(st, 200, body)
        st, _, body = device_call(self.svc, self.dev[b][0], "POST", "/v1/device/events",
                                  {"events": [{"seq": 100, "time": 50000, "type": "app_crash",
                                               "app": "cd" * 8, "code": 6}]})
        self.assertEqual(st, 200, body)
        st, _, dep = f.req("GET", "/v1/deployments/%d" % dep["id"])
        self.assertEqual((dep["devices"]["crashed"], dep["devices"]["failed"]), (1, 1))
        self.assertEqual(dep["state"], "rolling", dep)  # 1 bad of 4 offered = 0.25 <= 0.5
        st, _, body = device_call(self.svc, self.dev[a][0], "POST", "/v1/device/events",
                                  {"events": [{"seq": 101, "time": 50000, "type": "app_crash",
                                               "app": "cd" * 8, "code": 6}]})
        st, _, dep = f.req("GET", "/v1/deployments/%d" % dep["id"])
        # 2 bad of 4 offered = 0.50: c has not reported and could still keep
        # the wave within bounds, so it stays open.
        self.assertEqual(dep["state"], "rolling", dep)
        st, _, body = device_call(self.svc, self.dev[c][0], "POST", "/v1/device/install-report",
                                  {"deployment_id": dep["id"], "image_id": im2["image_id"],
                                   "result": "failed", "detail": "flash write error"})
        self.assertEqual(st, 200, body)
        st, _, dep = f.req("GET", "/v1/deployments/%d" % dep["id"])
        self.assertEqual(dep["state"], "halted", dep)  # 3 bad of 4 = 0.75 > 0.5
        self.assertIn("wave 1", dep["halt_reason"])
        self.assertIn("0.75", dep["halt_reason"])
        # Halted: nothing offered, until resumed.
        st, _, u = device_call(self.svc, self.dev[b][0], "GET", "/v1/device/update")
        self.assertEqual(u, {"update": None})
        st, _, dep2 = f.req("POST", "/v1/deployments/%d/resume" % dep["id"])
        self.assertEqual(st, 200)
        self.assertEqual(dep2["state"], "halted")  # the rate is still too high: halts again
        st, _, lst = f.req("GET", "/v1/deployments")
        self.assertEqual(len(lst["deployments"]), 2)

    def test_07_refused_downgrade_and_halt_resume(self):
        f = self.f
        f.req("POST", "/v1/groups", {"name": "canary"})
        d, pk = f.device("canary0", self.v2)
        did = device_id_of(pk)
        f.req("POST", "/v1/devices", {"device_id_public_key": pk, "group": "canary"})
        im2 = read_json(self.v2[:-4] + ".refs.json")["components"][0]["measurement"]
        st, _, dep0 = f.req("POST", "/v1/deployments", {"group": "canary", "image_id": im2})
        self.assertEqual(st, 201, dep0)
        down = f.image("0.9.0", 0)
        with open(down, "rb") as fh:
            st, _, imd = f.req("POST", "/v1/images", fh.read())
        self.assertEqual(st, 201, imd)
        st, _, dep = f.req("POST", "/v1/deployments", {"group": "canary",
                                                       "image_id": imd["image_id"]})
        self.assertEqual((st, dep["waves"], dep["max_failure_rate"]), (201, [100], 0.25))
        st, _, dep = f.req("POST", "/v1/deployments/%d/halt" % dep["id"])
        self.assertEqual((dep["state"], dep["halt_reason"]), ("halted", "halted by an operator"))
        st, _, dep = f.req("POST", "/v1/deployments/%d/resume" % dep["id"])
        self.assertEqual((dep["state"], dep["halt_reason"]), ("rolling", None))
        # The device still runs the image of the deployment the new one replaced:
        # those reference values still count, so it attests.
        st, body = f.attest(d, did)
        self.assertEqual(st, 200, body)
        st, _, u = device_call(self.svc, d, "GET", "/v1/device/update")
        self.assertEqual(u["update"]["version"], "0.9.0")
        p = nacre("device", "install", d, down, check=False)
        self.assertNotEqual(p.returncode, 0)
        st, _, body = device_call(self.svc, d, "POST", "/v1/device/install-report",
                                  {"deployment_id": dep["id"], "image_id": imd["image_id"],
                                   "result": "refused", "detail": "downgrade refused: " +
                                   p.stderr.strip()[:100]})
        self.assertEqual(st, 200, body)
        st, _, dv = f.req("GET", "/v1/devices/" + did)
        self.assertIn("image_refused", dv["flags"])
        self.assertIn("rollback_attempt", dv["flags"])
        self.assertEqual(dv["update"]["status"], "refused")
        st, _, dep = f.req("GET", "/v1/deployments/%d" % dep["id"])
        self.assertEqual(dep["state"], "halted", dep)
        self.assertIn("1.00", dep["halt_reason"])
        self.assertError(f.req("POST", "/v1/deployments/%d/halt" % dep0["id"]), 409, "conflict")
        self.assertError(f.req("POST", "/v1/deployments", {"group": "canary",
                                                           "image_id": "00" * 32}),
                         404, "not_found")
        self.assertError(f.req("POST", "/v1/deployments", {"group": "canary",
                                                           "image_id": imd["image_id"],
                                                           "waves": [50, 20]}),
                         400, "invalid_field")
        self.assertError(f.req("POST", "/v1/deployments/999/halt"), 404, "not_found")
        self.assertError(device_call(self.svc, d, "POST", "/v1/device/install-report",
                                     {"deployment_id": dep["id"], "image_id": "00" * 32,
                                      "result": "confirmed"}), 404, "not_found")

    def test_08_quarantine(self):
        f = self.f
        i = 3
        dev_dir = self.dev[i][0]
        self.assertEqual(f.attest(dev_dir, self.id(i))[0], 200)
        old_cert = dev_dir + ".old.pem"
        os.replace(dev_dir + ".cert.pem", old_cert)
        self.assertEqual(f.attest(dev_dir, self.id(i))[0], 200)
        # Issuing a new certificate revoked the old one.
        self.assertError(device_call(self.svc, dev_dir, "GET", "/v1/device/update",
                                     cert=old_cert), 401, "certificate_revoked")
        self.assertEqual(device_call(self.svc, dev_dir, "GET", "/v1/device/update")[0], 200)
        st, _, d = f.req("POST", "/v1/devices/%s/quarantine" % self.id(i),
                         {"reason": "stolen <b>truck</b>"})
        self.assertEqual((st, d["state"], d["quarantined"], d["quarantine_reason"]),
                         (200, "quarantined", True, "stolen <b>truck</b>"))
        self.assertIsNone(d["certificate_expires_at"])
        self.assertError(device_call(self.svc, dev_dir, "GET", "/v1/device/update"), 403,
                         "quarantined")
        st, body = f.attest(dev_dir, self.id(i))
        self.assertEqual((st, body["error"]["code"]), (403, "quarantined"))
        st, _, d = f.req("POST", "/v1/devices/%s/release" % self.id(i))
        self.assertEqual((st, d["quarantined"], d["state"]), (200, False, "claimed"))
        # Its certificates stay revoked: it attests again.
        self.assertError(device_call(self.svc, dev_dir, "GET", "/v1/device/update"), 401,
                         "certificate_revoked")
        self.assertEqual(f.attest(dev_dir, self.id(i))[0], 200)
        self.assertEqual(device_call(self.svc, dev_dir, "GET", "/v1/device/update")[0], 200)

    def test_08b_device_claimed_during_rollout(self):
        """A device that joins a group while a deployment rolls is offered the update."""
        f = self.f
        f.req("POST", "/v1/groups", {"name": "late"})
        im2 = read_json(self.v2[:-4] + ".refs.json")["components"][0]["measurement"]
        first = f.image("1.0.7", 1, payload="late fleet firmware 1.0.7\n" * 100)
        with open(first, "rb") as fh:
            st, _, imf = f.req("POST", "/v1/images", fh.read())
        self.assertEqual(st, 201, imf)
        st, _, dep1 = f.req("POST", "/v1/deployments", {"group": "late",
                                                        "image_id": imf["image_id"]})
        self.assertEqual(st, 201, dep1)
        st, _, dep = f.req("POST", "/v1/deployments", {"group": "late", "image_id": im2})
        self.assertEqual((st, dep["devices"]["total"]), (201, 0), dep)
        d, pk = f.device("late0", first)
        did = device_id_of(pk)
        st, _, body = f.req("POST", "/v1/devices", {"device_id_public_key": pk, "group": "late"})
        self.assertEqual(st, 201, body)
        st, body = f.attest(d, did)
        self.assertEqual(st, 200, body)
        st, _, u = device_call(self.svc, d, "GET", "/v1/device/update")
        self.assertEqual(st, 200, u)
        self.assertIsNotNone(u["update"], u)
        self.assertEqual((u["update"]["deployment_id"], u["update"]["version"]),
                         (dep["id"], "1.1.0"))
        st, _, dep = f.req("GET", "/v1/deployments/%d" % dep["id"])
        self.assertEqual((dep["devices"]["total"], dep["devices"]["offered"]), (1, 1), dep)
        # The device confirms: the deployment is done. A device claimed after
        # that is still offered the group's image.
        nacre("device", "install", d, self.v2)
        nacre("device", "boot", d)
        nacre("device", "confirm", d)
        self.assertEqual(f.attest(d, did)[0], 200)
        st, _, body = device_call(self.svc, d, "POST", "/v1/device/install-report",
                                  {"deployment_id": dep["id"], "image_id": im2,
                                   "result": "confirmed", "detail": ""})
        self.assertEqual(st, 200, body)
        st, _, dep = f.req("GET", "/v1/deployments/%d" % dep["id"])
        self.assertEqual(dep["state"], "done", dep)
        d2, pk2 = f.device("late1", first)
        st, _, body = f.req("POST", "/v1/devices", {"device_id_public_key": pk2, "group": "late"})
        self.assertEqual(st, 201, body)
        self.assertEqual(f.attest(d2, device_id_of(pk2))[0], 200)
        st, _, u = device_call(self.svc, d2, "GET", "/v1/device/update")
        self.assertEqual(st, 200, u)
        self.assertIsNotNone(u["update"], u)
        self.assertEqual(u["update"]["version"], "1.1.0")

    def test_09_restart_keeps_state(self):
        f = self.f
        st, _, before = f.req("GET", "/v1/devices")
        self.assertEqual(self.svc.stop(), 0)
        self.svc.start()
        st, _, after = f.req("GET", "/v1/devices")
        self.assertEqual(st, 200)
        strip = lambda ds: [{k: v for k, v in d.items() if k != "last_seen"} for d in ds]
        self.assertEqual(strip(before["devices"]), strip(after["devices"]))
        st, _, dl = f.req("GET", "/v1/deployments")
        self.assertEqual(len(dl["deployments"]), 6)
        # Certificates survive; requests signed before the restart do not.
        self.assertEqual(device_call(self.svc, self.dev[3][0], "GET", "/v1/device/update")[0],
                         200)
        self.assertError(device_call(self.svc, self.dev[3][0], "GET", "/v1/device/update",
                                     created=int(time.time()) - 5), 401, "stale_request")
        db = sqlite3.connect(os.path.join(self.data, "nacre.db"))
        n = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        db.close()
        self.assertGreaterEqual(n, 13)


if __name__ == "__main__":
    svc_test.main()
