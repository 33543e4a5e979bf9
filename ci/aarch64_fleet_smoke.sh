#!/usr/bin/env bash
# Flash-and-go smoke: the first-boot install of `edge-sdk bundle boot-files`, in an aarch64
# Debian bookworm root (Raspberry Pi OS's base, Python 3.11) under qemu user-mode emulation,
# with the network cut off (unshare -n) for every install step.
#
#   bash ci/aarch64_fleet_smoke.sh [WORK]     # WORK: where the root and files go (default: a temp dir)
#
# Online part (needs deb.debian.org and PyPI): debootstrap --foreign an arm64 minbase with
# python3, python3-venv and python3-pip (its .debs unpacked with dpkg-deb -x, as
# ci/aarch64_smoke.sh does), then `edge-sdk bundle create --wheelhouse` (aarch64 wheels for
# bookworm/Python 3.11) and `edge-sdk bundle boot-files`.
#
# Offline part, the steps of the first-boot script in user-data, one by one:
#   1. sha256sum -c the bundle and the wheels (as the script does);
#   2. cloud-init's write_files: the unit lands in ROOT/etc/systemd/system, and
#      `systemctl --root ROOT enable` links it where systemd reads it at boot;
#   3. the aarch64 python3 makes the venv (--system-site-packages) and pip installs
#      edge-sdk[mqtt,fleet] from the wheelhouse with --no-index;
#   4. the venv's edge-sdk runs `bundle install` (verify + self-test on the emulated CPU),
#      then `bundle self-test` on the installed release.
# The script itself is not run as one piece: without binfmt_misc, qemu user mode cannot exec
# a child aarch64 process (venv's ensurepip does), so the venv is made --without-pip and the
# root's own pip (python3-pip, visible through --system-site-packages) installs into it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${1:-$(mktemp -d /tmp/edge-sdk-fleet-smoke.XXXXXX)}
ASSETS=${EDGE_SDK_ASSETS:-$REPO/../shared/assets}
PY=${PYTHON:-python3}
QEMU=${QEMU:-qemu-aarch64-static}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=$WORK/root
mkdir -p "$WORK"
T0=$(date +%s)
say() { echo "---- [$(($(date +%s) - T0)) s] $*"; }
offline() { unshare -n -- "$@"; }
guest() { "$QEMU" -cpu cortex-a72 -L "$ROOT" "$@"; }

say "arm64 bookworm root"
if ! guest "$ROOT/usr/bin/python3" -c pass 2>/dev/null; then
  rm -rf "$ROOT"
  debootstrap --foreign --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip \
    bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 1; }
  for deb in "$ROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
fi
guest "$ROOT/usr/bin/python3" -c 'import platform, sys; print("guest:", platform.machine(), sys.version.split()[0])'
# QEMU 7.2 shows the host's x86 /proc/cpuinfo to the guest; ai-edge-litert then crashes. Serve a
# Raspberry Pi 4's (see ci/aarch64_smoke.sh and docs/portability.md).
if ! guest "$ROOT/bin/cat" /proc/cpuinfo | grep -q '^CPU implementer'; then
  mkdir -p "$ROOT/proc"
  for ((i = 0; i < $(getconf _NPROCESSORS_CONF); i++)); do
    printf 'processor\t: %d\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n' "$i"
    printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
  done >"$ROOT/proc/cpuinfo"
fi

say "bundle with an aarch64 wheelhouse, and boot files"
cat >"$WORK/run.json" <<EOF
{"task": "classify", "model": "$ASSETS/classification/mobilenet_v1_0.5_160_quant.tflite",
 "labels": "$ASSETS/classification/imagenet_labels.txt", "source": "usb:0", "sink": "jsonl:-"}
EOF
if [ ! -s "$WORK/app.tar" ]; then
  PYTHONPATH=$REPO "$PY" -m edge_sdk.cli.main bundle create --config "$WORK/run.json" --output "$WORK/app.tar" \
    --sample "$ASSETS/classification/images/parrot.jpg" --wheelhouse --target bookworm
