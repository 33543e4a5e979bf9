"""The bundle manifest: what a bundle holds, who made it, and the answer its model must give.

``manifest.json`` is the first member of every bundle::

    {
      "format": 1,
      "id": "classify-3f1c0a9e2b7d",            # task + first 12 hex of the content hash
      "created": "2026-11-30T06:30:00Z",
      "edge_sdk_version": "0.1.0",
      "task": "classify",
      "config": "config.json",
      "files": {"config.json": {"sha256": "…", "size": 412}, "models/m.tflite": {…}, …},
      "known_answer": {"sample": "sample/parrot.jpg",
                       "record": {"classes": [{"id": 89, "label": "macaw", "score": 0.99}]},
                       "tolerance": {"score": 0.05, "iou": 0.9}},
      "wheelhouse": null | {"platform": "manylinux2014_aarch64", "python": "3.11", …}
    }

The optional ``manifest.sig`` member is the raw 64-byte Ed25519 signature of the exact bytes
of ``manifest.json``; since the manifest holds the sha256 of every other file, it signs them
all. Keys are PEM files (PKCS#8 private, SubjectPublicKeyInfo public), as written by
``edge-sdk bundle keygen`` or ``openssl genpkey -algorithm ed25519``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError, BundleSignatureError, OptionsError, UnsafeBundleError, missing_dependency
from ..safe_io import loads_json

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
FORMAT = 1
MAX_MANIFEST_BYTES = 4 << 20
"""A manifest larger than this (4 MiB) is refused before it is parsed."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_member_name(name: str) -> str:
    """``name`` if it is a safe relative POSIX path inside a bundle, else raise.

    Raises:
        UnsafeBundleError: empty, absolute, ``..`` or ``.`` parts, backslashes or NUL.
    """

    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise UnsafeBundleError(f"bundle member {name!r}: expected a relative path inside the bundle")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafeBundleError(
            f"bundle member {name!r}: expected a path without '..', '.' or empty parts (it would escape "
            "or alias the release folder)"
        )
    return name


@dataclass(frozen=True)
class FileEntry:
    """One file of a bundle: ``sha256`` (64 lowercase hex) and ``size`` in bytes."""

    sha256: str
    size: int

    def __post_init__(self) -> None:
        if not isinstance(self.sha256, str) or not _SHA256.match(self.sha256):
            raise BundleError(f"manifest: expected a 64-hex sha256, found {self.sha256!r}")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise BundleError(f"manifest: expected a size in bytes >= 0, found {self.size!r}")


