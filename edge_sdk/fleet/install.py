"""Atomic install of bundles into a prefix, with rollback and crash-loop protection.

Layout of a prefix (default ``$EDGE_SDK_PREFIX``, else ``/opt/edge-sdk``)::

    PREFIX/releases/<id>/     one folder per installed release (manifest.json, config.json, ...)
    PREFIX/current            symlink -> releases/<id>, switched with one rename(2)
    PREFIX/state.json         activation history and the crash-loop record
    PREFIX/trusted.pub        optional: when present, every bundle must be signed by this key
    PREFIX/.lock              flock(2) held while installing or switching

An install unpacks into ``releases/.staging-*`` (verified member by member), runs the
self-test there, renames the folder to ``releases/<id>`` and only then switches ``current``.
Any failure removes the staging folder: the installed releases and ``current`` are as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BundleError, OptionsError
from .bundle import read_bundle
from .manifest import Manifest
from .selftest import SelfTestReport, read_manifest, self_test

DEFAULT_PREFIX = "/opt/edge-sdk"
TRUSTED_KEY = "trusted.pub"
KEEP_RELEASES = 3
"""Releases kept after an install: the current, the previous and one more; older ones go."""


def default_prefix() -> Path:
    """``$EDGE_SDK_PREFIX``, else ``/opt/edge-sdk``."""
    return Path(os.environ.get("EDGE_SDK_PREFIX") or DEFAULT_PREFIX)


@dataclass(frozen=True)
class Release:
    """An installed release: ``id``, its ``path``, manifest fields, and whether it is current."""

    id: str
    path: Path
    created: str
    edge_sdk_version: str
    task: str
    signed: bool
    current: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "created": self.created,
            "edge_sdk_version": self.edge_sdk_version,
            "task": self.task,
            "signed": self.signed,
            "current": self.current,
        }


class Prefix:
    """An install prefix (see the module docstring). Nothing is created until written."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_prefix()
        self.releases = self.root / "releases"
        self.current_link = self.root / "current"
        self.state_file = self.root / "state.json"

    # -- state ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``PREFIX/.lock`` (exclusive flock) for an install or a switch."""
        self.releases.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def read_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"history": [], "starts": []}
        except (OSError, json.JSONDecodeError) as exc:
            raise BundleError(
                f"{self.state_file} is unreadable ({exc}); expected the prefix state JSON"
            ) from None
        state.setdefault("history", [])
        state.setdefault("starts", [])
        return dict(state)

    def write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_name(f".state-{secrets.token_hex(4)}.json")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_file)
        _fsync_dir(self.root)

    @property
    def trusted_key(self) -> Path | None:
        key = self.root / TRUSTED_KEY
        return key if key.is_file() else None

    # -- queries ----------------------------------------------------------------------------------

    def current_id(self) -> str | None:
        """The id ``current`` points at, or None before the first install."""
        try:
            target = os.readlink(self.current_link)
        except FileNotFoundError:
            return None
        return Path(target).name

    def current_path(self) -> Path:
        """The current release folder.

        Raises:
            BundleError: nothing installed.
        """
        cid = self.current_id()
        if cid is None:
            raise BundleError(f"no release is installed in {self.root} (expected {self.current_link})")
        return self.releases / cid

    def list(self) -> list[Release]:
        """Installed releases, oldest first."""
        out: list[Release] = []
        cid = self.current_id()
        if not self.releases.is_dir():
            return out
        for d in self.releases.iterdir():
            if d.name.startswith(".") or not d.is_dir():
                continue
            try:
                m = read_manifest(d)
            except BundleError:
                continue
            out.append(
                Release(
                    m.id,
                    d,
                    m.created,
                    m.edge_sdk_version,
                    m.task,
                    (d / "manifest.sig").is_file(),
                    d.name == cid,
                )
            )
        return sorted(out, key=lambda r: (r.created, r.id))

    # -- changes ----------------------------------------------------------------------------------

    def switch(self, release_id: str) -> None:
        """Point ``current`` at ``releases/<release_id>`` with one atomic rename; record it."""
        if not (self.releases / release_id / "manifest.json").is_file():
            raise BundleError(f"release {release_id} is not installed in {self.releases}")
        tmp = self.root / f".current-{secrets.token_hex(4)}"
        os.symlink(f"releases/{release_id}", tmp)
        try:
            os.replace(tmp, self.current_link)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.root)
        state = self.read_state()
        state["history"] = [*state["history"], release_id][-20:]
        state["starts"] = []
        self.write_state(state)

    def previous_id(self) -> str | None:
        """The release that was current before the current one (and is still installed)."""
        cid = self.current_id()
        for rid in reversed(self.read_state()["history"]):
            if rid != cid and (self.releases / rid).is_dir():
                return str(rid)
        return None

    def _prune(self, keep: int) -> None:
        protect = {self.current_id(), self.previous_id()}
        releases = self.list()
        for r in releases[: max(0, len(releases) - keep)]:
            if r.id not in protect:
                shutil.rmtree(r.path, ignore_errors=True)


