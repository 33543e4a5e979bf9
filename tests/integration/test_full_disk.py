"""A full disk while writing (issue 17, "Proof" 2): JSON lines and a video.

The face gallery on a full disk is covered already by ``tests/integration/test_faces_durability.py``
(``test_tiny_filesystem_fills_up_without_losing_identities``, ``test_file_size_limit_mid_enrolment_loses_nothing``)
and ``tests/unit/test_faces_gallery.py::test_disk_full_from_sqlite_rolls_back``.

Each case runs in a child on a real, tiny tmpfs mounted in a private mount namespace
(``unshare -rm``: no root needed where user namespaces are allowed; the mount vanishes with
the child). The disk's contents are copied out after the child finishes and checked here.
Where ``unshare`` cannot mount, the child runs with ``RLIMIT_FSIZE`` instead (writes past the
limit fail with ``EFBIG``, as a full disk fails with ``ENOSPC``).

What must happen: a typed error naming the file, exit status 1 from the CLI, no traceback, and
nothing torn left behind: the JSON-lines file holds only whole lines, and no partial video
exists under the output name (nor its temporary file).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.pipeline_helpers import write_video

MODEL = "classification/mobilenet_v1_0.25_224_quant_with_metadata.tflite"
ROOT = Path(__file__).resolve().parents[2]


@cache
def _can_unshare_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0"', "/tmp"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


def on_tiny_disk(
    tmp_path: Path, size_kb: int, argv: list[str]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run ``argv`` with ``tmp_path/disk`` a ``size_kb`` KiB disk; return the run and a copy of the disk."""
    disk, after = tmp_path / "disk", tmp_path / "disk.after"
    disk.mkdir()
    after.mkdir()
    env_argv = ["env", f"PYTHONPATH={ROOT}", *argv]
    if _can_unshare_mount():
        cmd = [
            "unshare", "-rm", "sh", "-c",
            f'mount -t tmpfs -o size={size_kb}k tmpfs "$0" && "$@"; rc=$?; cp -a "$0/." "$0.after/"; exit $rc',
            str(disk), *env_argv,
        ]  # fmt: skip
    else:  # no mount rights: cap the size of any file the child writes instead
        limit = size_kb * 1024
        cmd = [
            sys.executable, "-c",
            "import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); os.execvp(sys.argv[1], sys.argv[1:])",
            *env_argv,
        ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if not _can_unshare_mount():
        shutil.copytree(disk, after, dirs_exist_ok=True)
    return proc, after


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", 600, (160, 120))


def _run(assets: Path, clip: Path, sink: str) -> list[str]:
    return [sys.executable, "-m", "edge_sdk", "run", "-t", "classify", "-m", str(assets / MODEL), "-s", str(clip),
            "--sink", sink, "--threads", "1"]  # fmt: skip


def test_full_disk_while_writing_json_lines(tmp_path: Path, assets: Path, clip: Path) -> None:
    out = tmp_path / "disk" / "out.jsonl"
    proc, after = on_tiny_disk(tmp_path, 64, _run(assets, clip, f"jsonl:{out}"))
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"edge-sdk: error: cannot write to {out}:"), proc.stderr
    assert "partial line was removed" in last and "Traceback" not in proc.stderr
    data = (after / "out.jsonl").read_bytes()
    assert data.endswith(b"\n")
    frames = [json.loads(line)["frame"] for line in data.decode().splitlines()]  # every line whole
    assert len(frames) > 50 and frames == list(range(len(frames)))


def test_full_disk_while_writing_a_video(tmp_path: Path, assets: Path, clip: Path) -> None:
    out = tmp_path / "disk" / "out.mp4"
    proc, after = on_tiny_disk(tmp_path, 256, _run(assets, clip, f"video:{out}"))
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"edge-sdk: error: cannot write video {out}:"), proc.stderr
    assert "removed" in last and "Traceback" not in proc.stderr
    assert list(after.iterdir()) == []  # neither out.mp4 nor its hidden temporary file
