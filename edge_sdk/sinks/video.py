"""Annotated video sink: every result drawn on its frame, written with ``cv2.VideoWriter``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from ..errors import OptionsError, SinkError
from ..safe_io import OutputGuard
from .annotate import annotate
from .base import Sink, SinkContext

if TYPE_CHECKING:
    from ..tasks.base import TaskResult

# container suffix -> FourCC OpenCV's bundled FFmpeg can write without extra codecs
_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
DEFAULT_FPS = 15.0
# Free space is checked every this many frames; below the minimum the video stops with an error.
_SPACE_CHECK_EVERY = 8
_MIN_FREE_BYTES = 64 * 1024


class VideoSink(Sink):
    """Write annotated frames (boxes, labels, keypoints, top classes) to a video file.

    Args:
        uri: ``video:PATH`` with a ``.mp4``/``.m4v``/``.mov`` (MPEG-4 Part 2), ``.avi`` or
            ``.mkv`` (Motion JPEG) suffix. An existing file is kept (an error) unless
            ``overwrite``; the path may never be the source itself. Frames go to a hidden
            temporary file in the same folder, renamed to ``PATH`` at :meth:`close`, so an
            interrupted run never leaves a truncated video at ``PATH``.
        fps: frames per second written in the file; default the source's rate, else 15.
        fourcc: override the four-character codec code (e.g. ``"avc1"`` where the OpenCV
            build has an H.264 encoder).
        overwrite: replace an existing file (``edge-sdk run --overwrite``).

    The frame size is the first frame's ``(width, height)``; later frames of another size are
    resized to it. One frame is written per result, so dropped live frames shorten the video.

    ``cv2.VideoWriter`` reports no write errors, so the sink checks the folder's free space
    every few frames and, at :meth:`close`, that the file holds every frame written. A full
    disk is a :class:`SinkError` and the partial video is removed; ``PATH`` only ever
    appears complete.

    Raises:
        OptionsError: unknown suffix, missing folder, bad fps or fourcc. SinkError: OpenCV
        cannot open a writer for the file, or the disk filled up.
    """

    def __init__(
        self, uri: str, *, fps: float | None = None, fourcc: str | None = None, overwrite: bool = False
    ) -> None:
        self.uri = uri
        target = uri.split(":", 1)[1] if ":" in uri else ""
        if not target:
            raise OptionsError(f"video sink needs a path, e.g. video:out.mp4, got {uri!r}")
        self.path = Path(target)
        suffix = self.path.suffix.lower()
        if fourcc is None and suffix not in _FOURCC:
            raise OptionsError(
                f"video sink {uri}: expected a {', '.join(sorted(_FOURCC))} file, got {suffix or 'no suffix'!r}"
            )
        if fourcc is not None and (not isinstance(fourcc, str) or len(fourcc) != 4):
            raise OptionsError(f"fourcc must be 4 characters, got {fourcc!r}")
        if fps is not None and not (isinstance(fps, (int, float)) and 0 < fps <= 1000):
            raise OptionsError(f"fps must be a number in (0, 1000], got {fps!r}")
        if not self.path.parent.is_dir():
            raise OptionsError(f"video sink {uri}: folder {self.path.parent} does not exist")
        if not isinstance(overwrite, bool):
            raise OptionsError(f"video sink option overwrite must be true or false, got {overwrite!r}")
        self.overwrite = overwrite
        if not overwrite and os.path.lexists(self.path):
            raise OptionsError(f"video sink {uri}: {self.path} exists; pass --overwrite to replace it")
        self._tmp: Path | None = None
        self.fourcc = fourcc or _FOURCC[suffix]
        self.fps = float(fps) if fps is not None else None
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None

    def open(self, context: SinkContext) -> None:
        if "://" not in context.source and Path(context.source).exists():
            OutputGuard([Path(context.source)], overwrite=True, error=OptionsError).check(
                self.path, "video sink"
            )
        if self.fps is None:
            self.fps = context.fps if context.fps and 0 < context.fps <= 1000 else DEFAULT_FPS

    def _open_writer(self, size: tuple[int, int]) -> cv2.VideoWriter:
        fd, name = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=f".tmp{self.path.suffix}", dir=self.path.parent
        )
        os.close(fd)
        self._tmp = Path(name)
        writer = cv2.VideoWriter(
            str(self._tmp), cv2.VideoWriter.fourcc(*self.fourcc), self.fps or DEFAULT_FPS, size
        )
        if not writer.isOpened():
            writer.release()
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
            raise SinkError(
                f"cannot write video {self.path}: OpenCV has no {self.fourcc!r} encoder for it "
                f"or the file cannot be created"
            )
        return writer

    def write(self, result: TaskResult) -> None:
        image = annotate(result)  # the one copy: the annotated frame
        size = (int(image.shape[1]), int(image.shape[0]))
        if self._writer is None:
            self.size = size
            self._writer = self._open_writer(size)
        elif size != self.size:
            assert self.size is not None
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        # annotate() returned our own copy: convert it to BGR in place.
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR, dst=image)
        self._writer.write(bgr)
        self.frames += 1
        if self.frames % _SPACE_CHECK_EVERY == 0:
            self._check_space()

    def _check_space(self) -> None:
        """cv2.VideoWriter drops failed writes silently: stop at a full disk instead of going on."""
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return
        if st.f_bavail * st.f_frsize < _MIN_FREE_BYTES:
            self._discard()
            raise SinkError(
                f"cannot write video {self.path}: the disk is full ({st.f_bavail * st.f_frsize} bytes free); "
                "the partial video was removed"
            )

    def _discard(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.unlink(missing_ok=True)

    def _verify(self, tmp: Path) -> None:
        """The file must hold every frame written (a full disk truncates it without an error)."""
        cap = cv2.VideoCapture(str(tmp))
        try:
            held = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        finally:
            cap.release()
        if held != self.frames:
            tmp.unlink(missing_ok=True)
            raise SinkError(
                f"cannot write video {self.path}: {self.frames} frame(s) were written but the file holds "
                f"{held} (disk full?); the incomplete video was removed"
            )

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            self._verify(tmp)
            try:
                if not self.overwrite and os.path.lexists(self.path):
                    raise SinkError(
                        f"video sink: {self.path} appeared while recording; the video is left in {tmp}"
                    )
                os.replace(tmp, self.path)
            except OSError as exc:
                raise SinkError(f"cannot move the video to {self.path}: {exc.strerror or exc}") from exc
