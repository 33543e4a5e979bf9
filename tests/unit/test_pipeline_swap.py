"""Pipeline.swap_task: the hook a live update uses (applied between frames, or not at all)."""

from __future__ import annotations

import pytest

from edge_sdk.errors import OptionsError, PipelineError
from edge_sdk.pipeline import Pipeline
from edge_sdk.pipeline.tasks import TaskKind
from tests.pipeline_helpers import CollectSink, RecordingTask, ScriptedSource


class Closing(RecordingTask):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Detecting(RecordingTask):
    kind = TaskKind.DETECT


def test_swap_applies_between_frames_and_closes_the_old_task() -> None:
    old, new = Closing(), Closing()
    sink = CollectSink()
    p = Pipeline(ScriptedSource(40, live=False), old, [sink])
    swap = p.swap_task(new)
    with pytest.raises(PipelineError, match="already pending"):
        p.swap_task(Closing())
    p.run()
    assert swap.done.is_set() and swap.applied and swap.first_frame == 0
    assert old.closed and new.closed  # the pipeline owned both
    assert new.seen == list(range(40)) and old.seen == []


def test_swap_of_another_kind_is_refused() -> None:
    p = Pipeline(ScriptedSource(1, live=False), RecordingTask(), [CollectSink()])
    with pytest.raises(OptionsError, match="must be a classify task, got detect"):
        p.swap_task(Detecting())
    p.run()


def test_swap_pending_at_the_end_is_not_applied_and_closed() -> None:
    p = Pipeline(ScriptedSource(3, live=False), RecordingTask(), [CollectSink()])
    p.run()
    new = Closing()
    swap = p.swap_task(new)
    assert swap.done.is_set() and not swap.applied and new.closed
