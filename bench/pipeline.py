"""The pipeline against its bound: each stage alone, 1 / slowest stage, pipelined and sequential.

Stages alone, on the same video, model and sinks:
  - capture: decode every frame of the file (``open_source``), nothing else;
  - task: preprocess + invoke + decode on decoded frames held in memory (a cycle of 30);
  - sinks: write the task's results of those frames.
The bound is the throughput of the slowest stage (a pipeline of stages on their own threads
cannot beat it). Then, interleaved in rounds (best round kept):
  (a) sequential: one thread decodes a frame, runs the task, writes the sinks, then the next;
  (b) pipelined: ``Pipeline`` (capture / preprocess+invoke+decode / sinks on three threads).
Both process every frame (a file source drops none). Prints fps of each, the bound, pipelined /
bound (goal >= 0.9) and pipelined / sequential.

    python bench/pipeline.py [--task classify|detect|faces] [--model M] [--frames N] [--size WxH]
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
    "faces": ASSETS / "face/detectors/face_detection_short_range.tflite",
}
EMBEDDER = ASSETS / "face/embedders/mobilefacenet_uint8.tflite"
PHOTOS = {
    "classify": ASSETS / "classification/images/parrot.jpg",
    "detect": ASSETS / "detection/cats_and_dogs.jpg",
    "faces": ASSETS / "face/images/examples/obama-720p.jpg",
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
    if task == "faces":
        from edge_sdk.tasks.faces import FaceRecognizer

        return adapt(FaceRecognizer(detector=model, embedder=EMBEDDER, num_threads=threads))
    from edge_sdk.tasks.detect import Detector

    return adapt(Detector(model, num_threads=threads))


def stages_alone(video: Path, task: TaskAdapter, sinks: list[str], cycle: int = 30) -> dict[str, float]:
    """Frames per second of each stage run alone (capture of the whole file; task and sinks over
    a cycle of ``cycle`` decoded frames, repeated to as many frames as the file has)."""
    t0 = time.perf_counter()
    frames = []
    with open_source(str(video)) as src:
        uri, fps, live = src.uri, getattr(src, "fps", None), src.live
        n = 0
        for frame in src:
            if len(frames) < cycle:
                frames.append(frame)
            n += 1
    capture = n / (time.perf_counter() - t0)
    task(frames[0])  # warm
    t0 = time.perf_counter()
    results = [task(frames[i % len(frames)]) for i in range(n)]
    task_fps = n / (time.perf_counter() - t0)
    built = [open_sink(s) for s in sinks]
    ctx = SinkContext(uri, task.kind.value, fps, live)
    for s in built:
        s.open(ctx)
    t0 = time.perf_counter()
    for r in results:
        for s in built:
            s.write(r)
    sink_fps = n / (time.perf_counter() - t0)
    for s in built:
        s.close()
    return {"capture": capture, "task": task_fps, "sinks": sink_fps}


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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=sorted(MODELS), default="classify")
    ap.add_argument("--model", type=Path, default=None, help="default: the task's model in ../shared/assets")
    ap.add_argument("--video", type=Path, default=None, help="default: a generated video")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="1280x720", help="generated video size WxH")
    ap.add_argument("--threads", type=int, default=None, help="interpreter threads (default: every core)")
    ap.add_argument("--sink", action="append", default=None, help="default: jsonl:/dev/null")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

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
        alone: dict[str, list[float]] = {"capture": [], "task": [], "sinks": []}
        for _ in range(args.rounds):
            for k, v in stages_alone(video, task, sinks).items():
                alone[k].append(v)
            n, t = sequential(video, task, sinks)
            seq.append(n / t)
            n2, t2 = pipelined(video, task, sinks)
            assert n2 == n, (n, n2)
            pipe.append(n2 / t2)
    best = {k: max(v) for k, v in alone.items()}
    slowest = min(best, key=lambda k: best[k])
    bound = best[slowest]
    result: dict[str, Any] = {
        "task": args.task,
        "model": model.name,
        "video": "generated " + args.size if args.video is None else str(args.video),
        "frames": n,
        "threads": args.threads or "all",
        "sinks": sinks,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "load_average": round(os.getloadavg()[0], 1),
        "stage_fps": {k: round(v, 1) for k, v in best.items()},
        "slowest_stage": slowest,
        "bound_fps": round(bound, 1),
        "sequential_fps": round(max(seq), 1),
        "pipelined_fps": round(max(pipe), 1),
        "pipelined_over_bound": round(max(pipe) / bound, 2),
        "ratio": round(max(pipe) / max(seq), 2),
        "rounds": {"sequential": [round(x, 1) for x in seq], "pipelined": [round(x, 1) for x in pipe]},
        "goal": "pipelined >= 0.9x the bound",
    }
    if args.json:
        print(json.dumps(result))
    else:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in result["stage_fps"].items())
        print(
            f"{args.task} {model.name} on {result['video']} ({n} frames, threads {result['threads']}, "
            f"load {result['load_average']}): stages alone fps: {stages}; bound {bound:.1f} ({slowest}); "
            f"sequential {result['sequential_fps']}, pipelined {result['pipelined_fps']} = "
            f"{result['pipelined_over_bound']:.2f}x the bound (goal >= 0.9), {result['ratio']:.2f}x sequential"
        )
    return result


if __name__ == "__main__":
    main()
