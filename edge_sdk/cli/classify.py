"""``edge-sdk classify``: one JSON line per frame with the top classes."""

from __future__ import annotations

import argparse
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


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "classify",
        help="classify images, folders, videos or cameras",
        description="Classify each frame of each SOURCE. Prints one JSON object per frame: "
        '{"source", "frame", "classes": [{"id", "label", "score"}], "timing_ms"}.',
    )
    add_model_args(p)
    p.add_argument("--top-k", "-k", type=positive_int, default=5, help="classes per frame (default 5)")
    p.add_argument(
        "--threshold", "-t", type=probability, default=0.0, help="minimum score in [0, 1] (default 0)"
    )
    p.add_argument(
        "--resize",
        choices=["stretch", "letterbox", "center_crop"],
        default=None,
        help="how frames are fitted to the input (default: model metadata, else stretch)",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image, folder, glob, video or camera URI")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..preprocess import ResizeMode
    from ..tasks.base import BaseOptions, TaskKind
    from ..tasks.classify import Classifier, ClassifierOptions
    from ..tasks.registry import create_task

    model_path, accelerator = resolve_model_args(args)
    options = ClassifierOptions(
        top_k=args.top_k,
        threshold=args.threshold,
        resize=ResizeMode(args.resize) if args.resize else None,
        base=BaseOptions(
            model=model_path, labels=args.labels, accelerator=accelerator, num_threads=args.threads
        ),
        normalization=normalization_from_args(args),
    )
    clf = create_task(TaskKind.CLASSIFY, options)
    assert isinstance(clf, Classifier)
    for frame in iter_frames(args.sources):
        clf.model.track_source(frame.source)
        result = clf.classify(frame.image)
        emit(
            {
                "source": frame.source,
                "frame": frame.index,
                "classes": result.as_dicts(),
                "timing_ms": clf.last_timing.as_dict(),
            }
        )
    return 0
