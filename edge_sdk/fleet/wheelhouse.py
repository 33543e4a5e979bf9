"""Wheels for an offline install on the device: edge_sdk and its dependencies for aarch64.

The default target is **Raspberry Pi OS bookworm (Debian 12) on a 64-bit Pi: CPython 3.11,
glibc 2.36, aarch64**. ``WheelhouseTarget.trixie()`` targets Raspberry Pi OS trixie
(Debian 13): CPython 3.13, glibc 2.41. pip downloads with ``--platform`` and
``--only-binary=:all:`` (no source builds: a Pi without network cannot build them), using
the manylinux tags that glibc accepts.

The download needs the package index (or ``--find-links`` DIR with ``--no-index``); CI has no
network, so its tests use a local wheel folder.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError


@dataclass(frozen=True)
class WheelhouseTarget:
    """The device's Python: ``python`` (X.Y), ``glibc`` (X.Y), ``os`` (for the record)."""

    python: str = "3.11"
    glibc: str = "2.36"
    os: str = "Raspberry Pi OS bookworm (Debian 12), 64-bit"
    extras: tuple[str, ...] = field(default=("mqtt", "fleet"))

    @classmethod
    def trixie(cls) -> WheelhouseTarget:
        return cls(python="3.13", glibc="2.41", os="Raspberry Pi OS trixie (Debian 13), 64-bit")

    def platforms(self) -> list[str]:
        """pip ``--platform`` tags: every manylinux_2_N_aarch64 up to the target's glibc."""
        top = int(self.glibc.split(".")[1])
        tags = [f"manylinux_2_{n}_aarch64" for n in range(top, 16, -1)]
        return [*tags, "manylinux2014_aarch64", "linux_aarch64"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "glibc": self.glibc,
            "os": self.os,
            "platforms": self.platforms(),
            "extras": list(self.extras),
        }


def project_root() -> Path | None:
    """The source checkout edge_sdk runs from (has pyproject.toml), if any."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BundleError(f"pip {args[0]} failed (exit {proc.returncode}): {' | '.join(tail)}")


def build_wheelhouse(
    out: str | Path,
    target: WheelhouseTarget,
    source: str | None = "download",
    find_links: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Wheels for ``target``: returns their folder and a record for the manifest.

    ``source``: a folder of ready wheels (used as is), or ``"download"``: into ``out``
    (created), build edge_sdk's own wheel from the checkout and ``pip download`` its
    dependencies for the target platform (``find_links``: a local folder; with it pip is run with ``--no-index``).

    Raises:
        BundleError: pip failed (message: pip's last lines), or no wheel came out.
    """
    if source not in (None, "download"):
        dest = Path(source)
        if not any(dest.glob("*.whl")):
            raise BundleError(f"wheelhouse {dest}: expected .whl files, found none")
    else:
        dest = Path(out)
        dest.mkdir(parents=True, exist_ok=True)
        root = project_root()
        if root is None:
            raise BundleError("building the edge_sdk wheel needs the source checkout (pyproject.toml)")
        _pip("wheel", "--no-deps", "-w", str(dest), str(root))
        own = sorted(dest.glob("edge_sdk-*.whl"))
        if not own:
            raise BundleError(f"pip wheel wrote no edge_sdk wheel into {dest}")
        args = ["download", "--dest", str(dest), "--only-binary=:all:", "--implementation", "cp",
                "--python-version", target.python]  # fmt: skip
        for plat in target.platforms():
            args += ["--platform", plat]
        if find_links:
            args += ["--no-index", "--find-links", find_links]
        extras = ",".join(target.extras)
        _pip(*args, f"{own[-1]}[{extras}]" if extras else str(own[-1]))
    names = sorted(w.name for w in dest.glob("*.whl"))
    if not names:
        raise BundleError(f"no wheel in {dest}")
    return dest, {**target.as_dict(), "wheels": names}
