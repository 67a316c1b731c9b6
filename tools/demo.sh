#!/usr/bin/env bash
# The README's main job, the full stack: installs what is missing (Debian 12),
# builds Nacre, then
#   - starts nacre-service on SQLite (127.0.0.1 only), creates a tenant with
#     its CA and tokens, uploads signed firmware 1.0.0 and 1.1.0;
#   - provisions a fleet of host devices that attest and get 24-hour
#     certificates (nacre fleet run: one device agent per device);
#   - rolls 1.1.0 out in waves while one device's download is tampered with
#     on the way (refused by the device, reported, flagged);
#   - runs an app that tries a connection its manifest does not declare
#     (blocked by secmon, uploaded by the agent, flagged by the service), and
#     quarantines that device;
#   - prints the dashboard URL, saves a screenshot of it, and a summary of
#     every device;
#   - boots the Cortex-M33 board in QEMU (secure boot, the NS app on secmon,
#     an attack refused, its attestation verified on the host);
#   - and last walks one device through the SDK step by step
#     (tools/demo-device.sh).
# Every refusal shown is checked: if something that must be refused is
# accepted, the demo fails.
#   tools/demo.sh [WORKDIR]      (default: a fresh temporary directory)
#   NACRE_DEMO_KEEP=1 tools/demo.sh   keeps the service running at the end
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

. tools/demo-common.sh
service="$root/build/service/nacre-service"

work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/nacre-demo-XXXXXX")}
mkdir -p "$work"
cd "$work"
rm -rf service fleet thermostat.* receiver.*

fail() { echo "demo: FAILED: $*" >&2; exit 1; }
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; } # KEY of stdin

step "1. Start nacre-service on SQLite, listening on 127.0.0.1 only"
"$service" --data service --listen 127.0.0.1:0 >service.out 2>service.log &
svc_pid=$!
stop_service() { kill "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null || true; }
trap stop_service EXIT
for _ in $(seq 100); do grep -q 'listening on' service.out 2>/dev/null && break; sleep 0.1; done
grep -q 'listening on' service.out || { cat service.log; fail "the service did not start"; }
cat service.out
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' service.out)
export NACRE_SERVICE=$url
run ls service

step "2. A tenant: its certificate authority and its tokens"
run "$nacre" keygen --out root-key.pem --pub root-key.pub.pem --force
echo "(the tenant's image-signing root key; its hash goes into every device's OTP)"
echo '$ nacre svc tenant create acme --root-pub root-key.pub.pem --token-file service/admin.token --json'
"$nacre" svc tenant create acme --root-pub root-key.pub.pem --token-file service/admin.token \
  --json >tenant.json
python3 -c 'import json; d = json.load(open("tenant.json")); d["admin_token"] = d["admin_token"][:8] + "…"; print(json.dumps(d, indent=1)[:400])' 
NACRE_TOKEN=$(json admin_token <tenant.json)
export NACRE_TOKEN
echo "(the admin token is shown once; the service keeps only its hash)"
readonly_token=$("$nacre" svc token create --role read-only --label dashboard --json | json token)
run "$nacre" svc token list
run "$nacre" svc ca --out acme-ca.pem
refused env NACRE_TOKEN="$readonly_token" "$nacre" svc group create sneaky

step "3. Firmware 1.0.0 and 1.1.0, signed by a certified key; the service verifies them on upload"
"$nacre" keygen --out signing-key.pem --pub signing-key.pub.pem --force >/dev/null
run "$nacre" key certify --root-key root-key.pem --pub signing-key.pub.pem --epoch 1 \
  --out signing-key.cert --force
python3 - <<'PY'
for v in ("1.0.0", "1.1.0"):
    open("firmware-%s.bin" % v, "w").write(("fleet firmware %s\n" % v) * 4000)
PY
for v in 1.0.0:1 1.1.0:2; do
  "$nacre" image sign --key signing-key.pem --cert signing-key.cert --component firmware \
    --version "${v%%:*}" --counter "${v##*:}" "firmware-${v%%:*}.bin" "firmware-${v%%:*}.img" >/dev/null
done
echo "(firmware-1.0.0.img, counter 1, and firmware-1.1.0.img, counter 2)"
run "$nacre" svc image upload firmware-1.0.0.img
run "$nacre" svc image upload firmware-1.1.0.img
python3 -c 'b = bytearray(open("firmware-1.1.0.img", "rb").read()); b[-100] ^= 1; open("firmware-evil.img", "wb").write(b)'
refused "$nacre" svc image upload firmware-evil.img
run "$nacre" svc group create field
run "$nacre" svc deploy create --group field --image firmware-1.0.0.img

step "4. Six devices: provisioned, running 1.0.0, claimed; each attests and gets a certificate"
run "$nacre" fleet run --devices 6 --dir fleet --group field --root-pub root-key.pub.pem \
  --image firmware-1.0.0.img --timeout 120
run openssl verify -CAfile acme-ca.pem fleet/dev-1/agent-cert.pem
run openssl x509 -in fleet/dev-1/agent-cert.pem -noout -subject -enddate

step "5. 1.1.0 rolls out in three waves; dev-4's download is tampered with on the way"
run "$nacre" svc deploy create --group field --image firmware-1.1.0.img --waves 34,67,100 \
  --max-failure-rate 0.5
run "$nacre" fleet run --devices 6 --dir fleet --group field --root-pub root-key.pub.pem \
  --image firmware-1.0.0.img --timeout 180 --tamper-device 4
run "$nacre" svc deploy list
"$nacre" svc devices list --json >devices.json
python3 - <<'PY'
import json, sys
devs = {d["label"]: d for d in json.load(open("devices.json"))["devices"]}
bad = devs["dev-4"]
devs = {k: v for k, v in devs.items() if k.startswith("dev-")}
if bad["version"] != "1.0.0" or "image_refused" not in bad["flags"]:
    sys.exit("demo: FAILED: dev-4 should still run 1.0.0 and be flagged image_refused: %s" % bad)
for label, d in devs.items():
    if label != "dev-4" and d["version"] != "1.1.0":
        sys.exit("demo: FAILED: %s runs %s, not 1.1.0" % (label, d["version"]))
print("checked: five devices confirmed 1.1.0; dev-4 refused the tampered image, still runs 1.0.0, flagged image_refused")
PY

if [ -f "$root/build-a7/build.ninja" ] && [ -f "$root/boards/qemu-virt-a7/cache/vmlinuz" ]; then
  step "5b. A Cortex-A7 Linux device (QEMU) joins the fleet: it attests and takes 1.1.0 from the service"
  echo "(its only way out of the VM is a QEMU channel relayed to $url)"
  run "$root/boards/qemu-virt-a7/fleet-device.sh" --dir "$work/a7" --service "$url" \
    --group field --root-pub root-key.pub.pem \
    --v1 firmware-1.0.0.img --v2 firmware-1.1.0.img
  "$nacre" svc devices list --json >devices.json
else
  echo
  echo "(the Cortex-A7 board is not set up here: boards/qemu-virt-a7/test.sh builds it, and then"
  echo " this demo also runs one A7 device in the fleet)"
fi

step "6. An app on dev-2 tries a connection its manifest does not declare"
apps="$root/build/examples"
python3 -c '
import socket, os
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4); s.settimeout(60)
open("receiver.port.tmp", "w").write("%d\n" % s.getsockname()[1]); os.rename("receiver.port.tmp", "receiver.port")
try:
    c, _ = s.accept(); c.settimeout(10); data = b""
    while b"\n" not in data:
        chunk = c.recv(1024)
        if not chunk: break
        data += chunk
    open("receiver.log", "w").write(data.decode(errors="replace"))
