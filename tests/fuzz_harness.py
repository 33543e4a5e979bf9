"""Run fuzz cases against edge_sdk in a child process with a memory cap and a per-case timeout.

The parent (a test or ``ci/fuzz_long.py``) writes a batch of cases to a JSON file and calls
:func:`run_cases`. A child interpreter (``python tests/fuzz_harness.py CASES``) sets
``RLIMIT_AS``, imports edge_sdk once and runs every case in turn. Before each case it prints
``start I`` and arms ``alarm(timeout)`` with the default action, so a hang, in Python or in
native code, kills the child with SIGALRM; after it, it prints ``done I OUTCOME``.

Acceptable outcomes: ``ok`` (a correct result) and ``typed:<ErrorName>`` (an
:class:`edge_sdk.errors.EdgeSdkError`). Anything else is a finding: ``untyped:<Exception>``, a
wrong result (``wrong:…``), or the child dying (a signal, a crash, a hang, memory). When the
child dies, the parent saves the case that was running as a reproducer, then starts a new
child on the cases after it.

A case is ``{"target": NAME, "arg": STR}``; ``arg`` is a file path or a URI. Targets:

``model``       load a .tflite with :class:`edge_sdk.Model` and invoke it on zeros
``classifier``  build a :class:`edge_sdk.Classifier` (metadata, labels) and classify a small image
``image``       :func:`edge_sdk.load_image`; a result must be H×W×3 uint8 and non-empty
``labels``      :meth:`edge_sdk.LabelMap.from_file`
``config``      :meth:`RunConfig.from_file`, then its pipeline and service options
``source``      :func:`edge_sdk.open_source` with a 1 s open timeout and one attempt, then one frame
``sink``        :func:`edge_sdk.sinks.open_sink` (the URI is parsed and validated), then close
``fault``       the harness's self-test: ``segv`` crashes the child, ``hang`` sleeps forever
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

ACCEPTABLE_PREFIXES = ("ok", "typed:")


# -- child side --------------------------------------------------------------------------------


def _guard_network() -> None:
    """No host beyond loopback: a fuzzed URI must never reach the network."""
    import socket

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        if name.strip("[]") not in ("", "127.0.0.1", "::1", "localhost"):
            raise socket.gaierror(socket.EAI_NONAME, f"fuzz: no network for {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def _targets() -> dict[str, Callable[[str], str]]:
    import numpy as np

    from devices.sources import ReconnectPolicy, open_source
    from edge_sdk import Classifier, LabelMap, Model, load_image
    from edge_sdk.pipeline.config import RunConfig
    from edge_sdk.sinks import open_sink

    def model(arg: str) -> str:
        with Model(arg, num_threads=1) as m:
            m.run(*[np.zeros(t.shape, t.dtype) for t in m.inputs])
        return "ok"

    def classifier(arg: str) -> str:
        with Classifier(arg) as clf:
            result = clf.classify(np.zeros((24, 32, 3), np.uint8))
        scores = [c.score for c in result.categories]
        if any(math.isnan(s) for s in scores):
            return "wrong:NaN score"
        return "ok"

    def image(arg: str) -> str:
        img = load_image(arg)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or 0 in img.shape:
            return f"wrong:image shape {img.shape} {img.dtype}"
        return "ok"

    def labels(arg: str) -> str:
        lm = LabelMap.from_file(arg)
        len(lm)
        return "ok"

    def config(arg: str) -> str:
        cfg = RunConfig.from_file(arg)
        cfg.pipeline_options()
        cfg.service_options()
        return "ok"

    def source(arg: str) -> str:
        policy = ReconnectPolicy(open_timeout_s=1.0, read_timeout_s=1.0, max_attempts=1)
        options: dict[str, Any] = {}
        if arg.lower().startswith(("rtsp", "http", "/dev/video", "usb:", "picamera2:", "csi:")):
            options["reconnect"] = policy
        with open_source(arg, **options) as src:
            for _frame in src.frames():
                break
        return "ok"

    def fault(arg: str) -> str:
        """The harness's own check: ``segv`` crashes in native code, ``hang`` never returns."""
        if arg == "segv":
            import ctypes

            ctypes.string_at(0)
        time.sleep(3600)
        return "ok"

    def sink(arg: str) -> str:
        s = open_sink(arg)
        s.close()
        return "ok"

    return {
        "model": model,
        "classifier": classifier,
        "image": image,
        "labels": labels,
        "config": config,
        "source": source,
        "sink": sink,
        "fault": fault,
    }


