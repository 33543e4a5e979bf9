"""``edge-sdk segment``: one JSON line per frame with the classes present and their areas;
``--masks DIR`` writes each class map as a lossless PNG of class ids."""

from __future__ import annotations

import argparse
import glob
import re
from pathlib import Path
from typing import Any

import numpy as np

from .common import add_model_args, emit, iter_frames, normalization_from_args, probability

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "segment",
        help="semantic segmentation of images, folders, videos or cameras",
        description="Segment each frame of each SOURCE with a .tflite segmentation model (class ids "
        "[1, H, W], per-class scores [1, H, W, C] or a foreground probability [1, H, W, 1]). Prints one "
        'JSON object per frame: {"source", "frame", "classes": [{"id", "label", "pixels", "fraction"}], '
        '"mask", "timing_ms"}; pixels are counted at the source image\'s size.',
    )
    add_model_args(p)
    p.add_argument(
        "--threshold",
        "-t",
        type=probability,
        default=0.5,
        help="foreground outputs: minimum probability of a foreground pixel (default 0.5)",
    )
    p.add_argument(
        "--masks",
        metavar="DIR",
        help="write each mask as a PNG of class ids (8-bit, 16-bit above 255 classes; lossless) "
        "named after the source frame",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing mask/annotation files")
    p.add_argument(
        "--resize",
        choices=["stretch", "letterbox", "center_crop"],
        default=None,
        help="how frames are fitted to the input (default: model metadata, else stretch)",
    )
    p.add_argument("--annotate", metavar="DIR", help="also write each frame with its class overlay into DIR")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image, folder, glob, video or camera URI")
    p.set_defaults(func=run)


class OutputFiles:
    """Names output files after source frames, and refuses to replace an input or (without
    ``overwrite``) any existing file.

    Args:
        directory: where the files go (created).
        suffix: ``.png`` for masks; None keeps an image's own suffix (``.jpg`` for video frames).
        sources: the SOURCE arguments: files, folders and globs that must never be written over.

    Raises:
        EdgeSdkError: the folder cannot be created.
    """

    def __init__(
        self, directory: str, suffix: str | None, sources: list[str], overwrite: bool, what: str
    ) -> None:
        # lazy: CLI start-up imports only the subcommand that runs
        from ..errors import EdgeSdkError

        self.directory = Path(directory)
        self.suffix = suffix
        self.overwrite = overwrite
        self.what = what
        self.taken: set[Path] = set()
        self.files: set[Path] = set()
        self.folders: set[Path] = set()
        self.globs: list[str] = []
        for s in sources:
            p = Path(s)
            if p.is_dir():
                self.folders.add(p.resolve())
            elif p.is_file():
                self.files.add(p.resolve())
            elif glob.has_magic(s):
                self.globs.append(s)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgeSdkError(
                f"cannot create {what} directory {self.directory}: {exc.strerror or exc}"
            ) from exc

    def _is_input(self, path: Path) -> bool:
        real = path.resolve()
        if real in self.files:
            return True
        if not path.exists():
            return False
        return real.parent in self.folders or any(
            real in {Path(g).resolve() for g in glob.glob(pat)} for pat in self.globs
        )

    def path(self, source: str, frame: int) -> Path:
        """The file for this frame: ``<stem><suffix>`` for an image file, else
        ``<stem>_<frame>.<suffix>``; a name already written in this run gets the frame too.

        Raises:
            EdgeSdkError: the file is an input, or exists and ``overwrite`` is off.
        """
        # lazy: CLI start-up imports only the subcommand that runs
        from ..errors import EdgeSdkError

        src = Path(source)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", src.stem or source).strip("_") or "frame"
        is_image = src.suffix.lower() in IMAGE_SUFFIXES
        suffix = self.suffix or (src.suffix.lower() if is_image else ".jpg")
        path = self.directory / f"{stem}{suffix}"
        if not is_image or path in self.taken:
            path = self.directory / f"{stem}_{frame:06d}{suffix}"
        self.taken.add(path)
        if self._is_input(path):
            raise EdgeSdkError(f"refusing to write the {self.what} {path}: it is one of the input images")
        if path.exists() and not self.overwrite:
            raise EdgeSdkError(
                f"refusing to replace the existing file {path} with a {self.what}; pass --overwrite"
            )
        return path


def write_png(path: Path, mask: np.ndarray) -> None:
    """Write class ids as a lossless PNG: 8-bit when every id fits, else 16-bit.

    Raises:
        EdgeSdkError: ids outside 0..65535, or the file cannot be written.
    """
    # lazy: CLI start-up imports only the subcommand that runs
    import cv2

    from ..errors import EdgeSdkError

    lo, hi = int(mask.min()), int(mask.max())
    if lo < 0 or hi > 65535:
        raise EdgeSdkError(f"class ids must be in 0..65535 to be written as PNG, found {lo}..{hi}")
    data: np.ndarray[Any, np.dtype[np.integer[Any]]] = mask.astype(np.uint8 if hi < 256 else np.uint16)
    if not cv2.imwrite(str(path), data, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise EdgeSdkError(f"cannot write mask {path}")


def write_rgb(path: Path, image: np.ndarray) -> None:
    """Write an RGB image (an annotation).

    Raises:
        EdgeSdkError: the file cannot be written.
    """
    # lazy: CLI start-up imports only the subcommand that runs
    import cv2

    from ..errors import EdgeSdkError

    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise EdgeSdkError(f"cannot write annotated image {path}")


def run(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..draw import draw_segmentation
    from ..preprocess import ResizeMode
    from ..tasks.base import BaseOptions, TaskKind
    from ..tasks.registry import create_task
    from ..tasks.segment import Segmenter, SegmenterOptions
    from .common import resolve_model_args

    model_path, accelerator = resolve_model_args(args)
    options = SegmenterOptions(
        threshold=args.threshold,
        resize=ResizeMode(args.resize) if args.resize else None,
        base=BaseOptions(
            model=model_path,
            labels=args.labels,
            accelerator=accelerator,
            num_threads=args.threads,
            normalization=normalization_from_args(args),
        ),
    )
    masks = OutputFiles(args.masks, ".png", args.sources, args.overwrite, "mask") if args.masks else None
    drawn = (
        OutputFiles(args.annotate, None, args.sources, args.overwrite, "annotation")
        if args.annotate
        else None
    )
    with create_task(TaskKind.SEGMENT, options) as seg:
        assert isinstance(seg, Segmenter)
        for frame in iter_frames(args.sources):
            result = seg.segment(frame.image)
            mask_path = None
            if masks is not None:
                mask_path = masks.path(frame.source, frame.index)
                write_png(mask_path, result.mask)
            emit(
                {
                    "source": frame.source,
                    "frame": frame.index,
                    "classes": result.as_dicts(),
                    "mask": None if mask_path is None else str(mask_path),
                    "timing_ms": seg.last_timing.as_dict(),
                }
            )
            if drawn is not None:
                write_rgb(drawn.path(frame.source, frame.index), draw_segmentation(frame.image, result))
    return 0