@dataclass(frozen=True)
class Tolerance:
    """How close the self-test must come to the known answer.

    ``score``: largest absolute score difference (0..1). ``iou``: smallest IoU between a
    recorded box and the new one (0..1).
    """

    score: float = 0.05
    iou: float = 0.9

    def __post_init__(self) -> None:
        for name in ("score", "iou"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= 1.0:
                raise OptionsError(f"tolerance {name} must be a number in [0, 1], got {v!r}")


@dataclass(frozen=True)
class KnownAnswer:
    """The task's answer on ``sample`` (a bundle member), recorded when the bundle was made.

    ``record``: the JSON Lines record of the CLI contract without ``source``, ``frame`` and
    ``timing_ms`` (``classes``, ``detections`` or ``faces``).
    """

    sample: str
    record: dict[str, Any]
    tolerance: Tolerance = field(default_factory=Tolerance)


@dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json`` (see the module docstring). Checked when built."""

    id: str
    created: str
    edge_sdk_version: str
    task: str
    config: str
    files: dict[str, FileEntry]
    known_answer: KnownAnswer | None = None
    wheelhouse: dict[str, Any] | None = None
    format: int = FORMAT

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise BundleError(f"manifest format {self.format!r} is not supported; expected {FORMAT}")
        if not isinstance(self.id, str) or not _ID.match(self.id):
            raise BundleError(f"manifest id must be 1-128 of [A-Za-z0-9._-], found {self.id!r}")
        for name in self.files:
            check_member_name(name)
            if name in (MANIFEST_NAME, SIGNATURE_NAME):
                raise BundleError(f"manifest lists {name} among its files; it cannot hash itself")
        if self.config not in self.files:
            raise BundleError(f"manifest config {self.config!r} is not among its files")
        if self.known_answer is not None and self.known_answer.sample not in self.files:
            raise BundleError(f"known-answer sample {self.known_answer.sample!r} is not among the files")

    def to_bytes(self) -> bytes:
        """The canonical JSON (sorted keys, UTF-8, trailing newline) that is hashed and signed."""
        return (json.dumps(asdict(self), sort_keys=True, indent=1) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse ``manifest.json``.

        Raises:
            BundleError: too large, not JSON, or missing/invalid fields.
        """
        if len(data) > MAX_MANIFEST_BYTES:
            raise BundleError(f"manifest.json is {len(data)} bytes; expected at most {MAX_MANIFEST_BYTES}")
        raw = loads_json(data, "manifest.json", BundleError)
        if not isinstance(raw, Mapping):
            raise BundleError(f"manifest.json must hold an object, found {type(raw).__name__}")
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Manifest:
        try:
            files_raw = raw["files"]
            if not isinstance(files_raw, Mapping):
                raise BundleError("manifest files must be an object of path -> {sha256, size}")
            files = {str(k): FileEntry(**v) for k, v in files_raw.items()}
            ka = raw.get("known_answer")
            known = None
            if ka is not None:
                known = KnownAnswer(
                    sample=str(ka["sample"]),
                    record=dict(ka["record"]),
                    tolerance=Tolerance(**ka.get("tolerance", {})),
                )
            return cls(
                id=raw["id"],
                created=str(raw["created"]),
                edge_sdk_version=str(raw["edge_sdk_version"]),
                task=str(raw["task"]),
                config=str(raw["config"]),
                files=files,
                known_answer=known,
                wheelhouse=raw.get("wheelhouse"),
                format=raw.get("format", FORMAT),
            )
        except (KeyError, TypeError) as exc:
            raise BundleError(f"manifest.json is missing or has a bad field: {exc}") from None

    @staticmethod
    def content_id(task: str, files: Mapping[str, FileEntry]) -> str:
        """``<task>-<12 hex>``: the same content always gets the same id."""
        h = hashlib.sha256()
        for name in sorted(files):
            h.update(f"{name}\0{files[name].sha256}\0{files[name].size}\n".encode())
        return f"{task}-{h.hexdigest()[:12]}"


# -- Ed25519 -------------------------------------------------------------------------------------


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import (
            serialization,  # optional: cryptography (the fleet extra), only to sign or verify
        )
        from cryptography.hazmat.primitives.asymmetric import (
            ed25519,  # optional: cryptography (the fleet extra), only to sign or verify
        )
    except ImportError:
        raise missing_dependency("cryptography", "fleet", "signing and verifying bundles") from None
    return serialization, ed25519


def generate_keypair(private_path: str | Path, public_path: str | Path) -> None:
    """Write a new Ed25519 key pair as PEM files (the private one mode 0600).

    Raises:
        BundleError: a file exists already. MissingDependencyError: no ``cryptography``.
    """
    serialization, ed25519 = _crypto()
    key = ed25519.Ed25519PrivateKey.generate()
    priv = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    for path, data, mode in ((private_path, priv, 0o600), (public_path, pub, 0o644)):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise BundleError(f"{path} exists already; refusing to overwrite a key") from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def sign(data: bytes, private_key: str | Path) -> bytes:
    """The 64-byte Ed25519 signature of ``data`` with the PEM private key file.

    Raises:
        BundleSignatureError: unreadable key or not an Ed25519 private key.
    """
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(Path(private_key).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise BundleSignatureError(f"cannot load the private key {private_key}: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise BundleSignatureError(
            f"{private_key}: expected an Ed25519 private key, found {type(key).__name__}"
        )
    return bytes(key.sign(data))


def verify_signature(data: bytes, signature: bytes | None, public_key: str | Path) -> None:
    """Check ``signature`` over ``data`` with the PEM public key file.

    Raises:
        BundleSignatureError: no signature, a key that is not Ed25519, or a mismatch.
    """
    serialization, ed25519 = _crypto()
    from cryptography.exceptions import (
        InvalidSignature,  # optional: cryptography (the fleet extra), only to sign or verify
    )

    if signature is None:
        raise BundleSignatureError(
            f"the bundle is not signed, but a public key ({public_key}) is configured: expected manifest.sig"
        )
    try:
        key = serialization.load_pem_public_key(Path(public_key).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise BundleSignatureError(f"cannot load the public key {public_key}: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise BundleSignatureError(
            f"{public_key}: expected an Ed25519 public key, found {type(key).__name__}"
        )
    if len(signature) != 64:
        raise BundleSignatureError(
            f"manifest.sig is {len(signature)} bytes; expected a 64-byte Ed25519 signature"
        )
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise BundleSignatureError(
            f"manifest.sig does not match manifest.json for the public key {public_key}"
        ) from None
