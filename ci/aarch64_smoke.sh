#!/usr/bin/env bash
# Device-install smoke: prove the BASE install (`pip install edge-sdk`, no extras) runs on a
# Raspberry Pi-class aarch64 Debian (bookworm = Raspberry Pi OS base, Python 3.11; trixie,
# Python 3.13) under qemu user-mode emulation, and on the x86-64 host, for every backend
# version the project claims. No binfmt, no Pi hardware.
#
#   bash ci/aarch64_smoke.sh                 # the whole matrix (what CI runs)
#   AARCH64_SUITES=bookworm bash ci/aarch64_smoke.sh    # one Debian suite only
#   SMOKE_HOST=0 bash ci/aarch64_smoke.sh    # skip the x86-64 host cells
#   SMOKE_QEMU_GAP_CHECK=1 bash ci/aarch64_smoke.sh     # also show the QEMU 7.2 /proc/cpuinfo gap
#   AARCH64_CPUINFO_SHIM=0 bash ci/aarch64_smoke.sh     # no Pi /proc/cpuinfo under QEMU 7.2 (fails)
#   AARCH64_QEMU_CPU=cortex-a76 bash ci/aarch64_smoke.sh # every cell on a Raspberry Pi 5's core
#   SMOKE_PI5=0 bash ci/aarch64_smoke.sh     # skip the extra bookworm cell on a Pi 5 core
#   QEMU=/path/to/qemu-aarch64 bash ci/aarch64_smoke.sh # another QEMU build (e.g. trixie's 10.0)
#
# Per suite: debootstrap's first stage (--foreign) downloads an arm64 minbase + python3; its
# .debs are unpacked with dpkg-deb -x and python3 runs as `qemu-aarch64-static -L ROOT
# ROOT/usr/bin/python3`. Each cell gets its own pip --target install of the dependencies
# declared in pyproject.toml (ci/base_requirements.py) for manylinux aarch64 wheels, plus the
# project wheel (--no-deps), then runs ci/smoke_classify.py.
#
# Roots are cached in ${EDGE_SDK_AARCH64_CACHE:-~/.cache/edge-sdk-aarch64}; with CI=true
# everything is built fresh in a temporary folder that is removed at exit. Needs root (apt-get,
# debootstrap), python3 with venv, and network access to deb.debian.org and PyPI.
# Exit status: 0 when every applicable cell passed, 1 otherwise. A summary table and the time
# of every step are printed at the end.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUITES=${AARCH64_SUITES:-bookworm trixie}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
QEMU_CPU=${AARCH64_QEMU_CPU:-cortex-a72} # the Raspberry Pi 4's core (Pi 5: cortex-a76)
QEMU=${QEMU:-qemu-aarch64-static}        # another qemu-aarch64 binary (e.g. QEMU 10) to compare
SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-300}
HOST_PYTHON=${PYTHON:-python3} # the x86-64 cells' interpreter, and the tools' (needs >= 3.11)
CELLS="litert-newest litert-oldest tflite-runtime"
T0=$(date +%s)

if [ "${CI:-}" = "true" ]; then
  WORK=$(mktemp -d /tmp/edge-sdk-aarch64.XXXXXX)
  echo "aarch64-smoke: CI=true, building everything fresh in $WORK"
else
  WORK=${EDGE_SDK_AARCH64_CACHE:-$HOME/.cache/edge-sdk-aarch64}
  mkdir -p "$WORK"
  echo "aarch64-smoke: local run, Debian roots cached in $WORK (CI=true builds fresh)"
