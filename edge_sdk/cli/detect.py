"""``edge-sdk detect``: one JSON line per frame with the detections in source pixels."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from .common import (
    add_model_args,
    emit,
    iter_frames,
    normalization_from_args,
    positive_int,
    probability,
    resolve_model_args,
)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def _class_list(text: str) -> list[int | str]:
    """argparse type: comma-separated class ids or labels (``person,car`` or ``0,2``)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected comma-separated class ids or labels, got {text!r}")
    return [int(t) if t.isdigit() else t for t in items]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "detect",
        help="detect objects in images, folders, videos or cameras",
        description="Detect objects in each frame of each SOURCE with an SSD (TFLite_Detection_PostProcess) "
        "or YOLOv8/YOLO11/YOLOv5 .tflite model. Prints one JSON object per frame: "
        '{"source", "frame", "detections": [{"id", "label", "score", "box": [x0, y0, x1, y1]}], "timing_ms"}; '
        "boxes are pixels of the original frame, origin top-left.",
    )
    add_model_args(p)
    p.add_argument(
        "--threshold", "-t", type=probability, default=0.5, help="minimum score in [0, 1] (default 0.5)"
    )
    p.add_argument(
        "--iou",
        type=probability,
        default=None,
        help="NMS IoU threshold in [0, 1] (default 0.45 for YOLO heads; SSD models use their own NMS)",
    )
    p.add_argument(
        "--max-detections", "-k", type=positive_int, default=100, help="detections per frame (default 100)"
    )
    p.add_argument(
        "--classes", type=_class_list, default=None, help="only these class ids or labels, comma-separated"
    )
    p.add_argument(
        "--exclude", type=_class_list, default=(), help="drop these class ids or labels, comma-separated"
    )
    p.add_argument("--class-agnostic", action="store_true", help="NMS across classes")
    p.add_argument(
        "--resize",
        choices=["stretch", "letterbox", "center_crop"],
        default=None,
        help="how frames are fitted to the input (default: model metadata, else stretch for SSD, letterbox for YOLO)",
    )
    p.add_argument(
        "--head",
        choices=["ssd", "yolov8", "yolov5", "end2end"],
        default=None,
        help="the model's output layout (default: detected from its outputs and metadata)",
    )
    p.add_argument(
        "--annotate", metavar="DIR", help="also write each frame with its detections drawn into DIR"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="with --annotate: replace existing files (never an input)"
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image, folder, glob, video or camera URI")
    p.set_defaults(func=run)


def annotation_path(directory: Path, source: str, frame: int, taken: set[Path]) -> Path:
    """Where the annotated frame goes: the image's own file name for image files, else
    ``<name>_<frame>.jpg``; a name already written in this run gets the frame number too."""
    src = Path(source)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", src.stem or source).strip("_") or "frame"
    if src.suffix.lower() in IMAGE_SUFFIXES:
        path = directory / f"{stem}{src.suffix.lower()}"
        if path in taken:
            path = directory / f"{stem}_{frame:06d}{src.suffix.lower()}"
    else:
        path = directory / f"{stem}_{frame:06d}.jpg"
    taken.add(path)
    return path


def run(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    import cv2
    import numpy as np

    # lazy: CLI start-up imports only the subcommand that runs
    from ..draw import draw_detections
    from ..errors import EdgeSdkError, OptionsError
    from ..preprocess import ResizeMode
    from ..safe_io import OutputGuard, atomic_write
    from ..tasks.base import BaseOptions, TaskKind
    from ..tasks.decoders import DetectorHead
    from ..tasks.detect import Detector, DetectorOptions
    from ..tasks.registry import create_task

    model_path, accelerator = resolve_model_args(args)
    options = DetectorOptions(
        threshold=args.threshold,
        iou=args.iou,
        max_detections=args.max_detections,
        classes=args.classes,
        exclude=args.exclude,
        class_agnostic=args.class_agnostic,
        resize=ResizeMode(args.resize) if args.resize else None,
        head=DetectorHead(args.head) if args.head else None,
        base=BaseOptions(
            model=model_path, labels=args.labels, accelerator=accelerator, num_threads=args.threads
        ),
        normalization=normalization_from_args(args),
    )
    det = create_task(TaskKind.DETECT, options)
    assert isinstance(det, Detector)
    out_dir = Path(args.annotate) if args.annotate else None
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgeSdkError(
                f"cannot create --annotate directory {out_dir}: {exc.strerror or exc}"
            ) from exc
    taken: set[Path] = set()
    guard = OutputGuard(_input_files(args), overwrite=args.overwrite, error=OptionsError)
    for frame in iter_frames(args.sources):
        det.model.track_source(frame.source)
        result = det.detect(frame.image)
        emit(
            {
                "source": frame.source,
                "frame": frame.index,
                "detections": result.as_dicts(),
                "timing_ms": det.last_timing.as_dict(),
            }
        )
        if out_dir is not None:
            path = annotation_path(out_dir, frame.source, frame.index, taken)
            guard.check(path, "--annotate output")
            bgr = cv2.cvtColor(draw_detections(frame.image, result), cv2.COLOR_RGB2BGR)

            def write(tmp: Path, bgr: np.ndarray = bgr, path: Path = path) -> None:
                if not cv2.imwrite(str(tmp), bgr):
                    raise EdgeSdkError(f"cannot write annotated image {path}")

            try:
                atomic_write(path, write, overwrite=args.overwrite)
            except FileExistsError:
                raise OptionsError(
                    f"--annotate output {path} exists; pass --overwrite to replace it"
                ) from None
            except OSError as exc:
                raise EdgeSdkError(f"cannot write annotated image {path}: {exc.strerror or exc}") from exc
    return 0


def _input_files(args: argparse.Namespace) -> list[Path]:
    """Every local file this run reads: the sources (folders and globs expanded), model, labels."""
    from devices.sources.images import expand_images  # lazy: CLI start-up

    from ..errors import SourceError  # lazy: CLI start-up

    files: list[Path] = []
    for uri in args.sources:
        if "://" in uri:
            continue
        try:
            files.extend(expand_images(uri)[0])
        except SourceError:
            if Path(uri).exists():
                files.append(Path(uri))
    for extra in (getattr(args, "model", None), getattr(args, "labels", None)):
        if isinstance(extra, str) and extra:
            files.append(Path(extra))
    return files
