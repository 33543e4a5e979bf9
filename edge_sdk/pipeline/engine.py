"""``Pipeline``: a source, a task and sinks on three threads joined by bounded queues.

::

    capture thread ──frames queue──► inference thread ──results queue──► sink thread
    (source.frames)  (queue_size)    (preprocess+invoke   (result_      (records, drawing,
                                      +decode: the task)   queue_size)   every sink in order)

The interpreter releases the GIL while it invokes, so capture and sinks (JPEG/MP4 encoding,
MQTT) run while the model computes.

Back-pressure:

* **files** (``Source.live`` false): nothing is ever dropped. When the model is slower than
  decoding, capture waits for room in the queue; every frame is processed, in order.
* **live sources** (cameras, streams): when the frames queue is full, the **oldest** queued
  frame is dropped to make room for the new one (``stats.dropped`` counts them), so results
  stay current. The queues keep frame order; dropped frames leave gaps in ``Frame.index``.

Frames are never copied by the pipeline: sources hand out arrays they own (each backend's
BGR→RGB conversion is the one copy), and the same array is read by the task and the sinks.
For a custom source that lends its buffers, set ``PipelineOptions(copy_frames=True)``
(one copy per frame, on the capture thread).

Stopping: at the end of the source; after ``max_frames`` frames or ``duration_s`` seconds;
on :meth:`Pipeline.stop` (frames still queued are discarded, results already computed are
written); or on an error in any stage, which stops the others and is raised by
:meth:`Pipeline.wait`/:meth:`Pipeline.run`: typed errors (:class:`~edge_sdk.errors.EdgeSdkError`),
``KeyboardInterrupt``, ``SystemExit`` and ``BrokenPipeError`` as they are, a sink's other errors
as :class:`~edge_sdk.errors.SinkError`, and the task's or the source's other errors as
:class:`~edge_sdk.errors.PipelineError` (``"<stage> stage failed: ..."``, the original as
``__cause__``). Threads are joined with timeouts: a stage that does not stop within
``stop_timeout_s`` of a stop request raises :class:`~edge_sdk.errors.PipelineError` instead of
hanging.

The pipeline owns what it is given: the source is closed when the run ends, and so is the
task (``close()`` of the adapter or of the object it wraps, e.g. a
:class:`~edge_sdk.tasks.faces.recognizer.FaceRecognizer`'s gallery) once the inference thread is
done with it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from devices.sources import Source, open_source

from ..errors import EdgeSdkError, OptionsError, PipelineError, SinkError
from ..frame import Frame
from ..sinks import Sink, SinkContext, open_sink
from .options import PipelineOptions, PipelineStats
from .tasks import TaskAdapter, TaskResult, adapt

log = logging.getLogger(__name__)

_END = object()  # end-of-stream marker passed down the queues


class Pipeline:
    """Run ``task`` on every frame of ``source`` and hand the results to ``sinks``.

    Args:
        source: a source URI (opened with :func:`devices.sources.open_source`) or an open
            :class:`~devices.sources.Source`. The pipeline closes it when the run ends.
        task: a :class:`~edge_sdk.tasks.classify.Classifier`, :class:`~edge_sdk.tasks.detect.Detector`,
            :class:`~edge_sdk.tasks.faces.recognizer.FaceRecognizer`, or any
            :class:`~edge_sdk.pipeline.tasks.TaskAdapter`. The pipeline closes it when the run
            ends (a FaceRecognizer's gallery file), as it does the source.
        sinks: sink URIs (see :mod:`edge_sdk.sinks`) or :class:`~edge_sdk.sinks.Sink` objects.
        options: :class:`PipelineOptions`; option keywords are accepted as a shortcut.

    Use :meth:`run` to block until the end, or :meth:`start` / :meth:`stop` / :meth:`wait`.
    Iterating the pipeline is not supported; add a sink (any object with ``write(result)``
    deriving from :class:`Sink`) to consume results in Python.

    Raises (when built):
        OptionsError: bad options, task or sink. SourceError: the source cannot be opened.
        MissingDependencyError, SinkError: a sink cannot be built.
    """

    def __init__(
        self,
        source: str | Source,
        task: Any,
        sinks: Iterable[str | Sink] = (),
        options: PipelineOptions | None = None,
        **option_kwargs: Any,
    ) -> None:
        if options is not None and option_kwargs:
            raise OptionsError("pass either options= or option keywords, not both")
        self.options = opts = options or PipelineOptions(**option_kwargs)
        self.task: TaskAdapter = adapt(task)
        built: list[Sink] = []
        owned: list[Sink] = []  # built here from URIs: closed again if construction fails
        try:
            for s in sinks:
                if isinstance(s, str):
                    owned.append(open_sink(s))
                    built.append(owned[-1])
                elif isinstance(s, Sink):
                    built.append(s)
                else:
                    raise OptionsError(f"a sink must be a URI or a Sink, got {type(s).__name__}")
            if isinstance(source, str):
                self.source: Source = open_source(source)
            else:
                if not isinstance(source, Source):
                    raise OptionsError(f"source must be a URI or a Source, got {type(source).__name__}")
                self.source = source
        except BaseException:
            for sink in owned:
                _close_quietly(sink)
            raise
        self.sinks = built
        self.drop_oldest = bool(self.source.live) if opts.drop_oldest is None else opts.drop_oldest
        self.stats = PipelineStats()
        self._frames: queue.Queue[Any] = queue.Queue(maxsize=opts.queue_size)
        self._results: queue.Queue[Any] = queue.Queue(maxsize=opts.result_queue_size)
        self._stop = threading.Event()  # stop capturing, discard queued frames
        self._abort = threading.Event()  # an error: every stage exits now
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closers: list[threading.Thread] = []
        self._swap_lock = threading.Lock()
        self._pending_swap: TaskSwap | None = None
        self._infer_done = False
        self._t0: float | None = None
        self._t_end: float | None = None
        self._stop_requested_at: float | None = None
        self._finished = False

    # -- public API ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> Pipeline:
        """Open the sinks and start the three threads; returns at once.

        Raises:
            PipelineError: already started. SinkError, OSError: a sink cannot be opened (the
            sinks opened so far and the source are closed).
        """
        if self._threads:
            raise PipelineError("this pipeline was already started; build a new one to run again")
        fps = self.source.fps
        info = self.source.info
        if not fps and isinstance(info, dict):
            fps = info.get("fps")
        context = SinkContext(
            source=self.source.uri,
            task=self.task.kind.value,
            fps=float(fps) if fps else None,
            live=bool(self.source.live),
        )
        opened: list[Sink] = []
        try:
            for sink in self.sinks:
                sink.open(context)
                opened.append(sink)
        except BaseException:
            for sink in opened:
                _close_quietly(sink)
            _close_quietly(self.source)
            close_task(self.task)
            raise
        self._t0 = time.monotonic()
        self._threads = [
            threading.Thread(target=self._capture_loop, name="edge-sdk-capture", daemon=True),
            threading.Thread(target=self._infer_loop, name="edge-sdk-infer", daemon=True),
            threading.Thread(target=self._sink_loop, name="edge-sdk-sinks", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Ask the pipeline to stop: capture ends, queued frames are discarded, results already
        computed are written and the sinks closed. Returns at once (use :meth:`wait`);
        safe from any thread and from signal handlers."""
        if self._stop.is_set():
            return
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self._stop.set()
        if self.source.live:
            # unblocks a read that waits for the device; live sources allow close from any thread
            self._close_source_async()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True when it has, False when ``timeout`` seconds passed.

        Raises:
            the first stage error: typed errors (e.g. ImageError), KeyboardInterrupt,
            SystemExit and BrokenPipeError as they are; a sink's other errors as SinkError;
            the task's or the source's other errors as PipelineError (original as
            ``__cause__``). PipelineError: a stage did not stop within ``stop_timeout_s`` of a
            stop request or an error.
        """
        if not self._threads:
            raise PipelineError("the pipeline was not started: call start() or run()")
        deadline = None if timeout is None else time.monotonic() + timeout
        opts = self.options
        while True:
            alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                break
            alive[0].join(0.05)  # short joins: the main thread keeps handling signals
            now = time.monotonic()
            if opts.duration_s is not None and self._t0 is not None and now - self._t0 >= opts.duration_s:
                self.stop()
            if self._abort.is_set() and self._stop_requested_at is None:
                self._stop_requested_at = now
            if self._stop_requested_at is not None and now - self._stop_requested_at > opts.stop_timeout_s:
                self._abort.set()
                names = ", ".join(t.name for t in self._threads if t.is_alive())
                self._finish()
                err = self._error
                if err is not None:
                    raise PipelineError(
                        f"stage(s) {names} did not stop within {opts.stop_timeout_s:g} s after: {err}"
                    ) from err
                raise PipelineError(
                    f"stage(s) {names} did not stop within {opts.stop_timeout_s:g} s of the stop request"
                )
            if deadline is not None and now >= deadline:
                return False
        self._finish()
        if self._error is not None:
            raise self._error
        return True

    def run(self) -> PipelineStats:
        """Start, wait for the end, and return the stats (raises like :meth:`wait`)."""
        self.start()
        try:
            self.wait()
        except BaseException:
            self.stop()
            raise
        return self.stats

    def swap_task(self, task: Any) -> TaskSwap:
        """Replace the task between two frames (a live model update); returns at once.

        The inference thread picks the new task up before its next frame: every frame runs
        entirely on the old task or entirely on the new one, and none is skipped. The old task
        is closed there. Wait on the returned :class:`TaskSwap` (``done``); ``applied`` is
        False when the run ended first (the new task is closed then too).

        Raises:
            OptionsError: the new task is of another kind. PipelineError: a swap is pending.
        """
        swap = TaskSwap(adapt(task))
        if swap.task.kind is not self.task.kind:
            raise OptionsError(
                f"a swapped-in task must be a {self.task.kind.value} task, got {swap.task.kind.value}"
            )
        with self._swap_lock:
            if self._pending_swap is not None:
                raise PipelineError("a task swap is already pending; wait for it first")
            self._pending_swap = swap
        if self._infer_done:  # the run is over: nobody will take it up
            self._apply_swap(None)
        return swap

    def _apply_swap(self, frame: Frame | None) -> None:
        with self._swap_lock:
            swap, self._pending_swap = self._pending_swap, None
        if swap is None:
            return
        if frame is None:  # the run ended: the new task is not used
            close_task(swap.task)
        else:
            old, self.task = self.task, swap.task
            swap.first_frame = frame.index
            swap.applied = True
            close_task(old)
        swap.done.set()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._threads and self.running:
            self.stop()
            try:
                self.wait()
            except EdgeSdkError:
                if exc is None:
                    raise

    # -- stages ----------------------------------------------------------------------------------

    def _finish(self) -> None:
        # A live source's close() waits (bounded) for its reader thread to leave the device
        # read: wait for it too, so that no thread is inside the capture library at exit.
        deadline = time.monotonic() + self.options.stop_timeout_s
        for t in self._closers:
            t.join(max(0.0, deadline - time.monotonic()))
        if not self._finished:
            self._finished = True
            self._t_end = time.monotonic()
        if self._t0 is not None:
            self.stats.elapsed_s = (self._t_end or time.monotonic()) - self._t0
        self.stats.source_dropped = int(self.source.dropped or 0)

    def _fail(self, stage: str, exc: BaseException) -> None:
        exc = _stage_error(stage, exc)
        with self._error_lock:
            if self._error is None:
                self._error = exc
                log.debug("pipeline %s stage failed: %r", stage, exc)
        self._abort.set()
        self._stop.set()
        if self.source.live:
            self._close_source_async()

    def _close_source_async(self) -> None:
        t = threading.Thread(target=_close_quietly, args=(self.source,), name="edge-sdk-close", daemon=True)
        self._closers.append(t)
        t.start()

    def _put(self, q: queue.Queue[Any], item: Any) -> bool:
        """Blocking put that gives up on abort (False)."""
        while not self._abort.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue[Any]) -> Any:
        """Blocking get that gives up on abort (``_END``)."""
        while not self._abort.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def _put_drop_oldest(self, frame: Frame) -> None:
        # Only this thread puts and only the inference thread gets: the loop ends at once.
        while True:
            try:
                self._frames.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._frames.get_nowait()
                    self.stats.dropped += 1
                except queue.Empty:
                    pass

    def _capture_loop(self) -> None:
        opts = self.options
        frames: Iterator[Frame] | None = None
        try:
            frames = iter(self.source)
            for frame in frames:
                if self._stop.is_set():
                    break
                if opts.copy_frames:
                    frame = Frame(frame.image.copy(), frame.index, frame.timestamp, frame.source)
                self.stats.captured += 1
                if self.drop_oldest:
                    self._put_drop_oldest(frame)
                elif not self._put(self._frames, frame):
                    break
                if opts.max_frames is not None and self.stats.captured >= opts.max_frames:
                    break
                if (
                    opts.duration_s is not None
                    and self._t0 is not None
                    and time.monotonic() - self._t0 >= opts.duration_s
                ):
                    break
        except BaseException as exc:
            self._fail("capture", exc)
        finally:
            if isinstance(frames, Generator):  # a generator's cleanup runs now, on this thread
                try:
                    frames.close()
                except Exception as exc:  # a generator's cleanup error is logged, not raised
                    log.warning("closing the source iterator failed: %s", exc)
            _close_quietly(self.source)
            self._put(self._frames, _END)

    def _infer_loop(self) -> None:
        try:
            while True:
                item = self._get(self._frames)
                if item is _END:
                    break
                if self._stop.is_set():
                    self.stats.discarded += 1
                    continue
                if self._pending_swap is not None:
                    self._apply_swap(item)
                result = self.task(item)
                self.stats.processed += 1
                if not self._put(self._results, result):
                    break
        except BaseException as exc:
            self._fail("inference", exc)
        finally:
            self._put(self._results, _END)
            close_task(self.task)  # only this thread uses the task: it is done with it now
            self._infer_done = True
            self._apply_swap(None)

    def _sink_loop(self) -> None:
        try:
            while True:
                item = self._get(self._results)
                if item is _END:
                    break
                self._write(item)
                self.stats.written += 1
        except BaseException as exc:
            self._fail("sink", exc)
        finally:
            for sink in self.sinks:
                try:
                    sink.close()
                except BaseException as exc:
                    self._fail("sink", _sink_error(sink, exc, "closing"))

    def _write(self, result: TaskResult) -> None:
        for sink in self.sinks:
            try:
                sink.write(result)
            except BaseException as exc:
                raise _sink_error(sink, exc, "writing to") from exc


@dataclass(eq=False)
class TaskSwap:
    """A pending :meth:`Pipeline.swap_task`: ``done`` is set once the inference thread took
    it up; then ``applied`` says whether the new task runs, from frame ``first_frame`` on."""

    task: TaskAdapter
    done: threading.Event = field(default_factory=threading.Event)
    applied: bool = False
    first_frame: int | None = None


_PASS_THROUGH = (EdgeSdkError, BrokenPipeError, KeyboardInterrupt, SystemExit)
"""Errors a stage's failure is raised as, unchanged: typed errors, broken pipes, interrupts."""


def _stage_error(stage: str, exc: BaseException) -> BaseException:
    """A stage's failure as PipelineError (cause: the original), unless in ``_PASS_THROUGH``."""
    if isinstance(exc, _PASS_THROUGH):
        return exc
    err = PipelineError(f"{stage} stage failed: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def _sink_error(sink: Sink, exc: BaseException, doing: str) -> BaseException:
    """Sink failures as SinkError; typed errors, broken pipes and interrupts as they are."""
    if isinstance(exc, _PASS_THROUGH):
        return exc
    err = SinkError(f"{doing} sink {sink.uri or type(sink).__name__} failed: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def close_task(task: TaskAdapter) -> None:
    """Close a task adapter (which closes the task it wraps). Best effort: errors are logged."""
    try:
        task.close()
    except Exception as exc:  # the run's own error matters more
        log.warning("closing the %s task failed: %s", task.kind.value, exc)


def _close_quietly(obj: Source | Sink) -> None:
    try:
        obj.close()
    except Exception as exc:  # closing is best effort; the run's own error matters more
        log.warning("closing %s failed: %s", obj.uri or type(obj).__name__, exc)
