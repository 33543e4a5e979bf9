"""Boot-partition files that make a freshly flashed card come up running a bundle, offline.

Raspberry Pi Imager writes cloud-init ``user-data``/``network-config``/``meta-data`` to the
boot partition; Raspberry Pi OS trixie and Ubuntu for the Pi run cloud-init at first boot.
:func:`write_boot_files` writes, into ``OUT`` (copy its contents onto the boot partition,
``/boot/firmware`` on a running system)::

    user-data            #cloud-config: a service user, the systemd unit, the first-boot script
    meta-data            instance id (cloud-init's NoCloud source needs the file)
    network-config       leaves networking as it is (DHCP on eth0, optional): nothing waits for it
    edge-sdk/app.tar     the bundle (made with --wheelhouse)
    edge-sdk/SHA256SUMS  sha256 of app.tar, checked before anything is unpacked
    edge-sdk/WHEELS.SHA256SUMS  sha256 of each wheel (from the verified manifest)

At first boot, ``/usr/local/sbin/edge-sdk-firstboot`` (from user-data, run by ``runcmd``)
checks the hashes and the Python version, creates ``/opt/edge-sdk/venv``
(``--system-site-packages``, so apt's picamera2 stays visible), installs the wheels with
``pip --no-index`` (no network), installs the bundle with ``edge-sdk bundle install`` (its
self-test included), and enables ``edge-sdk.service`` (``edge-sdk run --bundle``,
``Restart=on-failure``: the crash-loop rollback's restarts).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import BundleError, OptionsError
from .bundle import verify_bundle
from .manifest import sha256_file

BOOT_DIRS = ("/boot/firmware/edge-sdk", "/boot/edge-sdk")
FIRSTBOOT = "/usr/local/sbin/edge-sdk-firstboot"
UNIT_PATH = "/etc/systemd/system/edge-sdk.service"
_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class BootOptions:
    """``hostname``: set at first boot (None: keep the image's). ``user``: the system user the
    service runs as. ``prefix``: install prefix on the device."""

    hostname: str | None = None
    user: str = "edge"
    prefix: str = "/opt/edge-sdk"

    def __post_init__(self) -> None:
        if self.hostname is not None and not _HOST.match(self.hostname):
            raise OptionsError(f"hostname must be letters, digits and '-' (max 63), got {self.hostname!r}")
        if not _NAME.match(self.user):
            raise OptionsError(f"user must be a POSIX user name, got {self.user!r}")
        if not self.prefix.startswith("/") or any(c in self.prefix for c in " '\"$`\\\n"):
            raise OptionsError(
                f"prefix must be an absolute path without spaces or quotes, got {self.prefix!r}"
            )


def service_unit(options: BootOptions) -> str:
    """The systemd unit that runs the prefix's current release."""
    return f"""[Unit]
Description=edge-sdk pipeline (current release of {options.prefix})
After=local-fs.target
StartLimitIntervalSec=0

[Service]
Type=simple
User={options.user}
SupplementaryGroups=video
Environment=EDGE_SDK_PREFIX={options.prefix}
ExecStart={options.prefix}/venv/bin/edge-sdk run --bundle {options.prefix}
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
"""


def firstboot_script(python: str, extras: list[str], options: BootOptions) -> str:
    """The POSIX sh script that installs everything offline at first boot."""
    dirs = " ".join(BOOT_DIRS)
    spec = f"edge-sdk[{','.join(extras)}]" if extras else "edge-sdk"
    p = options.prefix
    return f"""#!/bin/sh
# edge-sdk first boot: offline install of the bundle on the boot partition
set -eu
PREFIX={p}
BOOT=""
for d in {dirs}; do
    if [ -f "$d/app.tar" ]; then BOOT="$d"; break; fi
done
[ -n "$BOOT" ] || {{ echo "edge-sdk: no edge-sdk/app.tar on the boot partition" >&2; exit 1; }}
cd "$BOOT"
sha256sum -c --quiet SHA256SUMS
want="{python}"
have=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$have" != "$want" ]; then
    echo "edge-sdk: the wheelhouse is for Python $want, this system has Python $have" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xf "$BOOT/app.tar" -C "$work" --no-same-owner --no-same-permissions wheelhouse
(cd "$work" && sha256sum -c --quiet "$BOOT/WHEELS.SHA256SUMS")
mkdir -p "$PREFIX"
# without ensurepip (no python3-venv), fall back to the system's pip (python3-pip)
python3 -m venv --system-site-packages "$PREFIX/venv" || python3 -m venv --without-pip --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/python" -m pip install --no-index --find-links "$work/wheelhouse" "{spec}"
"$PREFIX/venv/bin/edge-sdk" bundle install "$BOOT/app.tar" --prefix "$PREFIX"
chown -R {options.user}: "$PREFIX"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now edge-sdk.service
else
    systemctl enable edge-sdk.service
fi
echo "edge-sdk: installed; edge-sdk.service enabled"
"""


def _block(text: str, indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + line if line else "" for line in text.splitlines())


def user_data(python: str, extras: list[str], options: BootOptions, bundle_id: str, target: str) -> str:
    """The ``#cloud-config`` document (YAML)."""
    lines = [
        "#cloud-config",
        f"# edge-sdk bundle {bundle_id}; wheels for {target}, Python {python}",
    ]
    if options.hostname:
        lines += [f"hostname: {options.hostname}", "preserve_hostname: false"]
    lines += [
        "users:",
        "  - default",
        f"  - name: {options.user}",
        "    system: true",
        "    groups: [video]",
        "    shell: /usr/sbin/nologin",
        "    lock_passwd: true",
        "write_files:",
        f"  - path: {UNIT_PATH}",
        "    owner: root:root",
        "    permissions: '0644'",
        "    content: |",
        _block(service_unit(options), 6),
        f"  - path: {FIRSTBOOT}",
        "    owner: root:root",
        "    permissions: '0755'",
        "    content: |",
        _block(firstboot_script(python, extras, options), 6),
        "runcmd:",
        f"  - [{FIRSTBOOT}]",
        "",
    ]
    return "\n".join(lines)


def write_boot_files(bundle: str | Path, out: str | Path, options: BootOptions | None = None) -> list[Path]:
    """Verify ``bundle`` and write the boot-partition files into ``out`` (see the module
    docstring); returns the paths written.

    Raises:
        BundleError: the bundle is invalid or has no wheelhouse (first boot has no network).
    """
    opts = options or BootOptions()
    manifest = verify_bundle(bundle)
    wh = manifest.wheelhouse
    wheels = sorted(n for n in manifest.files if n.startswith("wheelhouse/"))
    if not wh or not wheels:
        raise BundleError(
            f"bundle {manifest.id} has no wheelhouse; a card boots offline: make it with "
            "'edge-sdk bundle create --wheelhouse'"
        )
    python = str(wh.get("python", "3.11"))
    extras = [str(e) for e in wh.get("extras", [])]
    dest = Path(out)
    folder = dest / "edge-sdk"
    folder.mkdir(parents=True, exist_ok=True)
    tar = folder / "app.tar"
    shutil.copyfile(bundle, tar)
    (folder / "SHA256SUMS").write_text(f"{sha256_file(tar)}  app.tar\n")
    (folder / "WHEELS.SHA256SUMS").write_text("".join(f"{manifest.files[n].sha256}  {n}\n" for n in wheels))
    (dest / "user-data").write_text(user_data(python, extras, opts, manifest.id, str(wh.get("os", "?"))))
    (dest / "meta-data").write_text(f"instance-id: edge-sdk-{manifest.id}\n")
    (dest / "network-config").write_text(
        "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      optional: true\n"
    )
    return [dest / "user-data", dest / "meta-data", dest / "network-config", tar, folder / "SHA256SUMS",
            folder / "WHEELS.SHA256SUMS"]  # fmt: skip
