"""Calibration (and validation) images: the user's files, prepared with the model's own preprocessing.

A folder (searched recursively) or a glob names the images. A seeded random sample of
``size`` of them is decoded, converted to the model's colour order and fitted to its input
size exactly as edge_sdk's runtime does (:class:`edge_sdk.preprocess.Preprocessor`), so the
int8 ranges are measured on what the device will see. Images that fail to decode are
counted and skipped; too few usable images stop the run with :class:`CalibrationError`.

Images come back as uint8 pixels ``(N, height, width, channels)``; normalization
``(pixel - mean) / std`` is applied by :meth:`ImageSpec.normalize` where a float model
needs it.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_sdk.errors import ImageError, OptionsError
from edge_sdk.image import load_image
from edge_sdk.metadata import ColorSpace
from edge_sdk.preprocess import Interpolation, Preprocessor, ResizeMode, input_format
from edge_sdk.quant import QuantParams

from .errors import CalibrationError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"})


@dataclass(frozen=True)
class ImageSpec:
    """The model's input preprocessing.

    ``size`` is ``(width, height)``; ``channels`` 1 or 3; ``color`` the channel order of
    3-channel inputs; ``mean``/``std`` the normalization ``(pixel - mean) / std`` the float
    model expects, one value or one per channel.
    """

    size: tuple[int, int]
    channels: int = 3
    color: ColorSpace = ColorSpace.RGB
    resize: ResizeMode = ResizeMode.STRETCH
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 1:
            raise OptionsError(f"input size must be (width, height) >= 1, got {self.size}")
        if self.channels not in (1, 3):
            raise OptionsError(f"image inputs have 1 or 3 channels, got {self.channels}")
        if not isinstance(self.resize, ResizeMode) or not isinstance(self.color, ColorSpace):
            raise OptionsError("resize must be a ResizeMode and color a ColorSpace")
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, self.channels):
                raise OptionsError(f"{name} needs 1 or {self.channels} values, got {len(v)}")
        if any(s == 0 for s in self.std):
            raise OptionsError(f"std must be non-zero, got {self.std}")

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """``(pixels - mean) / std`` as float32 (a new array)."""
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        return ((pixels.astype(np.float32) - mean) / std).astype(np.float32)


@dataclass(frozen=True)
class CalibrationOptions:
    """How many images to sample (``size``), with which ``seed``, and the fewest usable ones."""

    size: int = 200
    seed: int = 0
    min_images: int = 8
    progress: bool = True

    def __post_init__(self) -> None:
        if self.size < 1:
            raise OptionsError(f"calibration size must be >= 1, got {self.size}")
        if self.min_images < 1:
            raise OptionsError(f"min_images must be >= 1, got {self.min_images}")


@dataclass(frozen=True)
class ImageSet:
    """Prepared images ``(N, height, width, channels)`` uint8, their paths, and what was skipped."""

    images: np.ndarray
    paths: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    labels: np.ndarray | None = None  # class index per image for a labelled folder
    class_names: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return int(self.images.shape[0])


def list_images(spec: str | Path) -> list[Path]:
    """Image files under a folder (recursive) or matching a glob, sorted.

    Raises:
        CalibrationError: nothing exists there, or it holds no image files.
    """
    text = str(spec)
    p = Path(text)
    if p.is_dir():
        paths = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        where = f"folder {p}"
    elif p.is_file():
        paths = [p]
        where = f"file {p}"
    elif glob.has_magic(text):
        paths = sorted(Path(q) for q in glob.glob(text, recursive=True) if os.path.isfile(q))
        where = f"glob {text!r}"
    else:
        raise CalibrationError(f"calibration images: no such folder, file or glob: {text}")
    if not paths:
        raise CalibrationError(
            f"{where} holds no image files; expected files ending in {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    return paths


class _Progress:
    """A rich progress bar on stderr (silent when rich is missing or disabled)."""

    def __init__(self, enabled: bool, total: int, what: str) -> None:
        self._bar = None
        if not enabled:
            return
        try:
            # optional: rich progress bars, only on a terminal
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        except ImportError:  # pragma: no cover - rich is in the convert extra
            return
        self._bar = Progress(
            TextColumn(f"[bold]{what}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task(what, total=total)
        self._bar.start()

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _preprocessor(spec: ImageSpec) -> Preprocessor:
    w, h = spec.size
    fmt = input_format(
        (1, h, w, spec.channels),
        np.dtype(np.uint8),
        QuantParams((1.0,), (0,)),
        None,
        color=spec.color,
    )
    return Preprocessor(fmt, spec.resize, Interpolation.LINEAR)


def prepare(
    paths: Sequence[Path], spec: ImageSpec, *, progress: bool = False, what: str = "images"
) -> tuple[np.ndarray, list[str], list[str]]:
    """Decode and fit ``paths``; returns ``(images, used_paths, skipped_paths)``."""
    pre = _preprocessor(spec)
    w, h = spec.size
    out = np.empty((len(paths), h, w, spec.channels), np.uint8)
    used: list[str] = []
    skipped: list[str] = []
    bar = _Progress(progress, len(paths), what)
    try:
        for path in paths:
            try:
                image = load_image(path)
            except ImageError as exc:
                skipped.append(str(path))
                log.warning("skipping %s", exc)
                bar.advance()
                continue
            pre(image, out[len(used)])
            used.append(str(path))
            bar.advance()
    finally:
        bar.close()
    return out[: len(used)], used, skipped


def load_calibration(
    source: str | Path, spec: ImageSpec, options: CalibrationOptions | None = None
) -> ImageSet:
    """A seeded, reproducible sample of ``options.size`` images from ``source``, prepared.

    The same files, seed and size always give the same images in the same order.

    Raises:
        CalibrationError: no images, or fewer than ``options.min_images`` decodable ones
            (the message counts the undecodable files).
    """
    opts = options or CalibrationOptions()
    paths = list_images(source)
    rng = np.random.default_rng(opts.seed)
    if len(paths) > opts.size:
        pick = np.sort(rng.choice(len(paths), size=opts.size, replace=False))
        paths = [paths[i] for i in pick]
    images, used, skipped = prepare(paths, spec, progress=opts.progress, what="calibration")
    if len(used) < opts.min_images:
        bad = f"; {len(skipped)} of {len(paths)} files could not be decoded" if skipped else ""
        raise CalibrationError(
            f"calibration needs at least {opts.min_images} decodable images, found {len(used)} in {source}{bad}"
            " (add more images, or lower the minimum with --min-calibration)"
        )
    if skipped:
        log.warning("calibration: skipped %d undecodable image(s) of %d", len(skipped), len(paths))
    return ImageSet(images, tuple(used), tuple(skipped))


def load_labelled(
    folder: str | Path,
    spec: ImageSpec,
    class_names: Sequence[str] | None = None,
    *,
    progress: bool = False,
) -> ImageSet:
    """A labelled validation set: one sub-folder per class, every image in it.

    Classes are matched to ``class_names`` (the model's labels, output order) by name when
    given; otherwise sub-folders in sorted order are classes 0, 1, ...

    Raises:
        CalibrationError: not a folder, no class sub-folders, a sub-folder that names no
            class, or no decodable image.
    """
    root = Path(folder)
    if not root.is_dir():
        raise CalibrationError(f"validation set {root} is not a folder of class sub-folders")
    subdirs = sorted(d for d in root.iterdir() if d.is_dir())
    if not subdirs:
        raise CalibrationError(f"validation folder {root} has no class sub-folders (one per class expected)")
    names = tuple(class_names) if class_names else tuple(d.name for d in subdirs)
    index = {n: i for i, n in enumerate(names)}
    paths: list[Path] = []
    labels: list[int] = []
    for d in subdirs:
        if d.name not in index:
            raise CalibrationError(
                f"validation sub-folder {d.name!r} names no class of the model; expected one of "
                f"{', '.join(names[:10])}{', ...' if len(names) > 10 else ''}"
            )
        files = sorted(q for q in d.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [index[d.name]] * len(files)
    images, used, skipped = prepare(paths, spec, progress=progress, what="validation")
    if not used:
        raise CalibrationError(f"validation folder {root} has no decodable images")
    keep = {p: i for i, p in enumerate(map(str, paths))}
    y = np.asarray([labels[keep[p]] for p in used], np.int64)
    return ImageSet(images, tuple(used), tuple(skipped), y, names)