fi
case "$WORK" in "$REPO"/*) echo "aarch64-smoke: work dir must be outside the repo" >&2; exit 2 ;; esac

STEP_NAMES=()
STEP_SECS=()
ROWS=()
FAILED=0

# step NAME CMD...: run CMD, print and record how long it took; a failing step stops the run.
step() {
  local name=$1 start rc=0
  shift
  start=$(date +%s)
  echo "---- $name"
  "$@" || rc=$?
  STEP_NAMES+=("$name")
  STEP_SECS+=("$(($(date +%s) - start))")
  echo "---- $name: $(($(date +%s) - start)) s (rc=$rc)"
  return $rc
}

row() { ROWS+=("$(printf '%s\t' "$@")"); }

print_summary() {
  echo
  echo "==== step timings (s)"
  local i
  for i in "${!STEP_NAMES[@]}"; do printf '%6s  %s\n' "${STEP_SECS[$i]}" "${STEP_NAMES[$i]}"; done
  printf '%6s  %s\n' "$(($(date +%s) - T0))" "TOTAL"
  echo
  echo "==== aarch64 smoke matrix (base install, MobileNet v1 0.5/160 uint8 on parrot.jpg, expect 89 macaw;"
  echo "     aarch64 = QEMU -cpu $QEMU_CPU, except cells marked Pi5 = cortex-a76)"
  {
    printf 'STATUS\tOS\tARCH\tPYTHON\tCELL\tBACKEND\tNUMPY\tOPENCV\tTOP-1\tSMOKE_S\tNOTE\n'
    for i in "${ROWS[@]}"; do printf '%s\n' "$i"; done
  } | "$HOST_PYTHON" -c '
import sys
rows = [line.rstrip("\n").rstrip("\t").split("\t") for line in sys.stdin if line.strip()]
widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(map(len, rows)))]
for r in rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())'
}
trap_exit() {
  local rc=$?
  [ ${#ROWS[@]} -gt 0 ] || [ ${#STEP_NAMES[@]} -gt 0 ] && print_summary
  [ "${CI:-}" = "true" ] && rm -rf "$WORK"
  exit $rc
}
trap trap_exit EXIT

host_tools() {
  local need=()
  command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v dpkg-deb >/dev/null || need+=(dpkg)
  rm -rf "$WORK/tools"
  "$HOST_PYTHON" -m venv "$WORK/tools" >/dev/null 2>&1 || need+=(python3-venv)
  if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "aarch64-smoke: needs root to apt-get install ${need[*]}" >&2; return 1; }
    echo "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || return 1
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || return 1
  fi
  "$QEMU" --version | head -1 || return 1
  [ -x "$WORK/tools/bin/pip" ] || { rm -rf "$WORK/tools" && "$HOST_PYTHON" -m venv "$WORK/tools"; } || return 1
  quiet_pip "$WORK/tools.log" "$WORK/tools/bin/pip" install --disable-pip-version-check packaging
}

build_wheel() {
  rm -rf "$WORK/wheel"
  quiet_pip "$WORK/wheel.log" "$WORK/tools/bin/pip" wheel --no-deps --disable-pip-version-check \
    -w "$WORK/wheel" "$REPO" || return 1
  ls "$WORK"/wheel/edge_sdk-*.whl
}

# root_ok ROOT: the cached root has a runnable aarch64 python3.
root_ok() { [ -x "$1/usr/bin/python3" ] && "$QEMU" -L "$1" "$1/usr/bin/python3" -c 'pass' 2>/dev/null; }

build_root() {
  local suite=$1 root=$WORK/roots/$1
  if [ "${CI:-}" != "true" ] && root_ok "$root"; then
    echo "reusing cached root $root"
    return 0
  fi
  rm -rf "$root"
  mkdir -p "$WORK/roots"
  debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 "$suite" "$root" "$MIRROR" >"$WORK/debootstrap-$suite.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap-$suite.log"; return 1; }
  local deb
  for deb in "$root"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done
  root_ok "$root"
}

# QEMU before 8.x passes the HOST's /proc/cpuinfo (x86 text) to the guest; ai-edge-litert >= 2.0
# (its bundled cpuinfo library) then crashes in cpuinfo_arm_linux_init. A real Pi kernel gives
# ARM text, so give the guest what a Raspberry Pi 4 shows: qemu -L serves ROOT/proc/cpuinfo for
# /proc/cpuinfo when that file exists. See docs/portability.md.
cpuinfo_shim() {
  local root=$1 n
  rm -f "$root/proc/cpuinfo"
  if "$QEMU" -L "$root" "$root/bin/cat" /proc/cpuinfo | grep -q '^CPU implementer'; then
    echo "qemu emulates an ARM /proc/cpuinfo itself; no shim"
    return 0
  fi
  if [ "${AARCH64_CPUINFO_SHIM:-1}" = 0 ]; then
    echo "AARCH64_CPUINFO_SHIM=0: the guest sees the host's x86 /proc/cpuinfo (ai-edge-litert >= 2.2 will crash)"
    return 0
  fi
  n=$(getconf _NPROCESSORS_CONF)
  # What the Pi's own kernel prints: Pi 5 (BCM2712, Cortex-A76) when emulating that core,
  # otherwise Pi 4 (BCM2711, Cortex-A72).
  local features="fp asimd evtstrm crc32 cpuid" variant=0x0 part=0xd08 revision=3 model="Raspberry Pi 4 Model B"
  if [ "$QEMU_CPU" = cortex-a76 ]; then
    features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
    variant=0x4 part=0xd0b revision=1 model="Raspberry Pi 5 Model B"
  fi
  mkdir -p "$root/proc"
  {
    for ((i = 0; i < n; i++)); do
      printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\n' "$i" "$features"
      printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
        "$variant" "$part" "$revision"
    done
    printf 'Model\t\t: %s (emulated by edge_sdk ci/aarch64_smoke.sh)\n' "$model"
  } >"$root/proc/cpuinfo"
  echo "qemu passes the host's x86 /proc/cpuinfo through; serving a $model one (CPU part $part) from $root/proc/cpuinfo"
}

# quiet_pip LOG PIP ARGS...: run pip, show its output only when it fails.
quiet_pip() {
  local log=$1 rc=0
  shift
  "$@" >"$log" 2>&1 || rc=$?
  [ $rc -eq 0 ] || { grep -v "^WARNING: Location" "$log" | tail -25; }
  return $rc
}

# install_cell DIR PYVER MACHINE CELL VENV [pip platform args...]: the cell's base requirements
# and then the project wheel (--no-deps). With VENV="" they go to DIR/deps and DIR/proj with
# pip --target (cross-platform); otherwise into that venv, as a user would install.
install_cell() {
  local dir=$1 pyver=$2 machine=$3 cell=$4 venv=$5 rc=0
  shift 5
  rm -rf "$dir"
  mkdir -p "$dir"
  "$WORK/tools/bin/python" "$REPO/ci/base_requirements.py" --python "$pyver" --machine "$machine" --cell "$cell" \
    >"$dir/requirements.txt" 2>"$dir/na.txt" || rc=$?
  [ $rc -eq 0 ] || { cat "$dir/na.txt"; return $rc; }
  echo "requirements: $(tr '\n' ' ' <"$dir/requirements.txt")"
  if [ -z "$venv" ]; then
    quiet_pip "$dir/pip.log" "$WORK/tools/bin/pip" install --disable-pip-version-check --target "$dir/deps" "$@" \
      -r "$dir/requirements.txt" || return 1
    quiet_pip "$dir/pip-proj.log" "$WORK/tools/bin/pip" install --disable-pip-version-check --no-deps \
      --target "$dir/proj" "$WORK"/wheel/edge_sdk-*.whl || return 1
  else
    quiet_pip "$dir/pip.log" "$venv/bin/pip" install --disable-pip-version-check -r "$dir/requirements.txt" || return 1
    quiet_pip "$dir/pip-proj.log" "$venv/bin/pip" install --disable-pip-version-check --no-deps \
      "$WORK"/wheel/edge_sdk-*.whl || return 1
    ln -sfn "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" "$dir/deps"
    ln -sfn "$venv" "$dir/proj"
  fi
  grep -h -o -E "Successfully installed .*" "$dir"/pip*.log | cut -c1-400 || true
}

dist_version() { # dist_version DEPS_DIR DIST_UNDERSCORED
  local d
  d=$(ls -d "$1/$2"-*.dist-info 2>/dev/null | head -1) || true
  [ -n "$d" ] && basename "$d" .dist-info | sed "s/^$2-//"
}

# run_smoke LABEL OS DEPS PROJ BACKEND VERSION CMD...: run ci/smoke_classify.py, add a table row.
run_smoke() {
  local label=$1 os=$2 deps=$3 proj=$4 backend=$5 version=$6 rc=0 log json
  shift 6
  log=$WORK/logs/${label//\//-}.log
  mkdir -p "$WORK/logs"
  local forced=""
  [ "$backend" = tflite_runtime ] && forced=$backend # ai-edge-litert cells test the automatic choice
  local pypath="$proj:$deps"
  [ -L "$proj" ] && pypath="" # a venv: nothing on PYTHONPATH
  (cd "$WORK" && PYTHONPATH="$pypath" EDGE_SDK_BACKEND="$forced" timeout "$SMOKE_TIMEOUT" "$@" -s \
    "$REPO/ci/smoke_classify.py" --expect-backend "$backend" --expect-version "$version" \
    --expect-prefix "$(readlink -f "$proj")" --label "$label") >"$log" 2>&1 || rc=$?
  grep -v '^SMOKE_JSON' "$log" | grep -v "^INFO: Created TensorFlow Lite" || true
  json=$(grep '^SMOKE_JSON ' "$log" | tail -1 | cut -d' ' -f2-) || true
  add_row "$label" "$os" "$rc" "$json"
  return $rc
}

add_row() { # add_row LABEL OS RC JSON
  local label=$1 os=$2 rc=$3 json=$4
  if [ -z "$json" ]; then
    local why="no result (exit $rc)"
    [ "$rc" -ge 128 ] && why="crashed with signal $((rc - 128))"
    [ "$rc" -eq 124 ] && why="timed out after ${SMOKE_TIMEOUT} s"
    row FAIL "$os" "$CUR_MACHINE" "$CUR_PYTHON" "${label#*/}" "$BACKEND_DESC" "?" "?" "-" "-" "$why"
    FAILED=1
    return
  fi
  local fields
  fields=$("$WORK/tools/bin/python" -c '
import json, sys
r = json.loads(sys.argv[1])
note = "; ".join(r["failures"]) or ("tensorflow never imported" if not r["tensorflow_imported"] else "")
print("\t".join([r["status"], r["arch"], r["python"], r["backend"] + " " + r["backend_version"],
                 r.get("numpy", "?"), r.get("opencv", "?"), r.get("top1", "-"), str(r["elapsed_s"]), note]))' "$json")
  IFS=$'\t' read -r st arch py be np cv top secs note <<<"$fields"
  row "$st" "$os" "$arch" "$py" "${label#*/}" "$be" "$np" "$cv" "$top" "$secs" "$note"
  [ "$st" = PASS ] || [ "$st" = SKIP ] || FAILED=1
}

