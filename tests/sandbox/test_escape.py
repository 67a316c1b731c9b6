"""The escape suite: examples/escape, a hostile app with no capabilities,
tries to break out of its sandbox and to trick secmon (files, /proc, other
processes, privileges, namespaces, sockets, exec, kernel interfaces, bombs,
forged and malformed requests, undeclared connections, other apps' keys and
storage, a request flood). It runs under 'nacre device run' with the full
sandbox - never --degrade: if this kernel cannot apply every mechanism, the
launch is refused and this test FAILS, loudly - together with
examples/hello, launched after the escape app has done its worst.

Checked: at least 25 attempts, none escaped; the escape app is still served
at the end (its final PING) and exits 0; the event log holds its refusals
and its denied connection; hello still gets a verified signature; secmon
(the nacre process) ends normally with no app crash and no degraded sandbox.

    python3 test_escape.py PATH/TO/nacre PATH/TO/escape PATH/TO/hello
"""
import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import nacre_cli  # noqa: E402
import test_cli_apps  # noqa: E402
from test_cli_apps import AppTestCase, app_id  # noqa: E402

ESCAPE = HELLO = None
EXAMPLES = test_cli_apps.EXAMPLES
MIN_ATTEMPTS = 25
ESCAPE_COMPONENT = "e5ca9e00-0bad-4bad-8bad-000000000001"
LINE = re.compile(r"^ESCAPE (\S+): (denied \(.*\)|ESCAPED .*)$")


class EscapeTest(AppTestCase):
    def test_escape_suite(self):
        test_cli_apps.HELLO = HELLO
        escape_img = self.app_image("escape", ESCAPE,
                                    os.path.join(EXAMPLES, "escape", "app_manifest.json"))
        hello_img = self.hello_image()
        before = self.nacre_json("device", "events", self.dev)["last_seq"]

        # The escape app first; hello 5 s later, when the escape app is done.
        res = self.run_device("--json", "--seconds", "90", "--stagger", "5000",
                              "--app", escape_img, "--app", hello_img)
        if res.returncode != 0:
            self.fail("device run failed (exit %d): the sandbox could not be applied, or an "
                      "app was refused. This test never uses --degrade.\nstderr: %s\nstdout: %s"
                      % (res.returncode, res.stderr, res.stdout[-4000:]))
        self.assertEqual(res.stderr, "")
        run = json.loads(res.stdout)
        self.assertEqual(run["ended"], "exited", "secmon did not end normally: %s" % run["ended"])

        esc = self.app(run, "escape")
        out = esc["output"]
        sys.stderr.write("\n--- escape app output ---\n%s\n---\n" % "\n".join(out))
        attempts = [LINE.match(line) for line in out if line.startswith("ESCAPE ")]
        self.assertTrue(all(attempts), [l for l in out if l.startswith("ESCAPE ") and
                                        not LINE.match(l)])
        names = [m.group(1) for m in attempts]
        self.assertEqual(len(names), len(set(names)), "attempt names repeat: %s" % names)
        escaped = [line for line in out if line.startswith("ESCAPE ") and ": ESCAPED " in line]
        self.assertEqual(escaped, [], "ESCAPES:\n" + "\n".join(escaped))
        self.assertGreaterEqual(len(attempts), MIN_ATTEMPTS)
        summary = [line for line in out if line.startswith("ESCAPES ")]
        self.assertEqual(summary, ["ESCAPES %d 0" % len(attempts)])
        for must in ("storage_read_own", "device_files_by_path", "read_etc_passwd",
                     "proc_1_status", "list_filesystem_root", "write_tmp", "ptrace_traceme",
                     "socket_raw", "socket_packet", "tcp_connect_direct",
                     "secmon_connect_undeclared", "mount_tmpfs", "setuid_root", "capset_all",
                     "fork_bomb", "memory_bomb", "unshare_user_mount", "setns", "kill_init",
                     "kill_parent", "forge_identity_reserved", "truncated_message",
                     "oversized_message", "unknown_call_0x00", "unknown_call_0x7F",
                     "unknown_call_0xFF", "sign_with_another_key",
                     "certificate_without_capability", "gpio_not_granted",
                     "update_without_capability", "ping_flood", "execve_sh", "memfd_exec",
                     "bpf", "io_uring_setup", "keyctl", "personality",
                     "uds_otp_through_calls", "inherited_fds"):
            self.assertIn(must, names)
        # secmon's refusals are the ones it must give.
        by_name = {m.group(1): m.group(2) for m in attempts}
        self.assertIn("DENIED", by_name["storage_read_own"])
        self.assertIn("DENIED", by_name["secmon_connect_undeclared"])
        self.assertIn("DENIED", by_name["certificate_without_capability"])
        self.assertIn("MALFORMED", by_name["forge_identity_reserved"])
        self.assertIn("MALFORMED", by_name["truncated_message"])
        self.assertIn("MALFORMED", by_name["oversized_message"])
        self.assertIn("UNKNOWN_CALL", by_name["unknown_call_0x7F"])
        self.assertIn("RATE_LIMITED", by_name["ping_flood"])
        self.assertIn("escape: final ping after %d attempts: served" % len(attempts), out)
        self.assertEqual((esc["state"], esc["exit_status"]), ("exited", 0))

        # hello, launched after the attack, is served as usual.
        self.assert_hello_verified(self.app(run, "hello"))

        # The event log.
        evs = self.nacre_json("device", "events", self.dev, "--since", str(before))["events"]
        esc_id = app_id(ESCAPE_COMPONENT)
        self.assertEqual(esc["app_id"], esc_id)
        mine = [e for e in evs if e["app_id"] == esc_id]
        refused = [e for e in mine if e["type"] == "refused"]
        codes = {e["code_text"] for e in refused}
        for want in ("DENIED", "MALFORMED", "UNKNOWN_CALL", "RATE_LIMITED"):
            self.assertIn(want, codes)
        self.assertGreaterEqual(len(refused), 15)
        denied = [e for e in mine if e["type"] == "connection_denied"]
        self.assertIn("127.0.0.1:22", [e["target"] for e in denied])
        self.assertEqual([e["type"] for e in mine if e["type"] in ("app_start", "app_exit")],
                         ["app_start", "app_exit"])
        self.assertEqual([e for e in evs if e["type"] in ("app_crash", "sandbox_degraded")], [])
        # hello started after the escape app had done all of that and exited.
        hello_id = self.app(run, "hello")["app_id"]
        esc_exit = [e["seq"] for e in mine if e["type"] == "app_exit"][0]
        hello_start = [e["seq"] for e in evs if e["app_id"] == hello_id and
                       e["type"] == "app_start"][0]
        self.assertLess(esc_exit, hello_start)


if __name__ == "__main__":
    ESCAPE, HELLO = (os.path.abspath(p) for p in sys.argv[2:4])
    del sys.argv[2:4]
    nacre_cli.main()
