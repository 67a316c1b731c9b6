#!/usr/bin/env bash
# One qemu-virt-a7 device in a running nacre-service fleet: the board image
# boots in QEMU, is provisioned and runs firmware V1, the operator claims it
# into GROUP, and its device agent -- reaching the service only through the
# QEMU channel (restrict=on, 10.0.2.100:80 relayed to 127.0.0.1:PORT by
# channel.py) -- attests, gets its certificate and takes the update the
# group's deployment offers (V2), until the service shows it confirmed on V2.
#
#   boards/qemu-virt-a7/fleet-device.sh [--phase join|update|all] --dir WORKDIR
#       --service URL --token TOKEN --group G --root-pub ROOT.pub.pem
#       --v1 V1.img --v2 V2.img [--label a7-1] [--wait SECONDS]
#
# --phase    join: make the device (boot 1: provision, install V1, boot,
#                  confirm; its DeviceID key read from the disk), claim it,
#                  and one agent boot (attests, gets its certificate; takes
#                  an update if one is offered already);
#            update: agent boots until the service shows it confirmed on V2;
#            all (default): join, then update.
# --dir      the device's disk image and consoles (kept; the phases share it);
#            default for --phase all: a fresh temporary directory
# --service  the service, http://127.0.0.1:PORT (the channel relays to
#            127.0.0.1 only); default $NACRE_SERVICE
# --token    a tenant admin token (to claim the device); default $NACRE_TOKEN
# --group    the group to claim it into; its deployment decides what it gets
# --root-pub the tenant's root public key (its hash goes into the device's OTP)
# --v1       the signed image the device is made with
# --v2       the signed image the group's deployment rolls out: done when the
#            service shows the device attested on V2's version, update
#            confirmed. The device gets it from the service, never from here.
# --label    the device's label in the service (default a7-1)
# --wait S   update: keep booting the agent (~10 s a boot, 5 s apart) for at
#            most S seconds (default 180): a device ranked into a wave that is
#            not open yet gets the update once the earlier waves confirmed
#
# A device claimed while the group's deployment rolls is ranked into its
# waves; one claimed after it is done is offered what the last wave offered.
# So --phase all works before, during and after a rollout (tools/demo.sh
# runs it after its host fleet finished the rollout).
#
# Needs the host build (build/tools/nacre/nacre), build-a7 (its initrd) and
# boards/qemu-virt-a7/setup.sh done. Prints one line per step ("a7: ..."),
# the agent's progress from the VM console, then `nacre svc devices show`.
# Exit 0 only if the phase reached its goal (join: attested; update and all:
# attested on V2 with the update confirmed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nacre="$root/build/tools/nacre/nacre"
kernel="$here/cache/vmlinuz"
initrd="$root/build-a7/boards/qemu-virt-a7/tests/initrd.cpio"

say() { echo "a7: $*"; }
die() { echo "a7: FAILED: $*" >&2; exit 1; }

url=${NACRE_SERVICE:-} token=${NACRE_TOKEN:-} group="" rootpub="" v1="" v2=""
label=a7-1 work="" wait=180 phase=all
while [ $# -gt 0 ]; do
  case "$1" in
    --phase) phase=$2 ;;
    --service) url=$2 ;;
    --token) token=$2 ;;
    --group) group=$2 ;;
    --root-pub) rootpub=$2 ;;
    --v1) v1=$2 ;;
    --v2) v2=$2 ;;
    --label) label=$2 ;;
    --dir) work=$2 ;;
    --wait) wait=$2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fleet-device.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift 2 || { echo "fleet-device.sh: $1 wants a value" >&2; exit 2; }
done
usage() { echo "fleet-device.sh: $*" >&2; exit 2; }
[ -n "$url" ] && [ -n "$token" ] && [ -n "$group" ] && [ -n "$rootpub" ] && [ -n "$v1" ] && \
  [ -n "$v2" ] || usage "--service, --token, --group, --root-pub, --v1, --v2 are required"
case "$phase" in join|update|all) ;; *) usage "--phase is join, update or all" ;; esac
[ -n "$work" ] || [ "$phase" = all ] || usage "--phase $phase needs --dir (shared by the phases)"
case "$wait" in ''|*[!0-9]*) usage "--wait wants seconds" ;; esac
port=$(printf '%s\n' "$url" | sed -n 's|^http://127\.0\.0\.1:\([0-9][0-9]*\)/*$|\1|p')
[ -n "$port" ] || die "--service must be http://127.0.0.1:PORT (the channel reaches 127.0.0.1 only), not $url"
for f in "$nacre" "$kernel" "$initrd" "$rootpub" "$v1" "$v2"; do
  [ -e "$f" ] || die "$f is missing (host build: ninja -C build; the board: boards/qemu-virt-a7/test.sh)"
done
command -v qemu-system-arm >/dev/null || die "qemu-system-arm missing: boards/qemu-virt-a7/setup.sh"
debugfs=$(command -v debugfs || echo /sbin/debugfs)
mkfs=$(command -v mkfs.ext4 || echo /sbin/mkfs.ext4)
export NACRE_SERVICE="$url" NACRE_TOKEN="$token"

version_of() { "$nacre" image inspect "$1" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])'; }
v1_version=$(version_of "$v1")
v2_version=$(version_of "$v2")

work=${work:-$(mktemp -d "${TMPDIR:-/tmp}/nacre-a7-device-XXXXXX")}
mkdir -p "$work"
work=$(cd "$work" && pwd)
disk="$work/disk.img"

