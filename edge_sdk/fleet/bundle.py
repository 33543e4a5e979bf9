"""Create, verify and unpack bundles: one tar with a run config, its models and a manifest.

Layout of a bundle (an uncompressed POSIX tar; gzip is read too)::

    manifest.json            first member, always (see :mod:`edge_sdk.fleet.manifest`)
    manifest.sig             optional Ed25519 signature of manifest.json
    config.json              the run config, file paths relative to the release folder
    models/NAME.tflite       the model (and NAME_edgetpu.tflite when it exists)
    labels/NAME              label file, when the config names one
    gallery/NAME             face gallery, when the config names one
    sample/NAME              the known-answer sample image
    wheelhouse/*.whl         with --wheelhouse: wheels to install offline

Reading is strict (:func:`read_bundle`): only regular files; every name a relative path with
no ``..``; every member listed in the manifest with the same size and sha256, nothing missing,
nothing twice; the signature checked first when a public key is given. Any deviation raises
before anything outside the destination folder is touched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from devices.pairing import model_pair
from devices.sources import open_source

from .. import __version__
from ..errors import (
    BundleError,
    BundleIntegrityError,
    BundleSignatureError,
    EdgeSdkError,
    UnsafeBundleError,
)
from ..image import load_image
from ..pipeline.config import RunConfig
from ..pipeline.engine import close_task
from .manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    FileEntry,
    KnownAnswer,
    Manifest,
    Tolerance,
    check_member_name,
    sha256_file,
    sign,
    verify_signature,
)
from .selftest import PATH_KEYS, answer_record

CONFIG_NAME = "config.json"
_FOLDERS = {"model": "models", "embedder": "models", "labels": "labels", "gallery": "gallery"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CreateOptions:
    """Options of :func:`create_bundle`.

    ``sample``: known-answer image (default: first frame of the config's file source).
    ``private_key``: Ed25519 PEM key to sign with. ``wheelhouse``: a folder of wheels to add
    under ``wheelhouse/`` (see :mod:`edge_sdk.fleet.wheelhouse`). ``tolerance``: self-test
    tolerances stored in the manifest.
    """

    sample: str | Path | None = None
    private_key: str | Path | None = None
    wheelhouse: str | Path | None = None
    wheelhouse_info: Mapping[str, Any] | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)


def _first_frame_png(source: str) -> bytes:
    """PNG bytes of the first frame of a file source.

    Raises:
        BundleError: the source is not a file or yields no frame.
    """

    if not Path(source).is_file():
        raise BundleError(
            f"a known answer needs a sample image: give --sample IMAGE (the source {source!r} is not a file)"
        )
    src = open_source(source)
    try:
        for frame in src:
            ok, buf = cv2.imencode(".png", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
            if not ok:
                raise BundleError(f"cannot encode the first frame of {source} as PNG")
            return bytes(buf)
    finally:
        src.close()
    raise BundleError(f"the source {source} yields no frame to record a known answer on")


def create_bundle(config: str | Path, output: str | Path, options: CreateOptions | None = None) -> Manifest:
    """Pack the run config ``config`` (JSON), the files it names and a manifest into ``output``.

    The config's file paths (model and its ``_edgetpu`` twin, labels, embedder, gallery) are
    copied into the bundle and rewritten relative to the release folder. The task is loaded
    once to record the known answer on the sample. ``output`` is written to a temporary file
    and renamed, so it is never left half-written.

    Raises:
        OptionsError: bad config. BundleError: missing file, name clash, no sample.
        ModelError etc.: the model does not load.
    """

    opts = options or CreateOptions()
    cfg_path = Path(config)
    try:
        data = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read the run config {cfg_path}: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{cfg_path}: expected a JSON object, found {type(data).__name__}")
    run_config = RunConfig.from_dict(data)  # validates before any work

    members: dict[str, Path | bytes] = {}

    def add(name: str, content: Path | bytes) -> None:
        check_member_name(name)
        if name in members:
            raise BundleError(f"two files would both be stored as {name}; rename one of them")
        members[name] = content

    packed = dict(data)
    for key in PATH_KEYS:
        value = data.get(key)
        if not isinstance(value, str):
            continue
        src = Path(value)
        if not src.is_file():
            raise BundleError(f"config {key} {value!r}: expected an existing file")
        name = f"{_FOLDERS[key]}/{src.name}"
        add(name, src)
        packed[key] = name
        if key in ("model", "embedder") and src.suffix == ".tflite":
            cpu, tpu = model_pair(src)
            for twin in (cpu, tpu):
                if twin is not None and twin.resolve() != src.resolve():
                    add(f"{_FOLDERS[key]}/{twin.name}", twin)
    add(CONFIG_NAME, (json.dumps(packed, indent=2, sort_keys=True) + "\n").encode())

    if opts.sample is not None:
        sample = Path(opts.sample)
        if not sample.is_file():
            raise BundleError(f"--sample {sample}: expected an image file")
        sample_name = f"sample/{sample.name}"
        add(sample_name, sample)
        image = load_image(sample)
    else:
        png = _first_frame_png(run_config.source)
        sample_name = "sample/first_frame.png"
        add(sample_name, png)

        decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None  # just encoded
        image = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)

    task = run_config.build_task()
    try:
        record = answer_record(task, image)
    finally:
        close_task(task)

    if opts.wheelhouse is not None:
        wheels = sorted(Path(opts.wheelhouse).glob("*.whl"))
        if not wheels:
            raise BundleError(f"wheelhouse {opts.wheelhouse}: expected .whl files, found none")
        for w in wheels:
            add(f"wheelhouse/{w.name}", w)

    files: dict[str, FileEntry] = {}
    for name, content in sorted(members.items()):
        if isinstance(content, bytes):
            files[name] = FileEntry(hashlib.sha256(content).hexdigest(), len(content))
        else:
            files[name] = FileEntry(sha256_file(content), content.stat().st_size)
    manifest = Manifest(
        id=Manifest.content_id(run_config.task.value, files),
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        edge_sdk_version=__version__,
        task=run_config.task.value,
        config=CONFIG_NAME,
        files=files,
        known_answer=KnownAnswer(sample_name, record, opts.tolerance),
        wheelhouse=dict(opts.wheelhouse_info) if opts.wheelhouse_info else None,
    )
    manifest_bytes = manifest.to_bytes()
    signature = sign(manifest_bytes, opts.private_key) if opts.private_key else None

    out = Path(output)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent or ".")
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            _add_bytes(tar, MANIFEST_NAME, manifest_bytes)
            if signature is not None:
                _add_bytes(tar, SIGNATURE_NAME, signature)
            for name, content in sorted(members.items()):
                if isinstance(content, bytes):
                    _add_bytes(tar, name, content)
                else:
                    info = tarfile.TarInfo(name)
                    info.size = files[name].size
                    info.mode = 0o644
                    with open(content, "rb") as f:
                        tar.addfile(info, f)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it 0600; a bundle is not a secret
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


# -- reading ------------------------------------------------------------------------------------


def _check_member(m: tarfile.TarInfo) -> None:
    check_member_name(m.name)
    if not m.isreg():
        kind = (
            "a symlink"
            if m.issym()
            else "a hard link"
            if m.islnk()
            else "a directory"
            if m.isdir()
            else "a device or fifo"
        )
        raise UnsafeBundleError(f"bundle member {m.name!r} is {kind}; expected regular files only")


def _read_small(tar: tarfile.TarFile, m: tarfile.TarInfo, limit: int) -> bytes:
    if m.size > limit:
        raise BundleError(f"{m.name} is {m.size} bytes; expected at most {limit}")
    f = tar.extractfile(m)
    assert f is not None  # regular file
    data = f.read()
    if len(data) != m.size:
        raise BundleIntegrityError(
            f"{m.name}: expected {m.size} bytes, the archive ends after {len(data)} (truncated)"
        )
    return data


def _copy_hashing(src: IO[bytes], dest: IO[bytes] | None, size: int, name: str) -> str:
    h = hashlib.sha256()
    left = size
    while left > 0:
        block = src.read(min(_CHUNK, left))
        if not block:
            raise BundleIntegrityError(
                f"{name}: expected {size} bytes, the archive ends after {size - left} (truncated)"
            )
        h.update(block)
        if dest is not None:
            dest.write(block)
        left -= len(block)
    return h.hexdigest()


def read_bundle(
    path: str | Path,
    dest: str | Path | None = None,
    public_key: str | Path | None = None,
) -> Manifest:
    """Verify a bundle and, when ``dest`` is given, unpack it there (a folder that must not exist).

    Raises:
        BundleError: unreadable, not a bundle, or a bad manifest.
        BundleSignatureError: ``public_key`` given and the signature is absent or wrong.
        UnsafeBundleError: a link, device, directory, absolute or ``..`` path.
        BundleIntegrityError: a size or sha256 mismatch, an unlisted, missing or repeated
            file, or a truncated archive.
        On any error, ``dest`` is removed again.
    """
    path = Path(path)
    target = Path(dest) if dest is not None else None
    if target is not None:
        target.mkdir(parents=False, exist_ok=False)
    try:
        return _read(path, target, public_key)
    except BaseException:
        if target is not None:
            shutil.rmtree(target, ignore_errors=True)
        raise


def _read(path: Path, target: Path | None, public_key: str | Path | None) -> Manifest:
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError:
        raise BundleError(f"bundle {path} does not exist") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleIntegrityError(
            f"{path} is not a readable tar archive ({exc}); truncated or damaged"
        ) from None
    try:
        with tar:
            return _read_members(path, tar, target, public_key)
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, EdgeSdkError):
            raise
        raise BundleIntegrityError(f"{path}: the archive is damaged or truncated ({exc})") from None


def _read_members(
    path: Path, tar: tarfile.TarFile, target: Path | None, public_key: str | Path | None
) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST_NAME:
        found = first.name if first is not None else "an empty archive"
        raise BundleError(f"{path}: expected {MANIFEST_NAME} as the first member, found {found!r}")
    _check_member(first)
    manifest_bytes = _read_small(tar, first, MAX_MANIFEST_BYTES)
    manifest = Manifest.from_bytes(manifest_bytes)
    member = tar.next()
    signature = None
    if member is not None and member.name == SIGNATURE_NAME:
        _check_member(member)
        signature = _read_small(tar, member, 1024)
        member = tar.next()
    if public_key is not None:
        verify_signature(manifest_bytes, signature, public_key)
    if target is not None:
        (target / MANIFEST_NAME).write_bytes(manifest_bytes)
        if signature is not None:
            (target / SIGNATURE_NAME).write_bytes(signature)
    seen: set[str] = set()
    while member is not None:
        _check_member(member)
        name = member.name
        if name in seen or name in (MANIFEST_NAME, SIGNATURE_NAME):
            raise BundleIntegrityError(f"bundle member {name!r} appears twice")
        entry = manifest.files.get(name)
        if entry is None:
            raise BundleIntegrityError(f"bundle member {name!r} is not listed in the manifest")
        if member.size != entry.size:
            raise BundleIntegrityError(
                f"{name}: manifest says {entry.size} bytes, the archive holds {member.size}"
            )
        src = tar.extractfile(member)
        assert src is not None
        if target is not None:
            out = target / name
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                digest = _copy_hashing(src, f, entry.size, name)
                f.flush()
                os.fsync(f.fileno())
        else:
            digest = _copy_hashing(src, None, entry.size, name)
        if digest != entry.sha256:
            raise BundleIntegrityError(
                f"{name}: sha256 {digest} does not match the manifest's {entry.sha256}"
            )
        seen.add(name)
        member = tar.next()
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise BundleIntegrityError(
            f"{path}: file(s) listed in the manifest are missing: {', '.join(missing)} (truncated?)"
        )
    return manifest


def verify_bundle(path: str | Path, public_key: str | Path | None = None) -> Manifest:
    """Check a bundle without unpacking it; see :func:`read_bundle` for what raises."""
    return read_bundle(path, None, public_key)


__all__ = [
    "BundleSignatureError",
    "CreateOptions",
    "create_bundle",
    "read_bundle",
    "verify_bundle",
]
