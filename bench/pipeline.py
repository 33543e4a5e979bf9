"""Pipelined vs sequential throughput: the same video, model and sinks, run two ways.

(a) sequential: one thread decodes a frame, runs the task, writes the sinks, then the next;
(b) pipelined: ``Pipeline`` (capture / preprocess+invoke+decode / sinks on three threads).

Both do exactly the same work per frame (every frame of a file is processed: no drops).
Rounds are interleaved (a, b, a, b ...) and the best round of each is kept; prints frames per
second of each and the ratio b / a.

    python bench/pipeline.py [--model M] [--task classify|detect] [--frames N] [--size WxH]
                             [--threads T] [--sink SINK ...] [--rounds R]

The default video is written once to a temporary folder: ``N`` frames of a photo panned
across a ``WxH`` canvas, MPEG-4 (mp4v), so decoding costs what a camera-sized file costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from devices.sources import open_source
from edge_sdk.pipeline.engine import Pipeline
from edge_sdk.pipeline.tasks import TaskAdapter, adapt
from edge_sdk.sinks import SinkContext, open_sink

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"
MODELS = {
    "classify": ASSETS / "classification/mobilenet_v1_0.5_160_quant.tflite",
    "detect": ASSETS / "detection/coco_ssd_mobilenet_v1/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite",
}
PHOTOS = {
    "classify": ASSETS / "classification/images/parrot.jpg",
    "detect": ASSETS / "detection/cats_and_dogs.jpg",
}


def make_video(path: Path, photo: Path, frames: int, size: tuple[int, int]) -> Path:
    w, h = size
    img = cv2.imread(str(photo))
    assert img is not None, photo
    big = cv2.resize(img, (int(w * 1.25), int(h * 1.25)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30, size)
    for i in range(frames):
        dx = int((big.shape[1] - w) * (0.5 + 0.5 * np.sin(i / 15)))
        writer.write(np.ascontiguousarray(big[:h, dx : dx + w]))
    writer.release()
    return path


def build_task(task: str, model: Path, threads: int | None) -> TaskAdapter:
    if task == "classify":
        from edge_sdk.tasks.classify import Classifier

        return adapt(Classifier(model, num_threads=threads))
    from edge_sdk.tasks.detect import Detector

    return adapt(Detector(model, num_threads=threads))


def sequential(video: Path, task: TaskAdapter, sinks: list[str]) -> tuple[int, float]:
    built = [open_sink(s) for s in sinks]
    t0 = time.perf_counter()
    with open_source(str(video)) as src:
        ctx = SinkContext(src.uri, task.kind.value, getattr(src, "fps", None), src.live)
        for s in built:
            s.open(ctx)
        n = 0
        for frame in src:
            result = task(frame)
            for s in built:
                s.write(result)
            n += 1
    for s in built:
        s.close()
    return n, time.perf_counter() - t0


def pipelined(video: Path, task: TaskAdapter, sinks: list[str]) -> tuple[int, float]:
    t0 = time.perf_counter()
    stats = Pipeline(str(video), task, sinks).run()
    assert stats.dropped == 0
    return stats.processed, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=sorted(MODELS), default="classify")
    ap.add_argument("--model", type=Path, default=None, help="default: the task's model in ../shared/assets")
    ap.add_argument("--video", type=Path, default=None, help="default: a generated video")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="1280x720", help="generated video size WxH")
    ap.add_argument("--threads", type=int, default=None, help="interpreter threads (default: every core)")
    ap.add_argument("--sink", action="append", default=None, help="default: jsonl:/dev/null")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    model = args.model or MODELS[args.task]
    sinks = args.sink or [f"jsonl:{os.devnull}"]
    task = build_task(args.task, model, args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.video is None:
            w, h = (int(v) for v in args.size.split("x"))
            video = make_video(Path(tmp) / "bench.mp4", PHOTOS[args.task], args.frames, (w, h))
        else:
            video = args.video
        sinks = [s.replace("{tmp}", tmp) for s in sinks]
        sequential(video, task, sinks)  # warm-up (first invoke, file cache)
        seq: list[float] = []
        pipe: list[float] = []
        for _ in range(args.rounds):
            n, t = sequential(video, task, sinks)
            seq.append(n / t)
            n2, t2 = pipelined(video, task, sinks)
            assert n2 == n, (n, n2)
            pipe.append(n2 / t2)
    result: dict[str, Any] = {
        "task": args.task,
        "model": model.name,
        "video": "generated " + args.size if args.video is None else str(args.video),
        "frames": n,
        "threads": args.threads or "all",
        "sinks": sinks,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "sequential_fps": round(max(seq), 1),
        "pipelined_fps": round(max(pipe), 1),
        "ratio": round(max(pipe) / max(seq), 2),
        "rounds": {"sequential": [round(x, 1) for x in seq], "pipelined": [round(x, 1) for x in pipe]},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
