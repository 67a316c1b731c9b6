#!/usr/bin/env python3
"""Configure the thermostat app for one deployment, before packaging.

The thermostat's server is only known when the app is deployed, and what it
may connect to is fixed in its signed manifest. This writes both from the
same host:port: the manifest (from app_manifest.json, AllowedConnections
replaced by SERVER) and a copy of the executable whose configuration block
names SERVER and the connection it will try to show a refusal (DENIED, which
must NOT be in the manifest).

    configure.py --exe thermostat --server 127.0.0.1:PORT --denied 127.0.0.1:PORT2 \\
                 --exe-out thermostat.configured --manifest-out thermostat.json

Then: nacre app package --manifest thermostat.json --exe thermostat.configured ...
"""
import argparse
import json
import os
import sys

MARKER = b"NACRE-THERMOSTAT-CONFIG:"
BLOCK_BYTES = 160  # CONFIG_BYTES in thermostat.c


def endpoint(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("want HOST:PORT, not %r" % text)
    return "%s:%d" % (host, int(port))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exe", required=True, help="the built thermostat executable")
    ap.add_argument("--server", required=True, type=endpoint, help="HOST:PORT it reports to")
    ap.add_argument("--denied", required=True, type=endpoint,
                    help="HOST:PORT it tries without permission")
    ap.add_argument("--exe-out", required=True)
    ap.add_argument("--manifest-out", required=True)
    ap.add_argument("--manifest", default=os.path.join(here, "app_manifest.json"),
                    help="template (default: app_manifest.json next to this script)")
    a = ap.parse_args()
    if a.server == a.denied:
        ap.error("--server and --denied must differ")

    with open(a.manifest, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest.setdefault("Capabilities", {})["AllowedConnections"] = [a.server]

    with open(a.exe, "rb") as f:
        exe = bytearray(f.read())
    at = exe.find(MARKER)
    if at < 0 or exe.find(MARKER, at + 1) >= 0:
        sys.exit("configure.py: %s: want exactly one configuration block" % a.exe)
    text = MARKER + ("%s %s" % (a.server, a.denied)).encode()
    if len(text) >= BLOCK_BYTES:
        sys.exit("configure.py: the endpoints do not fit the configuration block")
    exe[at:at + BLOCK_BYTES] = text + bytes(BLOCK_BYTES - len(text))

    with open(a.exe_out, "wb") as f:
        f.write(exe)
    os.chmod(a.exe_out, 0o755)
    with open(a.manifest_out, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