# One boot; the console goes to $work/console-TAG.txt, the NACRE lines to
# the terminal. Fails unless the VM reached its verdict with no failed step.
boot() { # TAG [--port PORT] KERNEL-ARGS...
  local tag=$1 t0 done_line
  shift
  t0=$(date +%s.%N)
  timeout 300 sh "$here/run-vm.sh" "$kernel" "$initrd" "$disk" "$@" "nacre.tag=$tag" \
    > "$work/console-$tag.txt" 2>&1 || true
  grep -E '^NACRE-(RESULT|AGENT) ' "$work/console-$tag.txt" | \
    sed -e 's/^NACRE-AGENT agent: /    agent: /' -e 's/^NACRE-RESULT /    step: /' || true
  done_line=$(grep -E '^NACRE-DONE ' "$work/console-$tag.txt" || true)
  say "boot $tag: $(python3 -c 'import sys, time; print("%.1f s" % (time.time() - float(sys.argv[1])))' "$t0")" \
      "(${done_line:-no verdict: see $work/console-$tag.txt})"
  [ "$(echo "$done_line" | awk '{print $3}')" = 0 ] || \
    die "boot $tag: a step failed or the VM hung (console: $work/console-$tag.txt)"
}

# The service's view: STATE VERSION UPDATE-VERSION UPDATE-STATUS
state() { "$nacre" svc devices show "$dev_id" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
u = d.get("update") or {}
print(d["state"], d.get("version") or "-", u.get("version") or "-", u.get("status") or "-")'; }

nboot=0
[ -f "$work/boots" ] && nboot=$(cat "$work/boots")
agent_boot() {
  nboot=$((nboot + 1))
  echo "$nboot" > "$work/boots"
  say "boot $nboot: the device agent, through the QEMU channel to 127.0.0.1:$port"
  boot "a7-$nboot" --port "$port" "nacre.agent=http://10.0.2.100:80"
  read -r st ver uver ustatus <<EOF
$(state)
EOF
  say "service: $st, running $ver, update ${uver/-/none} ${ustatus/-/}"
}
on_v2() { [ "$st" = attested ] && [ "$ver" = "$v2_version" ] && [ "$ustatus" = confirmed ]; }

if [ "$phase" != update ]; then
  [ ! -e "$disk" ] || die "$work already holds a device (disk.img): another --dir"
  mkdir -p "$work/stage/in"
  cp "$rootpub" "$work/stage/in/root.pub"
  cp "$v1" "$work/stage/in/fw-v1.img"
  "$mkfs" -q -F -L nacre -d "$work/stage" "$disk" 64M >/dev/null
  say "an A7 device (QEMU virt, Cortex-A7) joins group '$group' of $url; work files in $work"
  say "boot 1: provision (UDS drawn in the VM, root-key hash of $(basename "$rootpub")), install and confirm $v1_version"
  nboot=1
  echo 1 > "$work/boots"
  boot a7-1 "nacre.do=provision,install:fw-v1.img,boot,confirm,pubkey"
  pub=$("$debugfs" -R "cat /out/a7-1-5-pubkey.json" "$disk" 2>/dev/null | \
        python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["public_key"], d["device_id"])') || \
    die "cannot read the DeviceID key from the disk"
  pubkey=${pub% *} dev_id=${pub#* }
  echo "$dev_id" > "$work/device-id"
  say "DeviceID key $pubkey (device id ${dev_id:0:12}…)"
  say "claim it: nacre svc devices claim --pubkey ${pubkey:0:12}… --group $group --label $label"
  "$nacre" svc devices claim --pubkey "$pubkey" --group "$group" --label "$label" >/dev/null
  agent_boot
  [ "$st" = attested ] || die "the device did not attest (service: $st)"
  if [ -n "$("$debugfs" -R "cat /dev/agent-cert.pem" "$disk" 2>/dev/null)" ]; then
    "$debugfs" -R "cat /dev/agent-cert.pem" "$disk" 2>/dev/null > "$work/agent-cert.pem"
    "$debugfs" -R "cat /dev/agent-ca.pem" "$disk" 2>/dev/null > "$work/agent-ca.pem"
    say "its certificate: $(openssl verify -CAfile "$work/agent-ca.pem" "$work/agent-cert.pem" 2>&1 | sed "s|$work/||")," \
        "$(openssl x509 -in "$work/agent-cert.pem" -noout -subject -enddate | tr '\n' ' ')"
  fi
  if [ "$phase" = join ]; then
    say "OK: joined, attested on $ver"
    exit 0
  fi
else
  [ -f "$work/device-id" ] && [ -e "$disk" ] || die "no device in $work: run --phase join first"
  dev_id=$(cat "$work/device-id")
  say "the A7 device ${dev_id:0:12}… (work files in $work) waits for $v2_version from $url"
  read -r st ver uver ustatus <<EOF
$(state)
EOF
fi

deadline=$(( $(date +%s) + wait ))
tries=0
until on_v2; do
  [ "$(date +%s)" -lt "$deadline" ] || die "not on $v2_version after $wait s (service: $st $ver, update $uver $ustatus; an update is offered only while the deployment rolls and the device's wave is open)"
  if [ "$tries" -gt 0 ]; then
    say "not offered $v2_version yet (its wave is not open?): booting again in 5 s"
    sleep 5
  fi
  tries=$((tries + 1))
  agent_boot
done
"$nacre" svc devices show "$dev_id" | sed 's/^/    /'
say "OK: the A7 device took $v2_version from the service and confirmed it"
