"""The device agent, 'nacre svc' and 'nacre fleet run' against the REAL
nacre-service (standard library only).

Run by meson as:
    python3 test_agent.py PATH/TO/nacre PATH/TO/nacre-service [--openssl PATH]

One service (a fresh data directory, a free port on 127.0.0.1) is shared by
the tests of this file, which run in order (test_1_..., test_2_...): a tenant
and tokens made with 'nacre svc', devices provisioned and claimed, v1
deployed and attested, v2 rolled out, a tampered download refused, a revert
reported, the service down and back, certificate renewal, an interrupted
download resumed, a quarantine, a refused downgrade, and a fleet run.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

NACRE = None
SERVICE = None
OPENSSL = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def events_of(stdout):
    """The JSON lines of 'agent run --json': progress events and cycle objects."""
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


class Service:
    """A nacre-service process on a data directory and a port."""

    def __init__(self, data, port):
        self.data = data
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.proc = None
        self.log = os.path.join(os.path.dirname(data), "service-%d.log" % port)

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [SERVICE, "--data", self.data, "--listen", "127.0.0.1:%d" % self.port],
            stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nacre-service exited with %d; log:\n%s"
                                   % (self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nacre-service did not listen on %d" % self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def read_log(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""


class AgentTest(unittest.TestCase):
    tmp = None
    svc = None

    # ---- shared fixture ------------------------------------------------------------------

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="nacre-agent-")
        cls.svc = Service(os.path.join(cls.tmp, "data"), free_port())
        cls.svc.start()
        cls.root = cls.p("root.pem")
        cls.root_pub = cls.p("root.pub.pem")
        cls.run_ok(["keygen", "--out", cls.root, "--pub", cls.root_pub])
        # v1 and v2 of the firmware: 200 KB payloads, so that a download
        # takes a dozen 16 KiB Range requests.
        for version, counter in (("1.0.0", 1), ("2.0.0", 2)):
            payload = cls.p("fw-%s.bin" % version)
            with open(payload, "wb") as f:
                f.write(os.urandom(200 * 1024))
            cls.run_ok(["image", "sign", "--key", cls.root, "--version", version,
                        "--counter", str(counter), "--component", "firmware", payload,
                        cls.p("v%s.img" % version[0])])
        cls.v1 = cls.p("v1.img")
        cls.v2 = cls.p("v2.img")
        cls.admin_token_file = os.path.join(cls.svc.data, "admin.token")

    @classmethod
    def tearDownClass(cls):
        if cls.svc is not None:
            cls.svc.stop()
        if cls.tmp is not None:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def p(cls, *names):
        return os.path.join(cls.tmp, *names)

    @classmethod
    def nacre_run(cls, args, timeout=60, env=None):
        full_env = dict(os.environ)
        full_env.pop("NACRE_POWER_CUT_AFTER", None)
        full_env.pop("NACRE_SERVICE", None)
        full_env.pop("NACRE_TOKEN", None)
        if env:
            full_env.update(env)
        return subprocess.run([NACRE] + [str(a) for a in args], capture_output=True,
                              text=True, timeout=timeout, env=full_env)

    @classmethod
    def run_ok(cls, args, timeout=60):
        res = cls.nacre_run(args, timeout=timeout)
        if res.returncode != 0:
            raise AssertionError("nacre %s: exit %d\nstdout: %s\nstderr: %s\nservice log:\n%s"
                                 % (" ".join(map(str, args)), res.returncode, res.stdout,
                                    res.stderr, cls.svc.read_log() if cls.svc else ""))
        return res

    def check_run(self, args, expect=0, timeout=60):
        res = self.nacre_run(args, timeout=timeout)
        self.assertGreaterEqual(res.returncode, 0, "nacre crashed: %s" % res.stderr)
        self.assertEqual(res.returncode, expect,
                         "nacre %s: exit %d, wanted %d\nstdout: %s\nstderr: %s\nservice log:\n%s"
                         % (" ".join(map(str, args)), res.returncode, expect, res.stdout,
                            res.stderr, self.svc.read_log()))
        if expect == 0 and args[0] != "fleet":
            # A success leaves stderr empty (no warnings, no sanitizer reports);
            # 'fleet run' writes its progress there.
            self.assertEqual(res.stderr, "", "nacre %s wrote to stderr" % " ".join(map(str, args)))
        elif expect == 1:
            self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
            self.assertTrue(res.stderr.startswith("nacre: "), res.stderr)
        return res

    def svc_cmd(self, *args, token=None, expect=0):
        """nacre svc ... --service URL --token T --json -> the service's JSON."""
        full = ["svc"] + list(args) + ["--service", self.svc.url, "--json"]
        if token is not None:
            full += ["--token", token]
        res = self.check_run(full, expect=expect)
        return json.loads(res.stdout) if expect == 0 else res

    def admin(self, *args, expect=0):
        return self.svc_cmd(*args, token=AgentTest.tenant_token, expect=expect)

    def agent(self, dev, *extra, expect=0, timeout=60):
        res = self.check_run(["agent", "run", "--device", dev, "--service", self.svc.url,
                              "--once", "--json", "--backoff-cap", "2", "--max-attempts", "3",
                              "--chunk", "16384"] + list(extra), expect=expect, timeout=timeout)
        evs = events_of(res.stdout)
        cycles = [e for e in evs if "cycle" in e]
        self.assertEqual(len(cycles), 1, res.stdout)
        return evs, cycles[0], res

    def make_device(self, name, group):
        """Provision, install + boot + confirm v1 with the CLI, claim it."""
        d = self.p(name)
        self.run_ok(["device", "provision", d, "--root-pub", self.root_pub])
        self.run_ok(["device", "install", d, self.v1])
        self.run_ok(["device", "boot", d])
        self.run_ok(["device", "confirm", d])
        dev = self.admin("devices", "claim", "--device", d, "--group", group, "--label", name)
        self.assertEqual(dev["group"], group)
        self.assertEqual(dev["state"], "claimed")
        return d, dev["device_id"]

    def device(self, dev_id):
        return self.admin("devices", "show", dev_id)

    # ---- the scenario -------------------------------------------------------------------

    def test_1_tenant_tokens_and_attestation(self):
        # Tenant with the service admin token (from the data directory).
        t = self.svc_cmd("tenant", "create", "acme", "--root-pub", self.root_pub,
                         "--token-file", self.admin_token_file)
        self.assertTrue(t["admin_token"].startswith("nst_"), t)
        AgentTest.tenant_token = t["admin_token"]
        tenants = self.svc_cmd("tenant", "list", "--token-file", self.admin_token_file)
        self.assertIn("acme", [x["name"] for x in tenants["tenants"]])
        # The service admin can do nothing inside a tenant.
        res = self.svc_cmd("group", "list", "--token-file", self.admin_token_file, expect=1)
        self.assertRegex(res.stderr, r"^nacre: svc group list: forbidden: ")
        # A read-only token reads but cannot write.
        ro = self.admin("token", "create", "--role", "read-only", "--label", "viewer")
        AgentTest.ro_token = ro["token"]
        AgentTest.ro_id = ro["id"]
        self.admin("group", "create", "field")
        res = self.svc_cmd("group", "create", "other", token=ro["token"], expect=1)
        self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
        self.assertTrue(res.stderr.startswith("nacre: svc group create: forbidden: "), res.stderr)
        groups = self.svc_cmd("group", "list", token=ro["token"])
        self.assertIn("field", [g["name"] for g in groups["groups"]])

        # v1 uploaded and deployed to the group.
        img = self.admin("image", "upload", self.v1)
        self.assertEqual(img["version"], "1.0.0")
        AgentTest.v1_id = img["image_id"]
        dep = self.admin("deploy", "create", "--group", "field", "--image", self.v1,
                         "--waves", "100", "--max-failure-rate", "1")
        self.assertEqual(dep["image_id"], img["image_id"])

        # Three devices; an unknown one is not_found with the service's code.
        AgentTest.devs = {}
        for name in ("dev-a", "dev-b", "dev-c"):
            AgentTest.devs[name] = self.make_device(name, "field")
        res = self.admin("devices", "show", "0" * 64, expect=1)
        self.assertTrue(res.stderr.startswith("nacre: svc devices show: not_found: "), res.stderr)
        res = self.admin("devices", "claim", "--device", self.devs["dev-a"][0], "--group",
                         "field", expect=1)
        self.assertIn(": exists: ", res.stderr)

        # Each agent attests and gets a certificate from the tenant CA.
        for name, (d, dev_id) in sorted(self.devs.items()):
            evs, cycle, _ = self.agent(d)
            self.assertEqual(cycle["status"], "ok", cycle)
            self.assertTrue(cycle["attested"] and cycle["attested_now"], cycle)
            self.assertEqual(cycle["device_id"], dev_id)
            self.assertEqual(cycle["version"], "1.0.0")
            # v1, deployed, already runs: reported in place, not downloaded again.
            self.assertNotIn("download", [e.get("event") for e in evs])
            self.assertFalse(cycle["installed"], cycle)
            self.assertEqual([e["text"] for e in evs if e.get("event") == "reported"],
                             ["confirmed"])
            cert = os.path.join(d, "agent-cert.pem")
            ca = os.path.join(d, "agent-ca.pem")
            self.assertTrue(os.path.exists(cert) and os.path.exists(ca))
            if OPENSSL:
                v = subprocess.run([OPENSSL, "verify", "-CAfile", ca, cert],
                                   capture_output=True, text=True)
                self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
                subj = subprocess.run([OPENSSL, "x509", "-in", cert, "-noout", "-subject"],
                                      capture_output=True, text=True).stdout
                self.assertIn(dev_id, subj)
            info = self.device(dev_id)
            self.assertEqual(info["state"], "attested", info)
            self.assertEqual(info["version"], "1.0.0")
            self.assertGreater(info["certificate_expires_at"], time.time() + 23 * 3600)
        # The tenant CA from the API is the one the agent stored.
        ca = self.svc_cmd("ca", token=ro["token"])
        with open(os.path.join(self.devs["dev-a"][0], "agent-ca.pem")) as f:
            self.assertEqual(f.read().strip(), ca["ca_certificate"].strip())
        # A second cycle has nothing to do: no new attestation.
        evs, cycle, _ = self.agent(self.devs["dev-a"][0])
        self.assertTrue(cycle["idle"], cycle)
        self.assertFalse(cycle["attested_now"], cycle)
        # The table shows the devices.
        table = self.check_run(["svc", "devices", "list", "--service", self.svc.url,
                                "--token", ro["token"]]).stdout
        self.assertIn("STATE", table)
        self.assertEqual(table.count("attested"), 3, table)

    def test_2_update_install_trial_confirm(self):
        d, dev_id = self.devs["dev-a"]
        img = self.admin("image", "upload", self.v2)
        AgentTest.v2_id = img["image_id"]
        dep = self.admin("deploy", "create", "--group", "field", "--image", img["image_id"],
                         "--waves", "100", "--max-failure-rate", "1")
        AgentTest.v2_dep = dep["id"]
        self.assertEqual(dep["state"], "rolling")
        evs, cycle, _ = self.agent(d)
        self.assertEqual(cycle["status"], "ok", cycle)
        kinds = [e.get("event") for e in evs if "event" in e]
        # offer -> chunks -> installed -> reboot (trial) -> attested -> confirmed -> reported
        for k in ("offer", "download", "installed", "reboot", "attested", "confirmed"):
            self.assertIn(k, kinds, kinds)
        self.assertLess(kinds.index("installed"), kinds.index("reboot"))
        self.assertLess(kinds.index("reboot"), kinds.index("confirmed"))
        downloads = [e for e in evs if e.get("event") == "download"]
        self.assertGreaterEqual(len(downloads), 10)  # 16 KiB Range requests
        self.assertEqual(downloads[-1]["value"], os.path.getsize(self.v2))
        reports = [e["text"] for e in evs if e.get("event") == "reported"]
        self.assertEqual(reports, ["installed", "confirmed"])
        self.assertTrue(cycle["installed"] and cycle["confirmed"], cycle)
        self.assertEqual(cycle["version"], "2.0.0")
        # The device itself: v2 confirmed, anti-rollback counter raised.
        st = json.loads(self.run_ok(["device", "status", d, "--json"]).stdout)
        self.assertIsNone(st["pending"])
        self.assertEqual(st["security_counter"], 2)
        info = self.device(dev_id)
        self.assertEqual(info["version"], "2.0.0")
        self.assertEqual(info["state"], "attested")
        self.assertEqual(info["update"]["status"], "confirmed", info)
        # Nothing more to do.
        evs, cycle, _ = self.agent(d)
        self.assertTrue(cycle["idle"], cycle)

    def test_3_tampered_download_refused_and_reported(self):
        d, dev_id = self.devs["dev-b"]
        evs, cycle, _ = self.agent(d, "--tamper-download")
        self.assertEqual(cycle["status"], "ok", cycle)
        self.assertTrue(cycle["refused"], cycle)
        self.assertFalse(cycle["installed"], cycle)
        refused = [e for e in evs if e.get("event") == "refused"]
        self.assertEqual(len(refused), 1)
        self.assertIn("payload does not match", refused[0]["text"])
        self.assertIn("refused", [e["text"] for e in evs if e.get("event") == "reported"])
        # Still v1, confirmed, nothing pending.
        st = json.loads(self.run_ok(["device", "status", d, "--json"]).stdout)
        self.assertIsNone(st["pending"])
        self.assertEqual(st["security_counter"], 1)
        # The device logged it and the service raised the flag.
        log = json.loads(self.run_ok(["device", "events", d, "--json"]).stdout)
        types = [e["type"] for e in (log["events"] if isinstance(log, dict) else log)]
        self.assertIn("verify_failed", types)
        info = self.device(dev_id)
        self.assertIn("image_refused", info["flags"], info)
        self.assertEqual(info["version"], "1.0.0")
        alerts = self.admin("alerts")
        self.assertIn(("image_refused", dev_id),
                      [(a["rule"], a["device_id"]) for a in alerts["alerts"]])
        ev = self.admin("events", "--device", dev_id)
        self.assertIn("verify_failed", [e["type"] for e in ev["events"]])
        # The refused offer is not tried again.
        evs, cycle, _ = self.agent(d)
        self.assertFalse(cycle["installed"] or cycle["refused"], cycle)
        self.assertNotIn("download", [e.get("event") for e in evs])

    def test_3b_revert_is_reported(self):
        """An update in flight that runs out of trial boots is reported 'reverted'."""
        d, dev_id = self.devs["dev-b"]
        # Make v2 pending by hand and mark it in flight in the agent's state
        # (docs/agent.md: the state file), as if the agent had installed it
        # and the device had then crashed through its three trial boots.
        state_path = os.path.join(d, "agent-state.json")
        with open(state_path) as f:
            state = json.load(f)
        state["inflight"] = {"deployment_id": self.v2_dep, "image_id": self.v2_id,
                             "version": "2.0.0"}
        with open(state_path, "w") as f:
            json.dump(state, f)
        self.run_ok(["device", "install", d, self.v2])
        for trial in (1, 2, 3):
            boot = json.loads(self.run_ok(["device", "boot", d, "--json"]).stdout)
            self.assertEqual(boot["trial"], trial, boot)
        evs, cycle, _ = self.agent(d)
        self.assertEqual(cycle["status"], "ok", cycle)
        self.assertTrue(cycle["reverted"], cycle)
        self.assertEqual(cycle["version"], "1.0.0")
        booted = [e["text"] for e in evs if e.get("event") == "booted"]
        self.assertIn("reverted", booted[0])
        self.assertIn("reverted", [e["text"] for e in evs if e.get("event") == "reported"])
        with open(state_path) as f:
            state = json.load(f)
        self.assertIsNone(state["inflight"])
        self.assertEqual(state["reports"], [])
        self.assertEqual(self.device(dev_id)["update"]["status"], "reverted")

    def test_4_service_down_backoff_then_success(self):
        d, dev_id = self.devs["dev-a"]
        self.svc.stop()
        t0 = time.time()
        proc = subprocess.Popen([NACRE, "agent", "run", "--device", d, "--service", self.svc.url,
                                 "--once", "--json", "--backoff-cap", "2", "--max-attempts", "30"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(3.5)
            self.assertIsNone(proc.poll(), "the agent gave up while the service was down")
            self.svc.start()
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, out + err)
        evs = events_of(out)
        waits = [e["value"] for e in evs if e.get("event") == "backoff"]
        self.assertGreaterEqual(len(waits), 2, out)
        # 1 s doubling to the 2 s cap, with jitter: each wait in [d/2, d].
        self.assertTrue(500 <= waits[0] <= 1000, waits)
        for w in waits[1:]:
            self.assertTrue(1000 <= w <= 2000, waits)
        cycle = [e for e in evs if "cycle" in e][0]
        self.assertEqual(cycle["status"], "ok", cycle)
        self.assertGreater(time.time() - t0, 3.0)
        # The service kept its state across the restart.
        self.assertEqual(self.device(dev_id)["version"], "2.0.0")

    def test_4b_unreachable_bounded(self):
        """With the service gone for good, the agent gives up after max-attempts."""
        d, _ = self.devs["dev-a"]
        res = self.check_run(["agent", "run", "--device", d, "--service",
                              "http://127.0.0.1:%d" % free_port(), "--once", "--json",
                              "--backoff-cap", "1", "--max-attempts", "2"], expect=1)
        self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
        self.assertIn("service unreachable", res.stderr)
        self.assertEqual(len([e for e in events_of(res.stdout) if e.get("event") == "backoff"]),
                         1)

    def test_4c_renewal_when_a_quarter_of_life_remains(self):
        d, dev_id = self.devs["dev-a"]
        state_path = os.path.join(d, "agent-state.json")

        def set_cert_times(received, expires):
            with open(state_path) as f:
                state = json.load(f)
            state["certificate"]["received_at"] = int(received)
            state["certificate"]["expires_at"] = int(expires)
            with open(state_path, "w") as f:
                json.dump(state, f)

        now = time.time()
        # 24 h life, 7 h left (> 6 h): kept.
        set_cert_times(now - 17 * 3600, now + 7 * 3600)
        evs, cycle, _ = self.agent(d)
        self.assertFalse(cycle["attested_now"], cycle)
        # 24 h life, 5 h left (< 6 h): renewed.
        set_cert_times(now - 19 * 3600, now + 5 * 3600)
        evs, cycle, _ = self.agent(d)
        self.assertTrue(cycle["attested_now"], cycle)
        self.assertGreater(cycle["cert_expires_at"], now + 23 * 3600)

    def test_5_interrupted_download_resumes_with_range(self):
        d, dev_id = self.devs["dev-c"]
        size = os.path.getsize(self.v2)
        evs, cycle, res = self.agent(d, "--stop-after-chunks", "4", expect=1)
        self.assertIn("interrupted", cycle["status"], cycle)
        got = [e["value"] for e in evs if e.get("event") == "download"]
        self.assertEqual(got[-1], 4 * 16384)
        st = json.loads(self.run_ok(["device", "status", d, "--json"]).stdout)
        self.assertIsNotNone(st.get("installing"), st)
        # The second run resumes where the slot says, not at 0.
        evs, cycle, _ = self.agent(d)
        self.assertEqual(cycle["status"], "ok", cycle)
        resume = [e for e in evs if e.get("event") == "resume"]
        self.assertEqual(len(resume), 1, evs)
        self.assertGreater(resume[0]["value"], 0)
        self.assertLessEqual(resume[0]["value"], 4 * 16384)
        downloads = [e["value"] for e in evs if e.get("event") == "download"]
        self.assertGreater(downloads[0], resume[0]["value"])
        self.assertLess(len(downloads), (size + 16383) // 16384)
        self.assertTrue(cycle["installed"] and cycle["confirmed"], cycle)
        self.assertEqual(self.device(dev_id)["version"], "2.0.0")

    def test_5b_trial_that_fails_attestation_is_not_confirmed(self):
        """A trial image the service does not know is never confirmed: the agent
        resets until its trials run out and the boot stage reverts it."""
        d, dev_id = self.devs["dev-c"]  # runs 2.0.0, counter 2
        payload = self.p("fw-2.1.0.bin")
        with open(payload, "wb") as f:
            f.write(os.urandom(4096))
        v3 = self.p("v3.img")  # validly signed, never deployed
        self.run_ok(["image", "sign", "--key", self.root, "--version", "2.1.0", "--counter",
                     "3", "--component", "firmware", payload, v3])
        self.run_ok(["device", "install", d, v3])
        res = self.check_run(["agent", "run", "--device", d, "--service", self.svc.url,
                              "--cycles", "4", "--poll", "0", "--json"], timeout=60)
        evs = events_of(res.stdout)
        cycles = [e for e in evs if "cycle" in e]
        self.assertEqual(len(cycles), 4, res.stdout)
        for c in cycles[:3]:
            self.assertIn("attestation", c["status"], c)
            self.assertEqual(c["version"], "2.1.0", c)
            self.assertFalse(c["confirmed"], c)
        self.assertIn("measurement", [e["text"] for e in evs
                                      if e.get("event") == "attestation_failed"][0])
        self.assertEqual(cycles[3]["status"], "ok", cycles[3])
        self.assertEqual(cycles[3]["version"], "2.0.0")
        self.assertTrue(cycles[3]["attested_now"], cycles[3])
        trials = [e["text"] for e in evs if e.get("event") == "booted"]
        self.assertTrue(all("trial" in t for t in trials[:3]), trials)
        self.assertIn("reverted", trials[3])
        st = json.loads(self.run_ok(["device", "status", d, "--json"]).stdout)
        self.assertIsNone(st["pending"])
        self.assertEqual(st["security_counter"], 2)  # never confirmed: never raised
        info = self.device(dev_id)
        self.assertEqual(info["state"], "attested", info)
        self.assertIn("attestation_mismatch", info["flags"], info)

    def test_6_quarantine_and_release(self):
        d, dev_id = self.devs["dev-a"]
        q = self.admin("devices", "quarantine", dev_id, "--reason", "test")
        self.assertTrue(q["quarantined"], q)
        evs, cycle, res = self.agent(d, expect=1)
        self.assertIn("quarantined", res.stderr)
        self.admin("devices", "release", dev_id)
        # Its certificates were revoked: the agent attests again by itself.
        evs, cycle, _ = self.agent(d)
        self.assertEqual(cycle["status"], "ok", cycle)
        self.assertTrue(cycle["attested_now"], cycle)
        # Revoking the read-only token locks it out.
        self.admin("token", "revoke", str(self.ro_id))
        res = self.svc_cmd("devices", "list", token=self.ro_token, expect=1)
        self.assertTrue(res.stderr.startswith("nacre: svc devices list: unauthenticated: "),
                        res.stderr)

    def test_6b_downgrade_refused_as_rollback(self):
        d, dev_id = self.devs["dev-a"]  # runs 2.0.0, counter 2
        self.admin("deploy", "create", "--group", "field", "--image", self.v1_id,
                   "--max-failure-rate", "1")
        evs, cycle, _ = self.agent(d)
        self.assertTrue(cycle["refused"], cycle)
        refused = [e["text"] for e in evs if e.get("event") == "refused"]
        self.assertEqual(len(refused), 1)
        self.assertIn("refused downgrade", refused[0])
        log = json.loads(self.run_ok(["device", "events", d, "--json"]).stdout)
        self.assertEqual(log["events"][-1]["type"], "rollback")
        info = self.device(dev_id)
        self.assertEqual(info["version"], "2.0.0")
        self.assertIn("rollback_attempt", info["flags"], info)

    def test_7_fleet_run(self):
        self.admin("group", "create", "fleet")
        self.admin("deploy", "create", "--group", "fleet", "--image", self.v1_id)
        fleet_dir = self.p("fleet")
        args = ["fleet", "run", "--service", self.svc.url, "--devices", "3", "--dir", fleet_dir,
                "--token", self.tenant_token, "--group", "fleet", "--root-pub", self.root_pub,
                "--image", self.v1, "--timeout", "40", "--json"]
        res = self.check_run(args, timeout=90)
        out = json.loads(res.stdout)
        self.assertTrue(out["all_attested"], out)
        self.assertEqual(len(out["devices"]), 3)
        for dev in out["devices"]:
            self.assertEqual(dev["state"], "attested", dev)
            self.assertEqual(dev["version"], "1.0.0")
            self.assertEqual(dev["group"], "fleet")
        # Now v2 to the fleet, device 2's agent tampering: 1 and 3 update,
        # 2 refuses and is flagged; all stay attested.
        self.admin("deploy", "create", "--group", "fleet", "--image", self.v2_id,
                   "--max-failure-rate", "1")
        res = self.check_run(args + ["--tamper-device", "2"], timeout=90)
        out = json.loads(res.stdout)
        self.assertTrue(out["all_attested"], out)
        by_name = {d["name"]: d for d in out["devices"]}
        self.assertEqual(by_name["dev-1"]["version"], "2.0.0")
        self.assertEqual(by_name["dev-3"]["version"], "2.0.0")
        self.assertEqual(by_name["dev-2"]["version"], "1.0.0")
        self.assertIn("image_refused", by_name["dev-2"]["flags"])
        # The human summary table.
        res = self.check_run(args[:-1], timeout=90)
        self.assertIn("all attested", res.stdout)
        self.assertIn("dev-2", res.stdout)


    def test_8_tls_service_certificate_is_verified(self):
        """Over https the agent verifies the service's certificate: a private
        CA is given with --service-ca; without it the connection is refused."""
        key, cert = self.p("tls-key.pem"), self.p("tls-cert.pem")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        other_key, other = self.p("tls-other-key.pem"), self.p("tls-other.pem")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", other_key, "-out", other,
                        "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        port = free_port()
        proc = subprocess.Popen([SERVICE, "--data", self.p("tls-data"), "--listen",
                                 "127.0.0.1:%d" % port, "--tls-cert", cert, "--tls-key", key],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            self.assertIn("https://127.0.0.1:", proc.stdout.readline())
            d = self.p("tls-dev")
            self.run_ok(["device", "provision", d, "--root-pub", self.root_pub])
            self.run_ok(["device", "install", d, self.v1])
            self.run_ok(["device", "boot", d])
            url = "https://127.0.0.1:%d" % port
            common = ["agent", "run", "--device", d, "--service", url, "--once",
                      "--max-attempts", "1", "--backoff-cap", "1"]
            # The right CA: TLS succeeds and the service answers (the device
            # is not claimed there: not_found, a service error, not TLS).
            res = self.nacre_run(common + ["--service-ca", cert])
            self.assertEqual(res.returncode, 1, res.stderr)
            self.assertIn("not_found", res.stderr)
            # No CA (the system store) or another CA: the handshake is refused.
            for extra in ([], ["--service-ca", other]):
                res = self.nacre_run(common + extra)
                self.assertEqual(res.returncode, 1, res.stderr)
                self.assertNotIn("not_found", res.stderr)
                self.assertRegex(res.stderr.lower(), "certificate|ssl|tls")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            proc.stdout.close()


def main():
    global NACRE, SERVICE, OPENSSL
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit("usage: %s PATH/TO/nacre PATH/TO/nacre-service [--openssl PATH]" % sys.argv[0])
    NACRE = os.path.abspath(args[0])
    SERVICE = os.path.abspath(args[1])
    rest = args[2:]
    if len(rest) >= 2 and rest[0] == "--openssl":
        OPENSSL = rest[1]
        rest = rest[2:]
    if OPENSSL is None:
        OPENSSL = shutil.which("openssl")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