def install(
    bundle: str | Path,
    prefix: Prefix | str | Path | None = None,
    public_key: str | Path | None = None,
    run_self_test: bool = True,
    activate: bool = True,
    keep: int = KEEP_RELEASES,
) -> tuple[Release, SelfTestReport | None]:
    """Verify, unpack, self-test and activate a bundle.

    ``public_key`` defaults to ``PREFIX/trusted.pub`` when that exists; with a key, unsigned
    or wrongly signed bundles are refused. ``activate=False`` installs without switching.

    Raises:
        BundleError (and its subclasses): see :func:`edge_sdk.fleet.bundle.read_bundle`;
        SelfTestError, ModelError: the self-test failed. Nothing is changed on error.
    """
    if keep < 2:
        raise OptionsError(f"keep must be >= 2 (the current and the previous release), got {keep}")
    p = prefix if isinstance(prefix, Prefix) else Prefix(prefix)
    key = public_key if public_key is not None else p.trusted_key
    with p.lock():
        staging = p.releases / f".staging-{secrets.token_hex(6)}"
        try:
            manifest: Manifest = read_bundle(bundle, staging, key)
            report = self_test(staging) if run_self_test else None
            final = p.releases / manifest.id
            if final.exists():
                shutil.rmtree(staging)  # same id == same content: the installed copy is kept
            else:
                os.rename(staging, final)
                _fsync_dir(p.releases)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if activate and p.current_id() != manifest.id:
            p.switch(manifest.id)
        p._prune(keep)
        release = next(r for r in p.list() if r.id == manifest.id)
    return release, report


def rollback(prefix: Prefix | str | Path | None = None, to: str | None = None) -> str:
    """Switch ``current`` back to the previous release (or to release ``to``); returns its id.

    Raises:
        BundleError: no previous release, or ``to`` is not installed.
    """
    p = prefix if isinstance(prefix, Prefix) else Prefix(prefix)
    with p.lock():
        target = to or p.previous_id()
        if target is None:
            raise BundleError(f"no previous release to roll back to in {p.root}")
        p.switch(target)
    return target


@dataclass(frozen=True)
class CrashLoopPolicy:
    """``restarts`` runs that never exited cleanly, started within ``window_s`` seconds, are a
    crash loop (systemd's ``Restart=on-failure`` makes the restarts)."""

    restarts: int = 3
    window_s: float = 300.0

    def __post_init__(self) -> None:
        if not isinstance(self.restarts, int) or self.restarts < 2:
            raise OptionsError(f"crash-loop restarts must be an integer >= 2, got {self.restarts!r}")
        if not self.window_s > 0:
            raise OptionsError(f"crash-loop window must be > 0 seconds, got {self.window_s!r}")


def record_start(
    prefix: Prefix | str | Path | None = None,
    policy: CrashLoopPolicy | None = None,
    now: float | None = None,
) -> str | None:
    """Call when a run of the current release starts: count it, and roll back first when the
    previous starts were a crash loop. Returns the id rolled back to, else None.

    A start stays counted until :func:`record_clean_exit`: a run that crashed (or was killed)
    never clears it. When ``policy.restarts`` such starts lie within ``policy.window_s`` seconds
    before this one, this start switches ``current`` to the previous release first.
    """
    p = prefix if isinstance(prefix, Prefix) else Prefix(prefix)
    pol = policy or CrashLoopPolicy()
    t = time.time() if now is None else now
    with p.lock():
        state = p.read_state()
        crashed = [s for s in state["starts"] if t - float(s) <= pol.window_s]
        starts = [*crashed, t]
        target = p.previous_id() if len(crashed) >= pol.restarts else None
        if target is not None:
            p.switch(target)  # clears the record
            state = p.read_state()
            state["rolled_back"] = {"at": t, "to": target, "crashes": len(crashed)}
            state["starts"] = [t]
        else:
            state["starts"] = starts
        p.write_state(state)
    return target


def record_clean_exit(prefix: Prefix | str | Path | None = None) -> None:
    """Clear the crash-loop record: the run ended cleanly."""
    p = prefix if isinstance(prefix, Prefix) else Prefix(prefix)
    with p.lock():
        state = p.read_state()
        state["starts"] = []
        p.write_state(state)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
