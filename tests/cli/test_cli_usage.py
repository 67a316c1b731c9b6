"""Help, version and usage errors of every nacre command."""
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase  # noqa: E402

DEVICE_SUBCOMMANDS = ["provision", "info", "secure", "seal", "unseal", "counter",
                      "install", "boot", "confirm", "status", "attest", "pubkey"]
IMAGE_SUBCOMMANDS = ["sign", "create", "digest", "attach-signature", "inspect", "verify",
                     "refs"]
KEY_SUBCOMMANDS = ["certify"]
ATTEST_SUBCOMMANDS = ["verify"]
CA_SUBCOMMANDS = ["init", "issue", "check"]
COMMANDS = [[], ["keygen"], ["device"], ["image"], ["key"], ["attest"], ["ca"], ["version"],
            ["help"]] + \
    [["device", sub] for sub in DEVICE_SUBCOMMANDS] + \
    [["image", sub] for sub in IMAGE_SUBCOMMANDS] + \
    [["key", sub] for sub in KEY_SUBCOMMANDS] + \
    [["attest", sub] for sub in ATTEST_SUBCOMMANDS] + \
    [["ca", sub] for sub in CA_SUBCOMMANDS]


class HelpTest(NacreTestCase):
    def test_every_help_flag(self):
        for cmd in COMMANDS:
            for flag in ("--help", "-h"):
                res = self.nacre_ok(*(cmd + [flag]))
                self.assertTrue(res.stdout.startswith("usage: nacre"), (cmd, res.stdout))
                if cmd and cmd != ["help"]:
                    self.assertIn("usage: nacre " + " ".join(cmd), res.stdout)

    def test_help_after_arguments(self):
        # --help wins even after other arguments, and touches no device.
        dev = self.path("dev")
        res = self.nacre_ok("device", "provision", dev, "--help")
        self.assertIn("usage: nacre device provision", res.stdout)
        self.assertFalse(os.path.exists(dev))
        res = self.nacre_ok("device", "counter", dev, "3", "--increment", "-h")
        self.assertIn("usage: nacre device counter", res.stdout)

    def test_help_command(self):
        self.assertIn("commands:", self.nacre_ok("help").stdout)
        for cmd in COMMANDS:
            if not cmd or cmd == ["help"]:
                continue
            res = self.nacre_ok("help", *cmd)
            self.assertIn("usage: nacre " + " ".join(cmd), res.stdout)
        device = self.nacre_ok("help", "device").stdout
        self.assertIn("NACRE_POWER_CUT_AFTER", device)
        self.assertIn("test", device.lower())
        self.assert_failure(self.nacre("help", "frobnicate"), status=2)
        self.assert_failure(self.nacre("help", "device", "frobnicate"), status=2)
        self.assert_failure(self.nacre("help", "image", "frobnicate"), status=2)
        # A subcommand alone is forgiven: 'nacre help seal' is 'device seal'.
        self.assertIn("usage: nacre device seal", self.nacre_ok("help", "seal").stdout)
        self.assertIn("usage: nacre image verify", self.nacre_ok("help", "verify").stdout)
        main = self.nacre_ok("help").stdout
        for cmd in COMMANDS:
            if len(cmd) == 2:
                self.assertIn(" ".join(cmd), main)

    def test_version(self):
        out = self.nacre_ok("version").stdout
        self.assertRegex(out, r"^nacre \d+\.\d+\.\d+")
        self.assertIn("libpluton", out)
        self.assertEqual(self.nacre_ok("--version").stdout, out)


class UsageErrorTest(NacreTestCase):
    def test_unknown_command_and_options(self):
        cases = [
            [],
            ["frobnicate"],
            ["--frobnicate"],
            ["device"],
            ["device", "frobnicate"],
            ["device", "--frobnicate"],
            ["keygen", "--frobnicate"],
            ["keygen", "--out"],
            ["keygen", "--out", self.path("k"), "extra"],
            ["version", "extra"],
            ["device", "info"],
            ["device", "info", self.path("d"), "--frobnicate"],
            ["device", "info", self.path("d"), self.path("e")],
            ["device", "info", self.path("d"), "--json=yes"],
            ["device", "provision", self.path("d"), "-x"],
            ["device", "secure"],
            ["device", "seal", self.path("d"), "--in"],
            ["device", "counter", self.path("d")],
            ["device", "install", self.path("d")],
            ["device", "boot"],
            ["image"],
            ["image", "frobnicate"],
            ["image", "verify", self.path("i")],
            ["key"],
            ["key", "certify"],
        ]
        for args in cases:
            res = self.nacre(*args)
            self.assertEqual(res.returncode, 2, (args, res.stderr))
            self.assertEqual(res.stdout, "", args)
            lines = res.stderr.splitlines()
            self.assertEqual(len(lines), 2, (args, res.stderr))
            self.assertTrue(lines[0].startswith("nacre: "), lines)
            self.assertRegex(lines[1], r"^see 'nacre( [a-z-]+)* --help'$")
        # Nothing was created by the refused commands.
        self.assertFalse(os.path.exists(self.path("d")))
        self.assertFalse(os.path.exists(self.path("k")))

    def test_usage_error_names_the_command(self):
        res = self.nacre("device", "seal", self.path("d"), "--frobnicate")
        self.assertIn("see 'nacre device seal --help'", res.stderr)
        self.assertIn("--frobnicate", res.stderr)


if __name__ == "__main__":
    nacre_cli.main()
