"""Pipeline threading: order, back-pressure, drop-oldest for live sources only, stopping."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.errors import ImageError, OptionsError, PipelineError, SinkError
from edge_sdk.frame import Frame
from edge_sdk.pipeline.engine import Pipeline, PipelineOptions
from edge_sdk.pipeline.tasks import TaskKind, TaskResult
from edge_sdk.sinks import Sink
from tests.pipeline_helpers import CollectSink, RecordingTask, ScriptedSource, write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("pipeline") / "clip.mp4", 40)


def test_video_file_every_frame_in_order(video: Path) -> None:
    sink = CollectSink()
    task = RecordingTask()
    stats = Pipeline(str(video), task, [sink], queue_size=1, result_queue_size=1).run()
    # what OpenCV decodes directly, frame by frame
    cap = cv2.VideoCapture(str(video))
    expected = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        expected.append(float(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).mean()) / 255.0)
    assert len(expected) == 40
    assert task.seen == list(range(40))
    assert [r.frame.index for r in sink.results] == list(range(40))
    got = [r.result.categories[0].score for r in sink.results]  # type: ignore[union-attr]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert (stats.captured, stats.processed, stats.written, stats.dropped) == (40, 40, 40, 0)
    assert sink.closed
    assert sink.context is not None and sink.context.task == "classify"
    assert sink.context.fps == pytest.approx(25.0) and sink.context.live is False


def test_files_apply_back_pressure_and_never_drop() -> None:
    # The task holds its first frame; a file source must wait, not run ahead and drop.
    src = ScriptedSource(50, live=False)
    task = RecordingTask(gate=threading.Event(), gate_timeout=0.3, source=src)
    sink = CollectSink()
    stats = Pipeline(src, task, [sink], queue_size=2).run()
    assert task.produced_at_first_call is not None and task.produced_at_first_call <= 2 + 2
    assert task.seen == list(range(50))
    assert stats.dropped == 0 and stats.processed == 50


def test_live_sources_drop_the_oldest_frames() -> None:
    src = ScriptedSource(50, live=True)
    task = RecordingTask(gate=src.all_read, source=src)
    sink = CollectSink()
    stats = Pipeline(src, task, [sink], queue_size=2).run()
    seen = task.seen
    assert seen == sorted(set(seen)), "order kept"
    assert seen[-1] == 49, "the newest frame is never the one dropped"
    assert stats.captured == 50
    assert stats.dropped == 50 - len(seen) >= 50 - 3
    assert [r.frame.index for r in sink.results] == seen


def test_drop_policy_can_be_forced_off_for_a_live_source() -> None:
    src = ScriptedSource(30, live=True)
    task = RecordingTask(gate=threading.Event(), gate_timeout=0.2, source=src)
    stats = Pipeline(src, task, [CollectSink()], drop_oldest=False).run()
    assert task.seen == list(range(30)) and stats.dropped == 0


def test_max_frames_on_an_endless_source() -> None:
    src = ScriptedSource(None)
    sink = CollectSink()
    stats = Pipeline(src, RecordingTask(), [sink], max_frames=7, drop_oldest=False).run()
    assert stats.captured == 7 and [r.frame.index for r in sink.results] == list(range(7))
    assert src.closed.is_set()


def test_duration_stops_an_endless_source() -> None:
    src = ScriptedSource(None)
    stats = Pipeline(src, RecordingTask(), [CollectSink()], duration_s=0.3).run()
    assert stats.processed >= 1 and src.closed.is_set()


def test_stop_from_another_thread() -> None:
    src = ScriptedSource(None)
    sink = CollectSink()
    p = Pipeline(src, RecordingTask(), [sink]).start()
    assert not p.wait(timeout=0.2)
    p.stop()
    assert p.wait(timeout=30)
    assert sink.closed and src.closed.is_set()
    s = p.stats
    assert s.written == len(sink.results) and s.processed >= s.written


class FailingSink(Sink):
    def __init__(self, fail_at: int) -> None:
        self.uri = "failing:"
        self.fail_at = fail_at
        self.writes = 0
        self.closed = False

    def write(self, result: TaskResult) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            raise RuntimeError("disk on fire")

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("live", [False, True])
def test_a_sink_error_stops_everything_and_is_raised_typed(live: bool) -> None:
    src = ScriptedSource(None, live=live)
    bad, good = FailingSink(3), CollectSink()
    p = Pipeline(src, RecordingTask(), [good, bad])
    with pytest.raises(SinkError, match=r"failing:.*RuntimeError: disk on fire"):
        p.run()
    assert bad.closed and good.closed and src.closed.is_set()
    assert not p.running
    assert len(good.results) == 3


def test_a_task_error_is_raised_as_is() -> None:
    class BadTask:
        kind = TaskKind.CLASSIFY

        def __call__(self, frame: Frame) -> TaskResult:
            raise ImageError("expected an RGB image, got a potato")

        def close(self) -> None:
            pass

    src = ScriptedSource(None, live=False)
    with pytest.raises(ImageError, match="potato"):
        Pipeline(src, BadTask(), [CollectSink()]).run()
    assert src.closed.is_set()


def test_a_hung_sink_raises_instead_of_hanging() -> None:
    release, entered = threading.Event(), threading.Event()

    class HangingSink(Sink):
        uri = "hang:"

        def write(self, result: TaskResult) -> None:
            entered.set()
            release.wait(30)

    p = Pipeline(ScriptedSource(None), RecordingTask(), [HangingSink()], stop_timeout_s=0.3).start()
    assert entered.wait(10)
    p.stop()
    try:
        with pytest.raises(PipelineError, match=r"edge-sdk-sinks.*did not stop within 0\.3 s"):
            p.wait()
    finally:
        release.set()


def test_copy_frames_copies_once() -> None:
    src = ScriptedSource(3, live=False)
    seen: list[Frame] = []

    class Keep(CollectSink):
        def write(self, result: TaskResult) -> None:
            seen.append(result.frame)

    Pipeline(src, RecordingTask(), [Keep()], copy_frames=True).run()
    assert len(seen) == 3 and all(f.image.flags.owndata for f in seen)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"queue_size": 0}, "queue_size must be an integer >= 1"),
        ({"result_queue_size": 1.5}, "result_queue_size must be an integer >= 1"),
        ({"max_frames": 0}, "max_frames must be an integer >= 1"),
        ({"duration_s": -1}, "duration_s must be a number of seconds > 0"),
        ({"drop_oldest": "yes"}, "drop_oldest must be true, false or None"),
        ({"stop_timeout_s": 0}, "stop_timeout_s must be a number of seconds > 0"),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        PipelineOptions(**kwargs)  # type: ignore[arg-type]


def test_bad_task_sink_and_source() -> None:
    with pytest.raises(OptionsError, match="task must be a Classifier, Detector, FaceRecognizer"):
        Pipeline(ScriptedSource(1), object(), [])
    with pytest.raises(OptionsError, match="a sink must be a URI or a Sink"):
        Pipeline(ScriptedSource(1), RecordingTask(), [42])  # type: ignore[list-item]
    with pytest.raises(OptionsError, match="unknown sink 'kafka://x'"):
        Pipeline(ScriptedSource(1), RecordingTask(), ["kafka://x"])
    with pytest.raises(OptionsError, match="either options= or option keywords"):
        Pipeline(ScriptedSource(1), RecordingTask(), [], PipelineOptions(), queue_size=3)


def test_started_twice_and_wait_before_start() -> None:
    p = Pipeline(ScriptedSource(2), RecordingTask(), [CollectSink()])
    with pytest.raises(PipelineError, match="not started"):
        p.wait()
    p.run()
    with pytest.raises(PipelineError, match="already started"):
        p.start()


def test_sinks_built_from_uris_are_closed_when_the_source_fails(tmp_path: Path) -> None:
    from edge_sdk.errors import SourceError

    def previews() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "edge-sdk-preview" and t.is_alive()}

    before = previews()
    with pytest.raises(SourceError, match="no such video file"):
        Pipeline(str(tmp_path / "missing.mp4"), RecordingTask(), ["preview:0"])
    assert previews() <= before


def test_a_task_crash_is_raised_as_a_pipeline_error_with_its_cause() -> None:
    class CrashingTask(RecordingTask):
        def __call__(self, frame: Frame) -> TaskResult:
            raise ZeroDivisionError("division by zero in postprocess")

    src = ScriptedSource(None, live=False)
    with pytest.raises(
        PipelineError, match=r"^inference stage failed: ZeroDivisionError: division by zero in postprocess$"
    ) as info:
        Pipeline(src, CrashingTask(), [CollectSink()]).run()
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert src.closed.is_set()


def test_a_source_crash_is_raised_as_a_pipeline_error_with_its_cause() -> None:
    class CrashingSource(ScriptedSource):
        def frames(self):  # type: ignore[no-untyped-def]
            yield from super().frames()
            raise OSError(5, "Input/output error")

    sink = CollectSink()
    with pytest.raises(
        PipelineError, match=r"^capture stage failed: OSError: \[Errno 5\] Input/output error$"
    ) as info:
        Pipeline(CrashingSource(3, live=False), RecordingTask(), [sink]).run()
    assert isinstance(info.value.__cause__, OSError)
    assert sink.closed


@pytest.mark.parametrize("exc", [BrokenPipeError(32, "Broken pipe"), SystemExit(3), ImageError("bad image")])
def test_typed_errors_pipes_and_exits_pass_through_unchanged(exc: BaseException) -> None:
    class Raising(RecordingTask):
        def __call__(self, frame: Frame) -> TaskResult:
            raise exc

    with pytest.raises(type(exc)) as info:
        Pipeline(ScriptedSource(None, live=False), Raising(), [CollectSink()]).run()
    assert info.value is exc


class ClosableTask(RecordingTask):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_the_task_is_closed_when_the_run_ends() -> None:
    task = ClosableTask()
    Pipeline(ScriptedSource(3, live=False), task, [CollectSink()]).run()
    assert task.closed == 1 and task.seen == [0, 1, 2]


def test_the_task_is_closed_when_the_sinks_cannot_be_opened() -> None:
    class Unopenable(CollectSink):
        def open(self, context):  # type: ignore[no-untyped-def]
            raise SinkError("port 8080 is taken")

    task, src = ClosableTask(), ScriptedSource(3, live=False)
    with pytest.raises(SinkError, match="port 8080"):
        Pipeline(src, task, [Unopenable()]).run()
    assert task.closed == 1 and src.closed.is_set()