backend_of() { case $1 in tflite-runtime) echo tflite_runtime ;; *) echo ai_edge_litert ;; esac; }
dist_of() { case $1 in tflite-runtime) echo tflite_runtime ;; *) echo ai_edge_litert ;; esac; }

# do_cell: install + smoke one cell; N/A row when the cell has no wheel for that Python.
do_cell() { # do_cell LABEL OS PYVER MACHINE CELL DIR VENV RUNNER... -- PIPARGS...
  local label=$1 os=$2 pyver=$3 machine=$4 cell=$5 dir=$6 venv=$7 rc=0
  shift 7
  local runner=() pipargs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do runner+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  pipargs=("$@")
  BACKEND_DESC=$(backend_of "$cell")
  CUR_MACHINE=$machine
  CUR_PYTHON=$pyver
  step "$label: pip install (base + $cell)" install_cell "$dir" "$pyver" "$machine" "$cell" "$venv" "${pipargs[@]}" || rc=$?
  if [ $rc -eq 4 ]; then
    row "N/A" "$os" "$machine" "$pyver" "$cell" "$BACKEND_DESC" "-" "-" "-" "-" "$(cat "$dir/na.txt")"
    return 0
  elif [ $rc -ne 0 ]; then
    row FAIL "$os" "$machine" "$pyver" "$cell" "$BACKEND_DESC" "-" "-" "-" "-" "pip install failed"
    FAILED=1
    return 0
  fi
  local version
  version=$(dist_version "$dir/deps" "$(dist_of "$cell")")
  BACKEND_DESC="$BACKEND_DESC $version"
  step "$label: smoke" run_smoke "$label" "$os" "$dir/deps" "$dir/proj" "$(backend_of "$cell")" "$version" "${runner[@]}" || true
}

