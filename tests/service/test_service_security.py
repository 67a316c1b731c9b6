"""nacre-service under attack and bad input.

    python3 test_service_security.py NACRE-SERVICE NACRE DEVREQ

Tokens and tenant isolation, signed-request forgeries (other CA, expired,
revoked, replayed, stale, tampered body or signature, wrong keyid),
malformed JSON, oversized bodies (413), a slow client, injection attempts
in every string field, and kill -9 under load: every event the service
acknowledged is in the database after the restart.
"""
import base64
import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import os
import signal
import socket
import sqlite3
import threading
import time
import urllib.parse

import svc_test
from svc_test import (Fleet, ServiceTestCase, device_call, device_id_of, nacre,
                      signed_headers)

INJECTIONS = [
    "'; DROP TABLE devices; --",
    "\" OR \"1\"=\"1",
    "Robert'); DELETE FROM tokens WHERE ('a'='a",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "%00%27%22",
    "\\u0000 not a NUL",
    "ünïcødé ✓",
]


class TestSecurity(ServiceTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        f = cls.f = Fleet(cls.svc, cls.work, "acme")
        cls.g = Fleet(cls.svc, cls.work, "globex")
        cls.v1 = f.image("1.0.0", 1)
        f.req("POST", "/v1/groups", {"name": "field"})
        with open(cls.v1, "rb") as fh:
            st, _, cls.im = f.req("POST", "/v1/images", fh.read())
        assert st == 201, cls.im
        st, _, dep = f.req("POST", "/v1/deployments", {"group": "field",
                                                       "image_id": cls.im["image_id"]})
        assert st == 201, dep
        cls.d, pk = f.device("dev", cls.v1)
        cls.did = device_id_of(pk)
        cls.pk = pk
        assert f.req("POST", "/v1/devices", {"device_id_public_key": pk, "group": "field"})[0] == 201
        st, body = f.attest(cls.d, cls.did)
        assert st == 200, body
        cls.cert = cls.d + ".cert.pem"

    def assertServing(self):
        self.assertTrue(self.svc.alive())
        self.assertEqual(self.f.req("GET", "/v1/summary")[0], 200)

    def test_tokens_and_isolation(self):
        f, g = self.f, self.g
        for tok in (None, "", "nst_", "nst_" + "A" * 43, "Basic abc", g.token + "x"):
            h = {"Authorization": tok} if tok is not None and not tok.startswith("nst") else None
            st, _, body = self.svc.request("GET", "/v1/devices", headers=h,
                                           token=tok if tok and tok.startswith("nst") else None)
            self.assertEqual((st, body["error"]["code"]), (401, "unauthenticated"), tok)
        path = "/v1/devices/" + self.did
        self.assertError(g.req("GET", path), 404, "not_found")
        self.assertError(g.req("PUT", path, {"group": "field"}), 404, "not_found")
        self.assertError(g.req("POST", path + "/quarantine", {"reason": "x"}), 404, "not_found")
        self.assertError(g.req("POST", path + "/release"), 404, "not_found")
        self.assertError(g.req("GET", "/v1/events?device=" + self.did), 404, "not_found")
        dep = f.req("GET", "/v1/deployments")[2]["deployments"][0]["id"]
        self.assertError(g.req("GET", "/v1/deployments/%d" % dep), 404, "not_found")
        self.assertError(g.req("POST", "/v1/deployments/%d/halt" % dep), 404, "not_found")
        self.assertError(g.req("POST", "/v1/deployments", {"group": "field",
                                                           "image_id": self.im["image_id"]}),
                         404, "not_found")
        self.assertEqual(g.req("GET", "/v1/devices")[2], {"devices": []})
        self.assertEqual(g.req("GET", "/v1/images")[2], {"images": []})
        self.assertEqual(g.req("GET", "/v1/alerts")[2], {"alerts": []})
        st, _, ro = f.req("POST", "/v1/tokens", {"role": "read-only", "label": "ro"})
        for method, p, body in (("POST", "/v1/groups", {"name": "x"}),
                                ("PUT", path, {"group": "field"}),
                                ("POST", path + "/quarantine", {}),
                                ("POST", "/v1/devices", {"device_id_public_key": "ab" * 32}),
                                ("POST", "/v1/images", b"x"),
                                ("DELETE", "/v1/tokens/1", None)):
            self.assertError(f.req(method, p, body, token=ro["token"]), 403, "forbidden")
        # Another tenant's token id cannot be deleted.
        st, _, gt = g.req("POST", "/v1/tokens", {"role": "admin"})
        self.assertError(f.req("DELETE", "/v1/tokens/%d" % gt["id"]), 404, "not_found")
        self.assertEqual(g.req("GET", "/v1/devices", token=gt["token"])[0], 200)

    def test_signed_request_forgeries(self):
        svc, d = self.svc, self.d
        self.assertEqual(device_call(svc, d, "GET", "/v1/device/update")[0], 200)
        # No headers at all / one missing.
        self.assertError(svc.request("GET", "/v1/device/update"), 401, "bad_signature")
        h = signed_headers(d, "GET", "/v1/device/update")
        del h["Content-Digest"]
        self.assertError(svc.request("GET", "/v1/device/update", headers=h), 401, "bad_signature")
        # Replayed: the same signed request twice.
        h = signed_headers(d, "GET", "/v1/device/update")
        self.assertEqual(svc.request("GET", "/v1/device/update", headers=h)[0], 200)
        self.assertError(svc.request("GET", "/v1/device/update", headers=h), 401, "replayed")
        # Stale: created 1000 s ago / in the future; Date far off.
        now = int(time.time())
        self.assertError(device_call(svc, d, "GET", "/v1/device/update", created=now - 1000),
                         401, "stale_request")
        self.assertError(device_call(svc, d, "GET", "/v1/device/update", created=now + 1000),
                         401, "stale_request")
        self.assertError(device_call(svc, d, "GET", "/v1/device/update", date=now - 1000),
                         401, "stale_request")
        # Tampered body: Content-Digest no longer matches.
        body = json.dumps({"events": []}).encode()
        h = signed_headers(d, "POST", "/v1/device/events", body)
        h["Content-Type"] = "application/json"
        self.assertError(svc.request("POST", "/v1/device/events", b'{"events": [ ]}', headers=h),
                         401, "bad_signature")
        # Signed for another path.
        h = signed_headers(d, "GET", "/v1/device/update")
        self.assertError(svc.request("GET", "/v1/device/images/" + "ab" * 32, headers=h),
                         401, "bad_signature")
        # A flipped signature bit.
        h = signed_headers(d, "GET", "/v1/device/update")
        sig = bytearray(base64.b64decode(h["Signature"][len("nacre=:"):-1]))
        sig[0] ^= 1
        h["Signature"] = "nacre=:" + base64.b64encode(bytes(sig)).decode() + ":"
        self.assertError(svc.request("GET", "/v1/device/update", headers=h), 401, "bad_signature")
        # keyid of another device.
        self.assertError(device_call(svc, d, "GET", "/v1/device/update", keyid="ab" * 32),
                         401, "bad_signature")
        # Query strings are not part of the profile.
        h = signed_headers(d, "GET", "/v1/device/update")
        self.assertError(svc.request("GET", "/v1/device/update?x=1", headers=h), 401,
                         "bad_signature")
        # Garbage Client-Cert.
        h = signed_headers(d, "GET", "/v1/device/update")
        h["Client-Cert"] = ":" + base64.b64encode(b"not a certificate").decode() + ":"
        self.assertError(svc.request("GET", "/v1/device/update", headers=h), 401,
                         "bad_certificate")
        self.assertServing()

    def _evidence_and_refs(self):
        nonce = "11" * 32
        ev = self.d + ".local.evidence"
        nacre("device", "attest", self.d, "--nonce", nonce, "--out", ev)
        return nonce, ev, self.v1[:-4] + ".refs.json", self.d + ".pub.pem"

    def test_other_ca_and_expired_certificates(self):
        nonce, ev, refs, pub = self._evidence_and_refs()
        # A certificate of the right device from a CA that is not the tenant's.
        other_ca = os.path.join(self.work, "rogue-ca")
        nacre("ca", "init", other_ca, "--tenant", "acme")
        rogue = os.path.join(self.work, "rogue.pem")
        nacre("ca", "issue", "--ca", other_ca, "--evidence", ev, "--nonce", nonce,
              "--device-pub", pub, "--refs", refs, "--out", rogue)
        self.assertError(device_call(self.svc, self.d, "GET", "/v1/device/update", cert=rogue),
                         401, "bad_certificate")
        # The other tenant's CA.
        gca = os.path.join(self.data, "tenants", "globex", "ca")
        gcert = os.path.join(self.work, "globex-cert.pem")
        nacre("ca", "issue", "--ca", gca, "--evidence", ev, "--nonce", nonce,
              "--device-pub", pub, "--refs", refs, "--out", gcert)
        self.assertError(device_call(self.svc, self.d, "GET", "/v1/device/update", cert=gcert),
                         401, "bad_certificate")
        # The tenant's own CA, but issued two days ago: expired. (A tenant whose
        # CA was made three days ago: the service reuses a CA it finds.)
        past = int(time.time()) - 3 * 86400
        dca = os.path.join(self.data, "tenants", "delta", "ca")
        os.makedirs(os.path.dirname(dca), mode=0o700)
        svc_test.run(svc_test.DEVREQ, "--ca-init", dca, "delta", past)
        delta = Fleet(self.svc, self.work, "delta")
        delta.req("POST", "/v1/groups", {"name": "g"})
        img = delta.image("1.0.0", 1)
        with open(img, "rb") as fh:
            st, _, im = delta.req("POST", "/v1/images", fh.read())
        delta.req("POST", "/v1/deployments", {"group": "g", "image_id": im["image_id"]})
        dd, dpk = delta.device("delta-dev", img)
        delta.req("POST", "/v1/devices", {"device_id_public_key": dpk, "group": "g"})
        self.assertEqual(delta.attest(dd, device_id_of(dpk))[0], 200)
        self.assertEqual(device_call(self.svc, dd, "GET", "/v1/device/update")[0], 200)
        nacre("device", "attest", dd, "--nonce", nonce, "--out", dd + ".ev")
        old = os.path.join(self.work, "expired.pem")
        nacre("ca", "issue", "--ca", dca, "--evidence", dd + ".ev", "--nonce", nonce,
              "--device-pub", dd + ".pub.pem", "--refs", img[:-4] + ".refs.json", "--out", old,
              "--now", str(past + 3600))
        self.assertError(device_call(self.svc, dd, "GET", "/v1/device/update", cert=old),
                         401, "certificate_expired")
        # Valid, from the right CA, but never issued by the service: revoked.
        aca = os.path.join(self.data, "tenants", "acme", "ca")
        fresh = os.path.join(self.work, "unissued.pem")
        nacre("ca", "issue", "--ca", aca, "--evidence", ev, "--nonce", nonce, "--device-pub",
              pub, "--refs", refs, "--out", fresh)
        self.assertError(device_call(self.svc, self.d, "GET", "/v1/device/update", cert=fresh),
                         401, "certificate_revoked")
        self.assertEqual(device_call(self.svc, self.d, "GET", "/v1/device/update")[0], 200)

    def test_malformed_json_and_fields(self):
        f = self.f
        for path in ("/v1/groups", "/v1/devices", "/v1/deployments", "/v1/tokens"):
            for body in (b"", b"{", b"[]", b"null", b'{"a":1,"a":2}', b"\xff\xfe", b'"x"'):
                st, _, resp = f.req("POST", path, body)
                self.assertEqual(st, 400, (path, body, resp))
                self.assertIn(resp["error"]["code"], ("malformed_json",), (path, body))
        for path in ("/v1/device/nonce", "/v1/device/attest"):
            self.assertError(self.svc.request("POST", path, b"{nope"), 400, "malformed_json")
        self.assertError(self.svc.request("POST", "/v1/device/attest",
                                          {"device_id": self.did, "evidence": "!!"}),
                         400, "invalid_field")
        self.assertError(f.req("POST", "/v1/devices", {"device_id_public_key": 5}), 400,
                         "invalid_field")
        self.assertError(f.req("POST", "/v1/deployments", {"group": "field",
                                                           "image_id": self.im["image_id"],
                                                           "max_failure_rate": 2}),
                         400, "invalid_field")
        self.assertError(f.req("GET", "/v1/events?limit=abc"), 400, "invalid_field")
        self.assertError(device_call(self.svc, self.d, "POST", "/v1/device/events", b"{x"),
                         400, "malformed_json")
        self.assertError(f.req("GET", "/v1/nothing"), 404, "not_found")
        self.assertError(self.svc.request("GET", "/v1/device/nothing"), 404, "not_found")
        self.assertError(self.svc.request("GET", "/v1/device/nonce"), 405, "method_not_allowed")
        self.assertServing()

    def test_too_large(self):
        f = self.f
        big = b'{"name": "' + b"a" * (70 * 1024) + b'"}'
        self.assertError(f.req("POST", "/v1/groups", big), 413, "too_large")
        self.assertError(self.svc.request("POST", "/v1/device/attest", big), 413, "too_large")
        # An image over 16 MiB, announced: refused before the body is read.
        s = socket.create_connection(("127.0.0.1", self.svc.port), timeout=10)
        s.sendall(b"POST /v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  f.token.encode() + b"\r\nContent-Length: %d\r\n\r\n" % (17 * 1024 * 1024))
        reply = s.recv(4096)
        s.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply)
        # Chunked, no length: refused once it passes the limit.
        s = socket.create_connection(("127.0.0.1", self.svc.port), timeout=10)
        s.sendall(b"POST /v1/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  f.token.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        reply = b""
        try:
            for _ in range(40):
                s.sendall(b"1000\r\n" + b"a" * 4096 + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        try:
            reply = s.recv(4096)
        except OSError:
            pass
        s.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply)
        self.assertServing()

    def test_slow_client_is_dropped(self):
        s = socket.create_connection(("127.0.0.1", self.svc.port), timeout=30)
        s.sendall(b"POST /v1/groups HTTP/1.1\r\nHost: x\r\nContent-Len")
        t0 = time.time()
        self.assertServing()  # others are served meanwhile
        data = s.recv(100)  # blocks until the service drops it
        elapsed = time.time() - t0
        s.close()
        self.assertEqual(data, b"")
        self.assertGreater(elapsed, 5)
        self.assertLess(elapsed, 20)
        self.assertServing()

    def test_injection_in_every_string_field(self):
        f = self.f
        for i, text in enumerate(INJECTIONS):
            # Names are refused, never interpreted.
            self.assertError(f.req("POST", "/v1/groups", {"name": text}), 400, "invalid_name")
            self.assertError(self.svc.request("POST", "/v1/tenants",
                                              {"name": text, "root_public_key": "00" * 32},
                                              token=self.svc.admin), 400, "invalid_name")
            # Free text is stored and returned verbatim.
            st, _, tok = f.req("POST", "/v1/tokens", {"role": "read-only", "label": text})
            self.assertEqual((st, tok["label"]), (201, text))
            pk = "%02x" % (i + 1) * 32
            st, _, d = f.req("POST", "/v1/devices", {"device_id_public_key": pk, "label": text})
            self.assertEqual((st, d["label"]), (201, text), d)
            st, _, d = f.req("POST", "/v1/devices/%s/quarantine" % d["device_id"],
                             {"reason": text})
            self.assertEqual(d["quarantine_reason"], text)
            # Ids in paths and queries.
            for path in ("/v1/devices/" + text, "/v1/deployments/" + text,
                         "/v1/events?device=" + text):
                st, _, body = f.req("GET", urllib.parse.quote(path, safe="/?="))
                self.assertIn(st, (400, 404), (path, body))
        # A NUL inside a JSON string is refused everywhere.
        for path, body in (("/v1/tokens", {"role": "admin", "label": "a\u0000b"}),
                           ("/v1/groups", {"name": "a\u0000b"}),
                           ("/v1/devices", {"device_id_public_key": "cd" * 32,
                                            "label": "x\u0000"})):
            st, _, resp = f.req("POST", path, body)
            self.assertEqual(st, 400, (path, resp))
        st, _, resp = device_call(self.svc, self.d, "POST", "/v1/device/events", {"events": [
            {"seq": 1000 + i, "time": 1, "type": "app_log", "detail": t[:64]}
            for i, t in enumerate(INJECTIONS)]})
        self.assertEqual((st, resp["accepted"]), (200, len(INJECTIONS)), resp)
        st, _, evs = f.req("GET", "/v1/events?device=%s&limit=100" % self.did)
        self.assertEqual(sorted(e["detail"] for e in evs["events"] if e["seq"] >= 1000),
                         sorted(t[:64] for t in INJECTIONS))
        st, _, resp = device_call(self.svc, self.d, "POST", "/v1/device/events", {"events": [
            {"seq": 5000, "time": 1, "type": "app_log", "detail": "a\u0000b"}]})
        self.assertEqual(st, 400, resp)
        # Every table is still there and the tenant still sees its things.
        db = sqlite3.connect(os.path.join(self.data, "nacre.db"))
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        db.close()
        self.assertTrue({"devices", "tokens", "tenants", "events"} <= tables, tables)
        self.assertEqual(f.req("GET", "/v1/devices/" + self.did)[0], 200)
        self.assertServing()

    def test_zz_kill9_under_load_keeps_acknowledged_events(self):
        svc, d = self.svc, self.d
        # Sign the uploads first (devreq is a process per request).
        batches = []
        for b in range(30):
            body = json.dumps({"events": [{"seq": 10000 + b * 10 + k, "time": 100,
                                           "type": "app_log", "detail": "load"}
                                          for k in range(10)]}).encode()
            h = signed_headers(d, "POST", "/v1/device/events", body)
            h["Content-Type"] = "application/json"
            batches.append((body, h))
        acked = []
        lock = threading.Lock()

        def sender(items):
            for body, h in items:
                try:
                    st, _, resp = svc.request("POST", "/v1/device/events", body, headers=h,
                                              timeout=5)
                except OSError:
                    continue
                if st == 200:
                    with lock:
                        acked.extend(json.loads(body)["events"])
                time.sleep(0.005)

        threads = [threading.Thread(target=sender, args=(batches[i::3],)) for i in range(3)]
        for t in threads:
            t.start()
        deadline = time.time() + 10
        while time.time() < deadline:  # kill it mid-stream, once some were acknowledged
            with lock:
                if len(acked) >= 50:
                    break
            time.sleep(0.002)
        svc.stop(signal.SIGKILL)
        for t in threads:
            t.join()
        svc.start()
        db = sqlite3.connect(os.path.join(self.data, "nacre.db"))
        stored = {r[0] for r in db.execute("SELECT seq FROM events WHERE device_id = ?",
                                           (self.did,))}
        db.close()
        self.assertGreaterEqual(len(acked), 50)
        missing = [e["seq"] for e in acked if e["seq"] not in stored]
        self.assertEqual(missing, [])
        self.assertServing()


class _OneGroupFleet(ServiceTestCase):
    """A tenant, group "field" with image 1.0.0 deployed, and two claimed devices."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        f = cls.f = Fleet(cls.svc, cls.work, "acme")
        cls.v1 = f.image("1.0.0", 1)
        f.req("POST", "/v1/groups", {"name": "field"})
        f.req("POST", "/v1/groups", {"name": "lab"})
        with open(cls.v1, "rb") as fh:
            st, _, cls.im = f.req("POST", "/v1/images", fh.read())
        assert st == 201, cls.im
        st, _, cls.dep = f.req("POST", "/v1/deployments", {"group": "field",
                                                           "image_id": cls.im["image_id"]})
        assert st == 201, cls.dep
        cls.devs = []
        for name in ("a", "b"):
            d, pk = f.device("dev-" + name, cls.v1)
            assert f.req("POST", "/v1/devices", {"device_id_public_key": pk,
                                                 "group": "field"})[0] == 201
            cls.devs.append((d, device_id_of(pk)))

    def nonce(self, did):
        st, _, body = self.svc.request("POST", "/v1/device/nonce", {"device_id": did})
        self.assertEqual(st, 200, body)
        return body["nonce"]

    def attest_with(self, dev, did, nonce):
        ev = self.f.evidence(dev, nonce)
        resp = self.svc.request("POST", "/v1/device/attest", {"device_id": did, "evidence": ev})
        if resp[0] == 200:
            with open(dev + ".cert.pem", "w") as fh:
                fh.write(resp[2]["certificate"])
        return resp

    def assertAttestFails(self, resp, failure):
        st, _, body = resp
        self.assertEqual((st, body["error"]["code"]), (403, "attestation_failed"), body)
        self.assertIn(failure, body["failures"])


class TestNonces(_OneGroupFleet):
    """Stateless, MAC'd attestation nonces (docs/service-api.md)."""

    def test_flooding_nonces_does_not_stop_attestation(self):
        (da, a), (db, b) = self.devs
        first = self.nonce(a)
        # Anyone can ask for nonces for a known device id, as often as they like.
        flood = [self.nonce(a) for _ in range(300)]
        self.assertEqual(len(set(flood + [first])), 301)
        st, _, body = self.attest_with(da, a, first)
        self.assertEqual(st, 200, body)
        st, _, body = self.attest_with(da, a, flood[150])
        self.assertEqual(st, 200, body)
        st, _, d = self.f.req("GET", "/v1/devices/" + a)
        self.assertEqual(d["state"], "attested")

    def test_nonce_is_bound_to_its_device(self):
        (da, a), (db, b) = self.devs
        na = self.nonce(a)
        # Device b's genuine evidence over a nonce issued for device a.
        self.assertAttestFails(self.attest_with(db, b, na), "wrong nonce")
        st, _, d = self.f.req("GET", "/v1/devices/" + b)
        self.assertEqual((d["state"], d["flags"]), ("claimed", []))
        # The nonce was not used up by the failed attempt: device a can still use it.
        self.assertEqual(self.attest_with(da, a, na)[0], 200)

    def test_reuse_is_refused(self):
        (da, a), _ = self.devs
        ev = self.f.evidence(da, self.nonce(a))
        req = {"device_id": a, "evidence": ev}
        self.assertEqual(self.svc.request("POST", "/v1/device/attest", req)[0], 200)
        self.assertAttestFails(self.svc.request("POST", "/v1/device/attest", req), "nonce reused")

    def test_forged_and_tampered_nonces(self):
        (da, a), _ = self.devs
        n = bytearray(bytes.fromhex(self.nonce(a)))
        n[15] ^= 1  # a later expiry: the MAC no longer matches
        self.assertAttestFails(self.attest_with(da, a, n.hex()), "wrong nonce")
        self.assertAttestFails(self.attest_with(da, a, "22" * 32), "wrong nonce")
        self.assertAttestFails(self.attest_with(da, a, "33" * 16), "wrong nonce")
        st, _, d = self.f.req("GET", "/v1/devices/" + a)
        self.assertEqual(d["flags"], [])

    def test_nonces_do_not_survive_a_restart(self):
        (da, a), _ = self.devs
        n = self.nonce(a)
        self.svc.stop()
        self.svc.start()
        self.assertAttestFails(self.attest_with(da, a, n), "wrong nonce")
        self.assertEqual(self.attest_with(da, a, self.nonce(a))[0], 200)


class TestNonceExpiry(_OneGroupFleet):
    SERVICE_ARGS = ("--nonce-ttl", "1")

    def test_expired_nonce_is_refused(self):
        (da, a), _ = self.devs
        n = self.nonce(a)
        time.sleep(2.2)
        self.assertAttestFails(self.attest_with(da, a, n), "nonce expired")
        st, _, d = self.f.req("GET", "/v1/devices/" + a)
        self.assertEqual((d["state"], d["flags"]), ("claimed", []))


class TestUsedNoncesFull(_OneGroupFleet):
    SERVICE_ARGS = ("--nonces-used-max", "1")

    def test_full_used_nonce_set_refuses_with_503(self):
        (da, a), (db, b) = self.devs
        self.assertEqual(self.attest_with(da, a, self.nonce(a))[0], 200)
        st, h, body = self.attest_with(db, b, self.nonce(b))
        self.assertEqual((st, body["error"]["code"]), (503, "busy"), body)
        self.assertTrue(1 <= int(h["retry-after"]) <= 120, h)
        st, _, d = self.f.req("GET", "/v1/devices/" + b)
        self.assertEqual(d["state"], "claimed")


class TestReplayCacheFull(_OneGroupFleet):
    SERVICE_ARGS = ("--replay-max", "3")

    def test_full_replay_cache_refuses_with_503_and_forgets_nothing(self):
        (da, a), _ = self.devs
        self.assertEqual(self.attest_with(da, a, self.nonce(a))[0], 200)
        first = signed_headers(da, "GET", "/v1/device/update")
        self.assertEqual(self.svc.request("GET", "/v1/device/update", headers=first)[0], 200)
        for _ in range(2):
            self.assertEqual(device_call(self.svc, da, "GET", "/v1/device/update")[0], 200)
        st, h, body = device_call(self.svc, da, "GET", "/v1/device/update")
        self.assertEqual((st, body["error"]["code"]), (503, "busy"), body)
        self.assertTrue(1 <= int(h["retry-after"]) <= 1200, h)
        # Full is no reason to forget: a replay is still recognised.
        self.assertError(self.svc.request("GET", "/v1/device/update", headers=first), 401,
                         "replayed")


class TestUpdateViewInvalidation(_OneGroupFleet):
    """Update checks are answered from memory; every change takes effect at once."""

    def update(self, dev):
        st, _, body = device_call(self.svc, dev, "GET", "/v1/device/update")
        self.assertEqual(st, 200, body)
        return body["update"]

    def test_every_change_is_seen_by_the_next_update_check(self):
        f = self.f
        (da, a), _ = self.devs
        self.assertEqual(self.attest_with(da, a, self.nonce(a))[0], 200)
        dep = self.dep["id"]
        for _ in range(3):  # served from the view after the first
            self.assertEqual(self.update(da)["deployment_id"], dep)
        f.req("POST", "/v1/deployments/%d/halt" % dep)
        self.assertIsNone(self.update(da))
        f.req("POST", "/v1/deployments/%d/resume" % dep)
        self.assertEqual(self.update(da)["deployment_id"], dep)
        # Group changes.
        self.assertEqual(f.req("PUT", "/v1/devices/" + a, {"group": "lab"})[0], 200)
        self.assertIsNone(self.update(da))
        self.assertEqual(f.req("PUT", "/v1/devices/" + a, {"group": "field"})[0], 200)
        self.assertEqual(self.update(da)["deployment_id"], dep)
        # A new deployment replaces the offer.
        v2 = f.image("1.1.0", 2)
        with open(v2, "rb") as fh:
            st, _, im2 = f.req("POST", "/v1/images", fh.read())
        st, _, dep2 = f.req("POST", "/v1/deployments", {"group": "field",
                                                        "image_id": im2["image_id"]})
        self.assertEqual(st, 201, dep2)
        u = self.update(da)
        self.assertEqual((u["deployment_id"], u["version"]), (dep2["id"], "1.1.0"))
        # Reporting on the offer ends it.
        st, _, _ = device_call(self.svc, da, "POST", "/v1/device/install-report",
                               {"deployment_id": dep2["id"], "image_id": im2["image_id"],
                                "result": "confirmed", "detail": ""})
        self.assertEqual(st, 200)
        self.assertIsNone(self.update(da))
        # Quarantine, release (the certificate stays revoked), re-attestation revokes.
        old = da + ".old.cert.pem"
        with open(da + ".cert.pem") as src, open(old, "w") as dst:
            dst.write(src.read())
        f.req("POST", "/v1/devices/%s/quarantine" % a, {"reason": "test"})
        self.assertError(device_call(self.svc, da, "GET", "/v1/device/update"), 403,
                         "quarantined")
        self.assertEqual(f.req("POST", "/v1/devices/%s/release" % a)[0], 200)
        self.assertError(device_call(self.svc, da, "GET", "/v1/device/update"), 401,
                         "certificate_revoked")
        st, _, body = self.attest_with(da, a, self.nonce(a))
        self.assertEqual(st, 200, body)
        self.assertIsNone(self.update(da))
        self.assertError(device_call(self.svc, da, "GET", "/v1/device/update", cert=old), 401,
                         "certificate_revoked")


if __name__ == "__main__":
    svc_test.main()