def child_main(cases_file: str, start: int, timeout_s: int) -> None:
    """Run cases ``start``… of ``cases_file``; the parent set RLIMIT_AS before exec."""
    import logging

    logging.disable(logging.CRITICAL)  # skipped files warn; the outcome is what counts
    _guard_network()
    from edge_sdk.errors import EdgeSdkError

    cases = json.loads(Path(cases_file).read_text())
    targets = _targets()
    out = sys.stdout
    for i in range(start, len(cases)):
        case = cases[i]
        out.write(f"start {i}\n")
        out.flush()
        signal.alarm(timeout_s)
        try:
            outcome = targets[case["target"]](case["arg"])
        except EdgeSdkError as exc:
            outcome = f"typed:{type(exc).__name__}"
        except Exception as exc:
            outcome = f"untyped:{type(exc).__name__}: {str(exc)[:200]}"
        signal.alarm(0)
        out.write(f"done {i} {outcome.replace(chr(10), ' ')}\n")
        out.flush()


# -- parent side -------------------------------------------------------------------------------


@dataclass
class Finding:
    """A case whose outcome is not acceptable; ``reproducer`` holds a copy of its input."""

    index: int
    target: str
    outcome: str
    reproducer: Path


@dataclass
class Report:
    """Outcomes of one batch."""

    total: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    children: int = 0
    seconds: float = 0.0

    by_target: Counter[tuple[str, str]] = field(default_factory=Counter)

    def summary(self) -> str:
        """One line per target: its outcome counts."""
        lines = [f"{self.total} cases in {self.seconds:.1f} s, {self.children} child process(es)"]
        for target in sorted({t for t, _ in self.by_target}):
            counts = sorted((o, n) for (t, o), n in self.by_target.items() if t == target)
            lines.append(f"  {target}: " + ", ".join(f"{o}={n}" for o, n in counts))
        return "\n".join(lines)

    def record(self, case: dict[str, str], outcome: str) -> None:
        self.outcomes[outcome] += 1
        self.by_target[
            case["target"], outcome.split(":", 2)[0] if outcome.startswith("untyped") else outcome
        ] += 1


def _save_reproducer(case: dict[str, str], index: int, outcome: str, crash_dir: Path) -> Path:
    crash_dir.mkdir(parents=True, exist_ok=True)
    base = crash_dir / f"case{index:06d}-{case['target']}"
    arg = case["arg"]
    if os.path.isfile(arg):
        shutil.copyfile(arg, base.with_suffix(Path(arg).suffix or ".bin"))
    meta = base.with_suffix(".json")
    meta.write_text(json.dumps({**case, "outcome": outcome}, indent=1))
    return meta


def _describe_death(rc: int) -> str:
    if rc < 0:
        sig = signal.Signals(-rc)
        if sig is signal.SIGALRM:
            return "hang: no answer within the per-case timeout"
        return f"crash: killed by {sig.name}"
    return f"crash: child exited with {rc} mid-case"


def run_cases(
    cases: Sequence[dict[str, str]],
    work: Path,
    *,
    mem_mb: int = 1024,
    timeout_s: int = 10,
    batch_timeout_s: float = 600.0,
) -> Report:
    """Run ``cases`` in capped children; return the outcomes and the findings (reproducers in ``work/crashes``).

    A child that dies mid-case is a finding for that case; a new child resumes after it.
    """
    work.mkdir(parents=True, exist_ok=True)
    cases_file = work / "cases.json"
    cases_file.write_text(json.dumps(list(cases)))
    report = Report(total=len(cases))
    t0 = time.monotonic()
    start = 0
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "OPENCV_LOG_LEVEL": "SILENT",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    limit = mem_mb << 20

    def set_limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    while start < len(cases):
        report.children += 1
        proc = subprocess.Popen(
            [sys.executable, __file__, str(cases_file), str(start), str(timeout_s)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=work,
            preexec_fn=set_limit,
        )
        running = None
        assert proc.stdout is not None
        deadline = t0 + batch_timeout_s
        for line in proc.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "start":
                running = int(rest)
            elif kind == "done":
                idx, _, outcome = rest.partition(" ")
                running = None
                report.record(cases[int(idx)], outcome)
                if not outcome.startswith(ACCEPTABLE_PREFIXES):
                    i = int(idx)
                    path = _save_reproducer(dict(cases[i]), i, outcome, work / "crashes")
                    report.findings.append(Finding(i, cases[i]["target"], outcome, path))
            if time.monotonic() > deadline:
                proc.kill()
                break
        rc = proc.wait()
        if running is None:
            if rc != 0:
                raise RuntimeError(f"fuzz child failed outside any case (exit {rc}); run it by hand")
            break
        outcome = _describe_death(rc)
        report.record(cases[running], outcome)
        path = _save_reproducer(dict(cases[running]), running, outcome, work / "crashes")
        report.findings.append(Finding(running, cases[running]["target"], outcome, path))
        start = running + 1
    report.seconds = time.monotonic() - t0
    return report


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    child_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
