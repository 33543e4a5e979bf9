"""``edge-sdk run``: the live pipeline, from options or a JSON config file.

Results go to every ``--sink`` (JSON lines, MQTT, annotated video, preview page); a summary
line goes to stderr at the end. SIGINT (Ctrl-C) and SIGTERM stop the run cleanly: queued
frames are discarded, computed results are written and the sinks closed. Exit status 0
(130 after SIGINT), 1 on an error, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .common import add_normalization_args, cosine, positive_int, probability

# command-line options that are config keys (argparse dest == config key)
_KEYS = (
    "task", "model", "source", "sink", "labels", "top_k", "threshold", "iou", "max_detections", "resize", "mean", "std",
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
    add_normalization_args(g)
    g.add_argument("--embedder", "-e", default=None, help="faces: embedder .tflite")
    g.add_argument("--gallery", "-g", default=None, help="faces: gallery of enrolled identities")
    g.add_argument("--score", type=probability, default=None, help="faces: minimum detection score")
    g.add_argument("--accelerator", "-a", default=None, help="cpu, cpu:N, edgetpu[:usb[:N]|:pci:N]")
    g.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: every core)")
    g.add_argument("--strict", action="store_true", default=None, help="no CPU fallback for Edge TPU models")
    r = p.add_argument_group("run options")
    r.add_argument(
        "--overwrite", action="store_true", help="video sinks may replace an existing file (never the source)"
    )
    r.add_argument("--max-frames", "-n", type=positive_int, default=None, help="stop after N frames")
    r.add_argument("--duration", type=_seconds, default=None, help="stop after S seconds")
    r.add_argument("--queue-size", type=positive_int, default=None, help="frames queued before inference (2)")
    f = p.add_argument_group("fleet (see docs/fleet.md)")
    f.add_argument(
        "--bundle",
        nargs="?",
        const="",
        default=None,
        metavar="PREFIX",
        help="run the current installed release of PREFIX (default $EDGE_SDK_PREFIX or /opt/edge-sdk); "
        "a crash loop there rolls back to the previous release first",
    )
    f.add_argument("--update-dir", default=None, help="take model/bundle updates dropped into this folder")
    f.add_argument(
        "--update-mqtt",
        default=None,
        metavar="URI",
        help="take updates on edge-sdk/{host}/cmd at this broker (mqtt://host:port)",
    )
    f.add_argument("--public-key", default=None, help="Ed25519 PEM key updates must be signed with")
    f.add_argument("--host-id", default=None, help="the {host} of the fleet topics (default: host name)")
    f.add_argument(
        "--crash-loop",
        default="3,300",
        metavar="N,SECONDS",
        help="N unclean exits within SECONDS roll back at the next start (3,300)",
    )
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


def _with_overwrite(sinks: Any) -> list[Any]:
    """The sink specs with ``overwrite: true`` added to every video sink."""
    specs = [sinks] if isinstance(sinks, (str, dict)) else list(sinks)
    out: list[Any] = []
    for spec in specs:
        if isinstance(spec, str) and spec.lower().startswith("video:"):
            spec = {"uri": spec, "overwrite": True}
        elif isinstance(spec, dict) and str(spec.get("uri", "")).lower().startswith("video:"):
            spec = {**spec, "overwrite": True}
        out.append(spec)
    return out


def run(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..pipeline.config import RunConfig

    values = {key: getattr(args, key) for key in _KEYS}
    fleet = None
    if args.bundle is not None:
        from ..fleet.runner import FleetRun  # lazy: CLI start-up; only with --bundle

        fleet = FleetRun.start(args)
        config = RunConfig.from_dict({**fleet.config, **{k: v for k, v in values.items() if v is not None}})
    elif args.config:
        config = RunConfig.from_file(args.config, values)
    else:
        missing = [f"--{k}" for k in ("task", "source", "sink") if not values[k]]
        if missing:
            args._parser.error(f"give --config FILE, or {', '.join(missing)}")
        config = RunConfig.from_dict({k: v for k, v in values.items() if v is not None})
    if args.overwrite:
        config = dataclasses.replace(config, sink=tuple(_with_overwrite(config.sink)))
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
    updater = None
    if fleet is not None:
        updater = fleet.attach(pipeline)
    elif args.update_dir or args.update_mqtt:
        args._parser.error(
            "--update-dir/--update-mqtt need --bundle (the release's known answer is the self-test)"
        )
    try:
        with _stop_on_signals(pipeline.stop) as received:
            pipeline.start()
            if updater is not None:
                updater.start()
            pipeline.wait()
    finally:
        if updater is not None:
            updater.stop()
    if fleet is not None:
        fleet.clean_exit()
    s = pipeline.stats
    print(
        f"edge-sdk: run: {s.processed} frame(s) processed in {s.elapsed_s:.2f} s ({s.fps:.1f} fps); "
        f"{s.dropped} dropped by the pipeline, {s.source_dropped} by the source, {s.discarded} discarded at stop",
        file=sys.stderr,
    )
    return 130 if signal.SIGINT in received else 0
