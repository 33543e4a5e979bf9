"""Helpers for the fleet tests: real classifier bundles from the shared assets, and a tar
rewriter that forges hostile bundles (a consistent manifest around a bad payload, links,
escaping paths)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_sdk.fleet.bundle import CreateOptions, create_bundle

MODEL_A = "classification/mobilenet_v1_0.5_160_quant.tflite"
MODEL_B = "classification/mobilenet_v1_0.25_224_quant_with_metadata.tflite"
SAMPLE = "classification/images/parrot.jpg"


def write_config(folder: Path, assets: Path, model: str, name: str = "run.json", **extra: Any) -> Path:
    cfg: dict[str, Any] = {
        "task": "classify",
        "model": str(assets / model),
        "source": "usb:0",
        "sink": "jsonl:-",
    }
    if model == MODEL_A:
        cfg["labels"] = str(assets / "classification/imagenet_labels.txt")
    cfg.update(extra)
    path = folder / name
    path.write_text(json.dumps(cfg))
    return path


def make_bundle(folder: Path, assets: Path, model: str, name: str, key: Path | None = None) -> Path:
    cfg = write_config(folder, assets, model, name=f"{name}.json")
    out = folder / f"{name}.tar"
    create_bundle(cfg, out, CreateOptions(sample=assets / SAMPLE, private_key=key))
    return out


def members(bundle: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(bundle) as tar:
        out = []
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isreg() else None
            out.append((m, f.read() if f else b""))
        return out


def rewrite(
    bundle: Path,
    out: Path,
    replace: dict[str, bytes] | None = None,
    manifest_fn: Callable[[dict[str, Any]], None] | None = None,
    extra: list[tarfile.TarInfo] | None = None,
    rehash: bool = True,
) -> Path:
    """Copy ``bundle`` to ``out`` with file contents replaced and the manifest edited and
    (``rehash``) made consistent again, then ``extra`` members appended (unsigned)."""
    items = members(bundle)
    data = {m.name: d for m, d in items}
    data.update(replace or {})
    manifest = json.loads(data["manifest.json"])
    if rehash:
        for name in manifest["files"]:
            manifest["files"][name] = {
                "sha256": hashlib.sha256(data[name]).hexdigest(),
                "size": len(data[name]),
            }
    if manifest_fn:
        manifest_fn(manifest)
    data["manifest.json"] = (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode()
    with tarfile.open(out, "w") as tar:
        for m, _ in items:
            if m.name == "manifest.sig":
                continue
            info = tarfile.TarInfo(m.name)
            info.size = len(data[m.name])
            tar.addfile(info, io.BytesIO(data[m.name]))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return out