except OSError:
    pass
' &
receiver=$!
for _ in $(seq 100); do [ -f receiver.port ] && break; sleep 0.1; done
port=$(cat receiver.port)
denied=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$root/examples/thermostat/configure.py" --exe "$apps/thermostat/thermostat" \
  --server "127.0.0.1:$port" --denied "127.0.0.1:$denied" \
  --exe-out thermostat.configured --manifest-out thermostat.json
"$nacre" app package --manifest thermostat.json --exe thermostat.configured --out thermostat.napp >/dev/null
"$nacre" image sign --key root-key.pem --component thermostat --version 1.0.0 --counter 1 \
  thermostat.napp thermostat.img >/dev/null
echo "the thermostat may reach 127.0.0.1:$port (its manifest) and tries 127.0.0.1:$denied too:"
run "$nacre" device run fleet/dev-2 --seconds 30 --app thermostat.img
wait "$receiver" || true
echo "The device agent uploads the security-event log, signed with the device's Alias key:"
run "$nacre" agent run --device fleet/dev-2 --once --poll 0
run "$nacre" svc alerts
dev2=$(python3 -c 'import json; print([d["device_id"] for d in json.load(open("devices.json"))["devices"] if d["label"] == "dev-2"][0])')
"$nacre" svc devices show "$dev2" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
if "connection_outside_manifest" not in d["flags"]:
    sys.exit("demo: FAILED: dev-2 is not flagged: %s" % d["flags"])
print("checked: dev-2 flagged connection_outside_manifest")'

step "7. The operator quarantines dev-2: no certificate renewal, no updates"
run "$nacre" svc devices quarantine "$dev2" --reason "undeclared connection to 127.0.0.1:$denied"
refused "$nacre" agent run --device fleet/dev-2 --once --poll 0 --max-attempts 1

step "8. The dashboard"
dash="$url/#token=$readonly_token"
echo "dashboard (read-only token in the URL fragment, never sent to the server):"
echo "  $dash"
if command -v chromium >/dev/null; then
  chromium --headless=new --no-sandbox --disable-gpu --user-data-dir="$work/chromium" \
    --virtual-time-budget=8000 --window-size=1280,1000 --screenshot="$work/dashboard.png" "$dash" \
    >/dev/null 2>&1 && echo "  screenshot: $work/dashboard.png" || echo "  (chromium could not take a screenshot)"
fi

step "9. Every device, as the service sees it"
run "$nacre" svc devices list
run "$nacre" svc summary

if [ -n "${NACRE_DEMO_KEEP:-}" ]; then
  echo
  echo "nacre-service keeps running at $url (dashboard above); Ctrl-C stops it."
  wait "$svc_pid"
fi
stop_service
trap - EXIT
echo "(service stopped; 'build/service/nacre-service --data $work/service --listen 127.0.0.1:8443' restarts it with all its state)"

step "10. The Cortex-M33 board (TrustZone-M) under QEMU"
if [ -x "$root/boards/qemu-mps2-an505/demo.sh" ] || [ -f "$root/boards/qemu-mps2-an505/demo.sh" ]; then
  sh "$root/boards/qemu-mps2-an505/demo.sh"
fi

step "11. One device through the SDK, step by step (tools/demo-device.sh)"
"$root/tools/demo-device.sh" "$work/device-walkthrough"

printf '\ndemo: OK (work files in %s)\n' "$work"
