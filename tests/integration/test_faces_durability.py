"""A gallery survives SIGKILL mid-enrolment, a file-size limit and a full disk: every enrolment
whose call returned is kept, and the file stays intact (child processes and a tmpfs mount)."""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_sdk.errors import GalleryWriteError
from edge_sdk.tasks.faces.embedder import EmbedderIdentity
from edge_sdk.tasks.faces.gallery import Gallery

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from edge_sdk.tasks.faces.embedder import EmbedderIdentity
    from edge_sdk.tasks.faces.gallery import Gallery
    g = Gallery(sys.argv[1])
    e = EmbedderIdentity("c" * 64, 128)
    rng = np.random.default_rng(int(sys.argv[2]))
    i = 0
    while True:
        g.enrol(f"r{sys.argv[2]}-{i}", rng.normal(size=(int(rng.integers(1, 4)), 128)), e)
        print(i, flush=True)  # only after enrol() returned
        i += 1
    """
)


def _read_available(proc: subprocess.Popen, until: float) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    chunks = []
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            break
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()


def test_sigkill_at_random_moments_keeps_every_returned_enrolment(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    rnd = random.Random(1234)
    confirmed: list[str] = []
    for rnd_id in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(rnd_id)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            # wait for the first confirmed enrolment, then kill at a random moment
            out = ""
            deadline = time.monotonic() + 30.0
            while "\n" not in out and time.monotonic() < deadline and proc.poll() is None:
                out += _read_available(proc, time.monotonic() + 0.05)
            assert "\n" in out, proc.stderr.read().decode() if proc.poll() is not None else "child silent"
            out += _read_available(proc, time.monotonic() + rnd.uniform(0.0, 0.3))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            assert proc.stdout is not None
            out += proc.stdout.read().decode()  # lines printed before the kill are still in the pipe
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL
        done = [int(x) for x in out.split("\n")[:-1]]  # a partial last line was not confirmed
        assert done == list(range(len(done)))
        confirmed += [f"r{rnd_id}-{i}" for i in done]

        with Gallery(path, create=False) as g:
            people = g.identities()
            names = {i.name for i in people}
            assert all(i.embeddings >= 1 for i in people)  # no half-written enrolment
            missing = set(confirmed) - names
            assert not missing, f"round {rnd_id}: lost {sorted(missing)[:5]}"
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
    assert len(confirmed) >= 5


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


_FSIZE_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    from edge_sdk.errors import GalleryWriteError
    from edge_sdk.tasks.faces.embedder import EmbedderIdentity
    from edge_sdk.tasks.faces.gallery import Gallery
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of a signal
    g = Gallery(sys.argv[1])
    e = EmbedderIdentity("a" * 64, 128)
    rng = np.random.default_rng(0)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    for i in range(10_000):
        try:
            g.enrol(f"p{i}", rng.normal(size=(20, 128)), e)
        except GalleryWriteError as exc:
            print("FAILED", i, exc, flush=True)
            break
        print("OK", i, flush=True)
    """
)


def test_file_size_limit_mid_enrolment_loses_nothing(tmp_path: Path) -> None:
    """The OS refuses to grow the files (RLIMIT_FSIZE, EFBIG): a real failed write()."""
    p = tmp_path / "g.db"
    out = subprocess.run(
        [sys.executable, "-c", _FSIZE_CHILD, str(p)], capture_output=True, text=True, timeout=120
    )
    lines = out.stdout.splitlines()
    assert lines and lines[-1].startswith("FAILED"), (out.stdout[-500:], out.stderr[-2000:])
    ok = [line.split()[1] for line in lines if line.startswith("OK")]
    assert len(ok) >= 1
    with Gallery(p) as g:
        assert sorted(i.name for i in g.identities()) == sorted(f"p{i}" for i in ok)
        assert g._store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Any:
    """A 256 KiB tmpfs (needs root and mount rights; skipped otherwise)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_tiny_filesystem_fills_up_without_losing_identities(tiny_fs: Path) -> None:
    rng = np.random.default_rng(8)
    p = tiny_fs / "g.db"
    g = Gallery(p)
    e = EmbedderIdentity("a" * 64, 128)
    enrolled = []
    with pytest.raises(GalleryWriteError, match=r"disk full|disk I/O|cannot enrol"):
        for i in range(10_000):
            g.enrol(f"p{i}", _unit(rng, 10, 128), e)
            enrolled.append(f"p{i}")
    assert len(enrolled) > 5
    assert sorted(i.name for i in g.identities()) == sorted(enrolled)
    g.close()
    with Gallery(p) as g2:
        assert sorted(i.name for i in g2.identities()) == sorted(enrolled)
        assert g2._store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