step "host tools (apt-get if missing, tool venv)" host_tools
step "build edge_sdk wheel (host pip)" build_wheel

for suite in $SUITES; do
  root=$WORK/roots/$suite
  step "$suite: arm64 root (debootstrap --foreign + dpkg-deb -x)" build_root "$suite"
  cpuinfo_shim "$root"
  read -r pyver glibc < <("$QEMU" -L "$root" "$root/usr/bin/python3" -c \
    'import os, sys; print("%d.%d" % sys.version_info[:2], os.confstr("CS_GNU_LIBC_VERSION").split()[1])')
  echo "$suite: Python $pyver, glibc $glibc"
  plat=(--platform manylinux2014_aarch64)
  for ((m = 17; m <= ${glibc#2.}; m++)); do plat+=(--platform "manylinux_2_${m}_aarch64"); done
  os="Debian $suite"
  for cell in $CELLS; do
    do_cell "$suite/$cell" "$os" "$pyver" aarch64 "$cell" "$WORK/site/$suite-$cell" "" \
      "$QEMU" -cpu "$QEMU_CPU" -L "$root" "$root/usr/bin/python3" -- \
      "${plat[@]}" --python-version "$pyver" --implementation cp --only-binary=:all:
  done
  if [ "$suite" = bookworm ] && [ "${SMOKE_PI5:-1}" = 1 ] && [ "$QEMU_CPU" != cortex-a76 ] &&
    [ -d "$WORK/site/$suite-litert-newest/deps" ]; then
    # The same install on a Raspberry Pi 5's core: XNNPACK then takes its dot-product kernels.
    dir=$WORK/site/$suite-litert-newest
    v=$(dist_version "$dir/deps" ai_edge_litert)
    saved_cpu=$QEMU_CPU
    QEMU_CPU=cortex-a76
    cpuinfo_shim "$root"
    BACKEND_DESC="ai_edge_litert $v" CUR_MACHINE=aarch64 CUR_PYTHON=$pyver
    step "$suite/litert-newest/Pi5: smoke (-cpu cortex-a76)" run_smoke "$suite/litert-newest/Pi5" "$os" \
      "$dir/deps" "$dir/proj" ai_edge_litert "$v" "$QEMU" -cpu cortex-a76 -L "$root" "$root/usr/bin/python3" || true
    QEMU_CPU=$saved_cpu
    cpuinfo_shim "$root"
  fi
  if [ "${SMOKE_QEMU_GAP_CHECK:-0}" = 1 ] && [ -f "$root/proc/cpuinfo" ]; then
    # Evidence for docs/portability.md: the newest ai-edge-litert without the shim.
    mv "$root/proc/cpuinfo" "$root/proc/cpuinfo.pi4"
    dir=$WORK/site/$suite-litert-newest
    v=$(dist_version "$dir/deps" ai_edge_litert)
    rc=0
    (cd "$WORK" && PYTHONPATH="$dir/proj:$dir/deps" timeout "$SMOKE_TIMEOUT" "$QEMU" -cpu "$QEMU_CPU" \
      -L "$root" "$root/usr/bin/python3" -s "$REPO/ci/smoke_classify.py") >"$WORK/logs/$suite-gap.log" 2>&1 || rc=$?
    mv "$root/proc/cpuinfo.pi4" "$root/proc/cpuinfo"
    grep -E "Fatal|File|smoke: (backend|top-1|PASS)" "$WORK/logs/$suite-gap.log" | head -8 || true
    note="host /proc/cpuinfo passed through: exit $rc"
    [ $rc -ge 128 ] && note="host /proc/cpuinfo passed through: crashed with signal $((rc - 128)), as expected with this QEMU"
    row INFO "$os" aarch64 "$pyver" "gap-check" "ai_edge_litert $v" "-" "-" "-" "-" "$note"
  fi
done

if [ "${SMOKE_HOST:-1}" = 1 ]; then
  hostos=$(. /etc/os-release && echo "$PRETTY_NAME" | sed 's/GNU\/Linux //')
  hostpy=$("$HOST_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  for cell in $CELLS; do
    venv=$WORK/host/$cell
    step "host/$cell: fresh venv" bash -c "rm -rf '$venv' && '$HOST_PYTHON' -m venv '$venv'"
    do_cell "host/$cell" "$hostos" "$hostpy" "$(uname -m)" "$cell" "$WORK/site/host-$cell" "$venv" "$venv/bin/python"
  done
fi

[ $FAILED -eq 0 ] && echo "aarch64-smoke: PASS" || echo "aarch64-smoke: FAIL"
exit $FAILED
