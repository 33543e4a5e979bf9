"""``edge-sdk pose``: one JSON line per frame with the poses (keypoints in source pixels)."""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_model_args, emit, iter_frames, normalization_from_args, positive_int, probability


def _kpt_shape(text: str) -> tuple[int, int]:
    """argparse type: ``K,D`` (keypoints per pose, 2 or 3 values each)."""
    try:
        k, d = (int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K,D such as 17,3, got {text!r}") from None
    if k < 1 or d not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected K >= 1 and D of 2 or 3, got {text!r}")
    return k, d


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "pose",
        help="human pose estimation (MoveNet, YOLO pose) on images, folders, videos or cameras",
        description="Estimate poses in each frame of each SOURCE with a MoveNet single-pose "
        "[1, 1, 17, 3], MoveNet multi-pose [1, 6, 56] or YOLO pose .tflite model. Prints one JSON object "
        'per frame: {"source", "frame", "poses": [{"score", "box", "keypoints": [{"name", "x", "y", '
        '"score"}]}], "timing_ms"}; x, y are pixels of the original frame, origin top-left.',
    )
    add_model_args(p, labels=False)
    p.add_argument(
        "--threshold", "-t", type=probability, default=0.2, help="minimum pose score in [0, 1] (default 0.2)"
    )
    p.add_argument(
        "--iou", type=probability, default=None, help="YOLO pose: NMS IoU threshold (default 0.45)"
    )
    p.add_argument("--max-poses", "-k", type=positive_int, default=10, help="poses per frame (default 10)")
    p.add_argument(
        "--kpt-shape",
        type=_kpt_shape,
        default=None,
        help="YOLO pose: keypoints and values per keypoint, K,D (default: the model's Ultralytics metadata)",
    )
    p.add_argument(
        "--resize",
        choices=["stretch", "letterbox", "center_crop"],
        default=None,
        help="how frames are fitted to the input (default: model metadata, else letterbox)",
    )
    p.add_argument(
        "--annotate", metavar="DIR", help="also write each frame with its skeletons drawn into DIR"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing annotation files")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image, folder, glob, video or camera URI")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..draw import draw_poses
    from ..preprocess import ResizeMode
    from ..tasks.base import BaseOptions, TaskKind
    from ..tasks.pose import PoseEstimator, PoseEstimatorOptions
    from ..tasks.registry import create_task
    from .common import resolve_model_args
    from .segment import OutputFiles, write_rgb

    model_path, accelerator = resolve_model_args(args)
    options = PoseEstimatorOptions(
        threshold=args.threshold,
        iou=args.iou,
        max_poses=args.max_poses,
        kpt_shape=args.kpt_shape,
        resize=ResizeMode(args.resize) if args.resize else None,
        base=BaseOptions(
            model=model_path,
            accelerator=accelerator,
            num_threads=args.threads,
            normalization=normalization_from_args(args),
        ),
    )
    drawn = (
        OutputFiles(args.annotate, None, args.sources, args.overwrite, "annotation")
        if args.annotate
        else None
    )
    with create_task(TaskKind.POSE, options) as est:
        assert isinstance(est, PoseEstimator)
        for frame in iter_frames(args.sources):
            result = est.estimate(frame.image)
            emit(
                {
                    "source": frame.source,
                    "frame": frame.index,
                    "poses": result.as_dicts(),
                    "timing_ms": est.last_timing.as_dict(),
                }
            )
            if drawn is not None:
                write_rgb(drawn.path(frame.source, frame.index), draw_poses(frame.image, result))
    return 0
