#!/usr/bin/env python3
"""The qemu-virt-a7 fleet test: one A7 device (the board image in QEMU)
against the REAL nacre-service on the host, reached only through the QEMU
channel (restrict=on user networking; 10.0.2.100:80 relayed to
127.0.0.1:PORT by channel.py, one relay per connection).

On the host, with the host build's tools (build/tools/nacre/nacre,
build/service/nacre-service):
  nacre-service on a fresh data directory, 127.0.0.1:0; a tenant made with
  'nacre svc tenant create' (the root public key of a key made with
  'nacre keygen'); group 'field'; firmware 1.0.0 (counter 1) and 1.1.0
  (counter 2), component 'firmware', signed with the root key and uploaded;
  1.0.0 deployed.

  boot 1 (no network)  provision; install 1.0.0; boot stage; confirm; the
                       DeviceID public key -> the harness claims the device
                       with 'nacre svc devices claim --pubkey'
  boot 2 (channel)     the agent attests: its certificate (read from the
                       disk) verifies with 'openssl verify' against the tenant
                       CA, names the device; the service shows it attested on
                       1.0.0; the 1.0.0 deployment is reported in place (no
                       download of the image it already runs)
  -- 1.1.0 deployed --
  boot 3 (channel)     the agent is offered 1.1.0, downloads it (Range
                       requests, several connections), installs it, resets into
                       the trial boot (inside its cycle, docs/agent.md),
                       attests it and confirms it, and reports
  boot 4 (channel)     after a real reboot: the boot stage runs 1.1.0
                       confirmed (counter 2, nothing pending); the agent has
                       nothing to do; 'nacre svc devices show' says attested,
                       1.1.0, update confirmed

Every step can fail the test. Exit 77 (skipped) when the host build has no
nacre-service or nacre tool, or openssl is missing.

    fleet_suite.py --kernel VMLINUZ --initrd INITRD --run-vm run-vm.sh
                   --nacre HOST-NACRE --service HOST-NACRE-SERVICE [--keep DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vm_suite import Checks, Vm, check_boot, expect_results, load_json  # noqa: E402

CHANNEL_URL = "http://10.0.2.100:80"


class Service:
    """The real nacre-service on 127.0.0.1:0 with a fresh data directory."""

    def __init__(self, exe, work):
        self.exe = exe
        self.data = os.path.join(work, "service")
        self.log_path = os.path.join(work, "service.log")
        self.proc = None
        self.url = None

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.exe, "--data", self.data, "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if "listening on" not in line or not m:
            self.stop()
            raise RuntimeError("nacre-service did not start: %r" % line)
        self.port = int(m.group(1))
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.log.close()
            self.proc = None

    def tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""


def disk_file(vm, path):
    """A file of the device disk, read without mounting it (None if absent)."""
    debugfs = shutil.which("debugfs") or "/sbin/debugfs"
    p = subprocess.run([debugfs, "-R", "cat " + path, vm.disk], capture_output=True)
    if p.returncode != 0 or not p.stdout:
        return None
    return p.stdout.decode(errors="replace")


def agent_lines(out, tag):
    path = os.path.join(out, "%s-agent.txt" % tag)
    text = open(path).read() if os.path.exists(path) else ""
    err = os.path.join(out, "%s-agent.err" % tag)
    if os.path.exists(err) and open(err).read().strip():
        print("  agent stderr: " + open(err).read().strip())
    return text.splitlines()


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--kernel", "--initrd", "--run-vm", "--nacre", "--service"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--keep", help="keep the work directory here")
    a = ap.parse_args()
    for k in ("kernel", "initrd", "run_vm", "nacre", "service"):
        setattr(a, k, os.path.abspath(getattr(a, k)))
    for exe, why in ((a.nacre, "the host build's nacre tool"),
                     (a.service, "the host build's nacre-service")):
        if not os.access(exe, os.X_OK):
            print("fleet suite skipped: %s (%s) is not built (ninja -C build)" % (why, exe))
            return 77
    openssl = shutil.which("openssl")
    for exe in ("qemu-system-arm", "mkfs.ext4", "openssl"):
        if shutil.which(exe) is None and not os.path.exists("/sbin/" + exe):
            print("fleet suite skipped: %s not found (boards/qemu-virt-a7/setup.sh)" % exe)
            return 77
    work = a.keep or tempfile.mkdtemp(prefix="nacre-a7-fleet-")
    os.makedirs(work, exist_ok=True)
    c = Checks()
    t_start = time.monotonic()
    svc = Service(a.service, work)
    vm = None
    token = None

    def nacre(*args, check=True, tok=True):
        cmd = [a.nacre] + [str(x) for x in args]
        if args and args[0] == "svc":
            cmd += ["--service", svc.url] + (["--token", token] if tok and token else [])
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=work, timeout=120)
        if check and p.returncode != 0:
            raise RuntimeError("nacre %s: exit %d: %s%s\nservice log:\n%s" % (
                " ".join(map(str, args)), p.returncode, p.stdout, p.stderr, svc.tail()))
        return p

    def svc_json(*args):
        return json.loads(nacre("svc", *args, "--json").stdout)

    try:
        svc.start()
        print("nacre-service: %s (data %s)" % (svc.url, svc.data))
        stage = os.path.join(work, "stage", "in")
        os.makedirs(stage)
        nacre("keygen", "--out", "root.pem", "--pub", os.path.join(stage, "root.pub"))
        t = json.loads(nacre("svc", "tenant", "create", "a7", "--root-pub",
                             os.path.join(stage, "root.pub"), "--token-file",
                             os.path.join(svc.data, "admin.token"), "--json", tok=False).stdout)
        token = t["admin_token"]
        c.check("host: tenant created, admin token", token.startswith("nst_"))
        svc_json("group", "create", "field")
        images, image_ids = {}, {}
        for version, counter in (("1.0.0", 1), ("1.1.0", 2)):
            payload = os.path.join(work, "fw-%s.bin" % version)
            with open(payload, "wb") as f:
                f.write(b"nacre qemu-virt-a7 fleet firmware %s\n" % version.encode()
                        + os.urandom(150 * 1024))
            img = os.path.join(stage, "fw-%s.img" % version)
            nacre("image", "sign", "--key", "root.pem", "--component", "firmware",
                  "--version", version, "--counter", counter, payload, img)
            up = svc_json("image", "upload", img)
            c.equal("host: %s uploaded" % version, up.get("version"), version)
            images[version] = img
            image_ids[version] = up.get("image_id")
        dep1 = svc_json("deploy", "create", "--group", "field", "--image", images["1.0.0"])
        c.equal("host: 1.0.0 deployed", (dep1.get("version"), dep1.get("state")),
                ("1.0.0", "rolling"))
        os.unlink(images["1.1.0"])  # the device gets 1.1.0 from the service only
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "nacre", "-d", os.path.dirname(stage),
                        os.path.join(work, "disk.img"), "64M"], check=True)
        vm = Vm(a, work)

        # Boot 1: the device is made, runs 1.0.0, and shows its DeviceID key.
        results, done = vm.boot("f1", [
            "nacre.do=provision,install:fw-1.0.0.img,boot,confirm,pubkey"])
        expect_results(c, "f1", results, done, {
            "mount-disk": 0, "1-provision": 0, "2-install": 0, "3-boot": 0, "4-confirm": 0,
            "5-pubkey": 0})
        out = vm.outputs()
        check_boot(c, "f1", out, "f1-3-boot.json", "trial", "1.0.0", "A", 1)
        pub = load_json(out, "f1-5-pubkey.json") or {}
        if not c.check("f1: DeviceID public key read from the disk",
                       re.fullmatch(r"[0-9a-f]{64}", pub.get("public_key") or "") is not None,
                       pub):
            return 1
        dev_id = pub["device_id"]

        # The operator claims it with the key alone.
        claimed = svc_json("devices", "claim", "--pubkey", pub["public_key"], "--group", "field",
                           "--label", "a7-1")
        c.equal("host: device claimed into field",
                (claimed.get("device_id"), claimed.get("group"), claimed.get("state")),
                (dev_id, "field", "claimed"))

        # Boot 2: the agent attests through the channel.
        results, done = vm.boot("f2", ["nacre.agent=" + CHANNEL_URL], port=svc.port)
        expect_results(c, "f2", results, done, {"mount-disk": 0, "agent": 0})
        lines = agent_lines(vm.outputs(), "f2")
        c.check("f2: the agent attested", any(l.startswith("agent: attested: ") for l in lines),
                lines)
        c.check("f2: 1.0.0 (deployed, already running) not downloaded again, reported in place",
                not any(l.startswith(("agent: download: ", "agent: installed: ")) for l in lines)
                and "agent: reported: confirmed" in lines, lines)
        cert, ca = disk_file(vm, "/dev/agent-cert.pem"), disk_file(vm, "/dev/agent-ca.pem")
        if c.check("f2: certificate and CA stored on the device", cert and ca):
            cert_path, ca_path = os.path.join(work, "a7-cert.pem"), os.path.join(work, "a7-ca.pem")
            with open(cert_path, "w") as f:
                f.write(cert)
            with open(ca_path, "w") as f:
                f.write(ca)
            tenant_ca = svc_json("ca")["ca_certificate"]
            c.equal("f2: the device holds the tenant CA", ca.strip(), tenant_ca.strip())
            v = subprocess.run([openssl, "verify", "-CAfile", ca_path, cert_path],
                               capture_output=True, text=True)
            c.equal("f2: openssl verify -CAfile tenant-CA device-certificate",
                    (v.returncode, v.stdout.strip()), (0, cert_path + ": OK"))
            subj = subprocess.run([openssl, "x509", "-in", cert_path, "-noout", "-subject"],
                                  capture_output=True, text=True).stdout
            c.check("f2: the certificate names the device", dev_id in subj, subj)
        d = svc_json("devices", "show", dev_id)
        c.equal("f2: service: attested on 1.0.0", (d.get("state"), d.get("version")),
                ("attested", "1.0.0"))
        c.check("f2: service: a certificate for about 24 h",
                (d.get("certificate_expires_at") or 0) > time.time() + 23 * 3600, d)

        # 1.1.0 rolls out to the group.
        dep2 = svc_json("deploy", "create", "--group", "field", "--image", image_ids["1.1.0"],
                        "--waves", "100", "--max-failure-rate", "1")
        c.equal("host: 1.1.0 deployed", (dep2.get("version"), dep2.get("state")),
                ("1.1.0", "rolling"))

        # Boot 3: the agent takes the update.
        results, done = vm.boot("f3", ["nacre.agent=" + CHANNEL_URL], port=svc.port)
        expect_results(c, "f3", results, done, {"mount-disk": 0, "agent": 0})
        lines = agent_lines(vm.outputs(), "f3")
        print("  " + "\n  ".join(l for l in lines if not l.startswith("agent: download: ")))
        # Each step after the one before it.
        at = 0
        for want in (r"agent: offer: 1\.1\.0 ", r"agent: download: ", r"agent: installed: 1\.1\.0$",
                     r"agent: reported: installed$", r"agent: reboot: 1\.1\.0$",
                     r"agent: booted: slot [AB]: firmware 1\.1\.0 \(trial boot",
                     r"agent: attested: ", r"agent: confirmed: 1\.1\.0$",
                     r"agent: reported: confirmed$", r"agent: cycle 1: done, running 1\.1\.0"):
            hit = [i for i in range(at, len(lines)) if re.match(want, lines[i])]
            c.check("f3: agent, in order: %s" % want.replace("\\", ""), hit, lines[at:])
            at = hit[0] + 1 if hit else at
        downloads = [l for l in lines if l.startswith("agent: download: ")]
        c.check("f3: downloaded in several Range requests",
                len(downloads) >= 2, len(downloads))
        d = svc_json("devices", "show", dev_id)
        c.equal("f3: service: attested on 1.1.0, update confirmed",
                (d.get("state"), d.get("version"), (d.get("update") or {}).get("status")),
                ("attested", "1.1.0", "confirmed"))

        # Boot 4: a real reboot; the boot stage and the agent agree.
        results, done = vm.boot("f4", ["nacre.do=boot,status", "nacre.agent=" + CHANNEL_URL],
                                port=svc.port)
        expect_results(c, "f4", results, done,
                       {"mount-disk": 0, "1-boot": 0, "2-status": 0, "agent": 0})
        out = vm.outputs()
        b = load_json(out, "f4-1-boot.json") or {}
        c.equal("f4: boot stage: the confirmed image is 1.1.0",
                (b.get("reason"), (b.get("image") or {}).get("version")), ("confirmed", "1.1.0"))
        st = load_json(out, "f4-2-status.json") or {}
        c.equal("f4: device: 1.1.0's slot confirmed, nothing pending, counter 2",
                (st.get("confirmed"), st.get("pending"), st.get("security_counter")),
                (b.get("slot"), None, 2))
        lines = agent_lines(out, "f4")
        c.check("f4: agent: nothing to do ('cycle 1: idle, running 1.1.0')",
                any(l.startswith("agent: cycle 1: idle, running 1.1.0") for l in lines), lines)
        show = nacre("svc", "devices", "show", dev_id).stdout
        print("  $ nacre svc devices show %s\n  %s" % (dev_id[:12] + "...",
                                                       "\n  ".join(show.splitlines())))
        d = svc_json("devices", "show", dev_id)
        c.equal("f4: service: attested, 1.1.0, update confirmed, no flags",
                (d.get("state"), d.get("version"), (d.get("update") or {}).get("status"),
                 d.get("flags")), ("attested", "1.1.0", "confirmed", []))
        dep = svc_json("deploy", "show", str(dep2["id"]))
        c.equal("host: the deployment is done, one device confirmed",
                (dep.get("state"), (dep.get("devices") or {}).get("confirmed")), ("done", 1))
    except (RuntimeError, OSError, ValueError, KeyError, subprocess.SubprocessError) as e:
        c.check("no harness error", False, e)
    finally:
        svc.stop()
        times = vm.times if vm is not None else {}
        print("\nboot-to-verdict (QEMU start -> NACRE-DONE; power-off; guest uptime at verdict):")
        for tag, (verdict, exited, uptime) in sorted(times.items()):
            print("  %s: %s s; %.2f s; %s s" % (
                tag, "%.2f" % verdict if verdict is not None else "none", exited,
                uptime if uptime is not None else "-"))
        print("fleet suite: %.1f s in all; work directory %s" % (time.monotonic() - t_start, work))
        if not a.keep and c.failed == 0:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