fi
rm -rf "$WORK/bootfs"
PYTHONPATH=$REPO "$PY" -m edge_sdk.cli.main bundle boot-files "$WORK/app.tar" --out "$WORK/bootfs" --hostname cam-1
# the card: its boot partition, as the running system mounts it
rm -rf "$ROOT/boot/firmware" "$ROOT/opt/edge-sdk" "$ROOT/etc/systemd/system/edge-sdk.service" \
  "$ROOT/etc/systemd/system/multi-user.target.wants/edge-sdk.service"
mkdir -p "$ROOT/boot/firmware"
cp -r "$WORK/bootfs/." "$ROOT/boot/firmware/"

say "offline from here: network namespace without interfaces"
offline "$PY" -c 'import socket; socket.create_connection(("deb.debian.org", 80), timeout=3)' 2>/dev/null &&
  { echo "the network is still reachable" >&2; exit 1; }

say "1. checksums"
(cd "$ROOT/boot/firmware/edge-sdk" && sha256sum -c --quiet SHA256SUMS)
WH=$WORK/unpacked
rm -rf "$WH" && mkdir -p "$WH"
tar -xf "$ROOT/boot/firmware/edge-sdk/app.tar" -C "$WH" --no-same-owner --no-same-permissions wheelhouse
(cd "$WH" && sha256sum -c --quiet "$ROOT/boot/firmware/edge-sdk/WHEELS.SHA256SUMS")

say "2. write_files from user-data; enable the unit"
"${YAML_PYTHON:-/usr/bin/python3}" - "$ROOT/boot/firmware/user-data" "$ROOT" <<'EOF'
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for f in doc["write_files"]:
    path = sys.argv[2] + f["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        out.write(f["content"])
    os.chmod(path, int(f["permissions"], 8))
    print("wrote", f["path"])
EOF
offline systemctl --root "$ROOT" enable edge-sdk.service
test -L "$ROOT/etc/systemd/system/multi-user.target.wants/edge-sdk.service"
grep -q "ExecStart=/opt/edge-sdk/venv/bin/edge-sdk run --bundle /opt/edge-sdk" "$ROOT/etc/systemd/system/edge-sdk.service"

say "3. venv + pip --no-index from the wheelhouse (aarch64 python3 under qemu)"
V=$ROOT/opt/edge-sdk/venv
offline "$QEMU" -cpu cortex-a72 -L "$ROOT" "$ROOT/usr/bin/python3" -m venv --without-pip --copies --system-site-packages "$V"
offline "$QEMU" -cpu cortex-a72 -L "$ROOT" "$V/bin/python3" -m pip install --no-index --find-links "$WH/wheelhouse" \
  --disable-pip-version-check --no-compile -q "edge-sdk[mqtt,fleet]"
offline "$QEMU" -cpu cortex-a72 -L "$ROOT" "$V/bin/python3" -c \
  'import edge_sdk, numpy, cv2, ai_edge_litert, cryptography, paho.mqtt; print("venv ok: edge_sdk", edge_sdk.__version__, "numpy", numpy.__version__, "cv2", cv2.__version__)'

say "4. bundle install (verify + self-test) and self-test, on the emulated Cortex-A72"
offline "$QEMU" -cpu cortex-a72 -L "$ROOT" "$V/bin/python3" -m edge_sdk.cli.main bundle install \
  "$ROOT/boot/firmware/edge-sdk/app.tar" --prefix "$ROOT/opt/edge-sdk" --json
offline "$QEMU" -cpu cortex-a72 -L "$ROOT" "$V/bin/python3" -m edge_sdk.cli.main bundle self-test \
  --prefix "$ROOT/opt/edge-sdk" --json
offline "$QEMU" -cpu cortex-a72 -L "$ROOT" "$V/bin/python3" -m edge_sdk.cli.main bundle list --prefix "$ROOT/opt/edge-sdk"
say "PASS: offline first-boot install in the aarch64 bookworm root"
