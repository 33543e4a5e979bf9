"""``edge-sdk run``: the live pipeline, from options or a JSON config file.

Results go to every ``--sink`` (JSON lines, MQTT, annotated video, preview page); a summary
line goes to stderr at the end. SIGINT (Ctrl-C) and SIGTERM stop the run cleanly: queued
frames are discarded, computed results are written and the sinks closed. Exit status 0
(130 after SIGINT), 1 on an error, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .common import cosine, positive_int, probability

# command-line options that are config keys (argparse dest == config key)
_KEYS = (
    "task", "model", "source", "sink", "labels", "top_k", "threshold", "iou", "max_detections", "resize",
    "embedder", "gallery", "score", "accelerator", "threads", "strict", "max_frames", "duration", "queue_size",
)  # fmt: skip


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value}")
    return value


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="the live pipeline: source -> model -> sinks (JSON lines, MQTT, video, preview)",
        description="Run a task on every frame of a source and send the results to one or more "
        "sinks. Give --config FILE (JSON with the same keys: task, model, source, sink, "
        "max_frames ...) or --task, --model, --source and --sink; options given on the "
        "command line override the file. Frames are dropped (oldest first) only for live "
        "sources when the model cannot keep up; files are processed frame by frame.",
        epilog="SINK: jsonl:- (stdout) | jsonl:PATH | mqtt://[user:pass@]host[:port]/topic/{source} "
        "(fields {source} {task} {host}; ?qos=1&retain=1) | mqtts://... | video:PATH.mp4 | "
        "preview:[host:]port (127.0.0.1 unless a host is given)",
    )
    p.add_argument("--config", "-c", help="JSON config file (keys as the long options, with _)")
    p.add_argument(
        "--task",
        "-t",
        choices=["classify", "detect", "faces", "segment", "pose"],
        default=None,
        help="what to run",
    )
    p.add_argument(
        "--model", "-m", default=None, help="the .tflite model (faces: the face detector; default BlazeFace)"
    )
    p.add_argument("--source", "-s", default=None, help="file, folder, glob, usb:0, picamera2:0, rtsp://...")
    p.add_argument(
        "--sink", action="append", default=None, metavar="SINK", help="where results go (repeatable)"
    )
    g = p.add_argument_group("task options")
    g.add_argument("--labels", default=None, help="label file (default: labels embedded in the model)")
    g.add_argument("--top-k", "-k", type=positive_int, default=None, help="classify: classes per frame (5)")
    g.add_argument(
        "--threshold",
        type=cosine,
        default=None,
        help="classify/detect/pose: minimum score in [0, 1]; segment: foreground probability; "
        "faces: match cosine in [-1, 1]",
    )
    g.add_argument("--iou", type=probability, default=None, help="detect/pose: NMS IoU threshold")
    g.add_argument(
        "--max-detections", type=positive_int, default=None, help="detect/pose: at most K per frame"
    )
    g.add_argument("--resize", choices=["stretch", "letterbox", "center_crop"], default=None)
    g.add_argument("--embedder", "-e", default=None, help="faces: embedder .tflite")
    g.add_argument("--gallery", "-g", default=None, help="faces: gallery of enrolled identities")
    g.add_argument("--score", type=probability, default=None, help="faces: minimum detection score")
    g.add_argument("--accelerator", "-a", default=None, help="cpu, cpu:N, edgetpu[:usb[:N]|:pci:N]")
    g.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: every core)")
    g.add_argument("--strict", action="store_true", default=None, help="no CPU fallback for Edge TPU models")
    r = p.add_argument_group("run options")
    r.add_argument("--max-frames", "-n", type=positive_int, default=None, help="stop after N frames")
    r.add_argument("--duration", type=_seconds, default=None, help="stop after S seconds")
    r.add_argument("--queue-size", type=positive_int, default=None, help="frames queued before inference (2)")
    p.set_defaults(func=run, _parser=p)


@contextmanager
def _stop_on_signals(stop: Any) -> Iterator[list[int]]:
    """SIGINT/SIGTERM call ``stop()`` (a second SIGINT interrupts at once); yields the
    signals received. Only the main thread can install handlers; elsewhere nothing is done."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and signal.SIGINT in received:
            raise KeyboardInterrupt
        received.append(signum)
        print(f"edge-sdk: {signal.Signals(signum).name}: stopping", file=sys.stderr)
        stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..pipeline.config import RunConfig

    values = {key: getattr(args, key) for key in _KEYS}
    if args.config:
        config = RunConfig.from_file(args.config, values)
    else:
        missing = [f"--{k}" for k in ("task", "source", "sink") if not values[k]]
        if missing:
            args._parser.error(f"give --config FILE, or {', '.join(missing)}")
        config = RunConfig.from_dict({k: v for k, v in values.items() if v is not None})
    from ..service.notify import Notifier  # lazy: CLI start-up; only under systemd

    service = config.service_options()
    notifier = Notifier()
    monitor = None
    if service.broker is not None or notifier.enabled:
        # a service: READY/WATCHDOG/STATUS to systemd, status/heartbeat/state over MQTT
        from ..service.monitor import ServiceMonitor  # lazy: CLI start-up; only with a service config

        monitor = ServiceMonitor(service, notifier, model=config.model)
    pipeline = config.build(extra_sinks=[monitor] if monitor is not None else [])
    if monitor is not None:
        monitor.attach(pipeline)
    with _stop_on_signals(pipeline.stop) as received:
        pipeline.start()
        pipeline.wait()
    s = pipeline.stats
    print(
        f"edge-sdk: run: {s.processed} frame(s) processed in {s.elapsed_s:.2f} s ({s.fps:.1f} fps); "
        f"{s.dropped} dropped by the pipeline, {s.source_dropped} by the source, {s.discarded} discarded at stop",
        file=sys.stderr,
    )
    return 130 if signal.SIGINT in received else 0
