"""Soak (issue 17, "Proof" 3): many frames through the pipeline; memory, threads and fds stay flat.

    PYTHONPATH=. python bench/soak.py [--frames 100000] [--model M] [--json]

A synthetic source hands out ``--frames`` RGB frames (160×120, 16 distinct pictures, a fresh
copy each frame) to a :class:`edge_sdk.Pipeline` running the classification task with a real
model and a JSON-lines file sink. A sampler thread reads this process's RSS (``VmRSS``), its
thread count and its open file descriptors every 0.25 s. The first ``--warmup`` share of the
frames (default 10 %, at least 200) is warm-up; after it the script reports the RSS growth
(last quarter's median minus the median just after warm-up, in MB), and the min and max
thread and fd counts. ``--json`` prints the figures as one JSON object. Exit 1 if every frame
was not written, RSS grew by ``--max-growth-mb`` (5) or more, or a count moved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devices.sources import Source, SourceState  # noqa: E402
from edge_sdk.frame import Frame  # noqa: E402

ASSETS = Path(os.environ.get("EDGE_SDK_ASSETS", ROOT.parent / "shared" / "assets"))
MODEL = ASSETS / "classification/mobilenet_v1_0.25_224_quant_with_metadata.tflite"


class SyntheticSource(Source):
    """``count`` frames as fast as they are read: 16 gradient pictures, each frame a new copy."""

    live = False

    def __init__(self, count: int, size: tuple[int, int] = (160, 120)) -> None:
        super().__init__("synthetic:soak")
        self.count = count
        self.produced = 0
        w, h = size
        ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
        self._pictures = [
            np.clip(ramp * (k + 1) / 16 + np.array([k * 13, 255 - k * 11, k * 7]), 0, 255)
            .astype(np.uint8)
            .repeat(h, axis=0)
            for k in range(16)
        ]
        self.state = SourceState.CONNECTED
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        for i in range(self.count):
            if self._closed.is_set():
                return
            self.produced = i + 1
            yield Frame(self._pictures[i % 16].copy(), i, float(i), self.uri)

    def close(self) -> None:
        self._closed.set()


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def soak(frames: int, model: Path, out: Path, warmup: int) -> dict[str, object]:
    """Run ``frames`` frames; return the figures (see the module docstring)."""
    from edge_sdk.pipeline.engine import Pipeline
    from edge_sdk.tasks.classify import Classifier

    source = SyntheticSource(frames)
    samples: list[tuple[int, int, int, int]] = []  # (frames produced, rss kB, threads, fds)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            samples.append(
                (
                    source.produced,
                    _rss_kb(),
                    len(os.listdir("/proc/self/task")),
                    len(os.listdir("/proc/self/fd")),
                )
            )

    sink = out / "soak.jsonl"
    t0 = time.monotonic()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with Classifier(model, num_threads=1) as clf:
        stats = Pipeline(source, clf, [f"jsonl:{sink}"]).run()
    stop.set()
    sampler.join()
    seconds = time.monotonic() - t0
    with sink.open("rb") as fh:
        written = sum(1 for _ in fh)
    after = [s for s in samples if s[0] >= warmup and s[0] < frames]
    if len(after) < 8:
        raise SystemExit(f"too few samples after warm-up ({len(after)}); run more frames")
    quarter = max(2, len(after) // 4)
    rss_start = statistics.median(s[1] for s in after[:quarter])
    rss_end = statistics.median(s[1] for s in after[-quarter:])
    return {
        "frames": frames,
        "written": written,
        "seconds": round(seconds, 1),
        "fps": round(frames / seconds, 1),
        "warmup_frames": warmup,
        "samples_after_warmup": len(after),
        "rss_after_warmup_mb": round(rss_start / 1024, 1),
        "rss_end_mb": round(rss_end / 1024, 1),
        "rss_growth_mb": round((rss_end - rss_start) / 1024, 2),
        "rss_max_mb": round(max(s[1] for s in after) / 1024, 1),
        "threads": [min(s[2] for s in after), max(s[2] for s in after)],
        "fds": [min(s[3] for s in after), max(s[3] for s in after)],
        "dropped": getattr(stats, "dropped", None),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--warmup", type=float, default=0.1, help="share of frames that is warm-up")
    ap.add_argument("--max-growth-mb", type=float, default=5.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-sdk-soak-") as tmp:
        fig = soak(args.frames, args.model, Path(tmp), max(200, int(args.frames * args.warmup)))
    print(json.dumps(fig) if args.json else "\n".join(f"{k}: {v}" for k, v in fig.items()))
    threads, fds = fig["threads"], fig["fds"]
    ok = (
        fig["written"] == args.frames
        and float(fig["rss_growth_mb"]) < args.max_growth_mb  # type: ignore[arg-type]
        and threads[0] == threads[1]  # type: ignore[index]
        and fds[0] == fds[1]  # type: ignore[index]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
