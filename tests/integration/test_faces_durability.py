"""A gallery survives SIGKILL mid-enrolment: every enrolment whose call returned is kept."""

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
