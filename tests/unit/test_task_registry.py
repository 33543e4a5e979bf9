"""One way to build a task (``create_task``) and one lifecycle (``close()``, ``with``), on a
real classifier from the shared assets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_sdk.errors import ModelError, OptionsError
from edge_sdk.model import Model
from edge_sdk.pipeline.tasks import ClassifyTask, adapt
from edge_sdk.tasks.base import BaseOptions, TaskKind
from edge_sdk.tasks.classify import Classifier, ClassifierOptions
from edge_sdk.tasks.detect import DetectorOptions
from edge_sdk.tasks.registry import create_task, create_task_from_config

ASSETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "assets"


def _a_classifier() -> Path:
    found = sorted(ASSETS.rglob("*.tflite"))
    for p in found:
        if "edgetpu" in p.name:
            continue
        try:
            with Model(p) as m:
                outs = m.outputs
        except ModelError:
            continue
        if len(outs) == 1 and len([d for d in outs[0].shape if d != 1]) == 1 and outs[0].shape[-1] > 10:
            return p
    pytest.skip("no classifier among the shared assets")


def test_create_task_builds_what_the_constructor_builds() -> None:
    path = _a_classifier()
    image = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    with Classifier(path, options=ClassifierOptions(top_k=3)) as direct:
        expected = direct.classify(image)
    opts = ClassifierOptions(top_k=3, base=BaseOptions(model=str(path), num_threads=1))
    with create_task(TaskKind.CLASSIFY, opts) as task:
        assert isinstance(task, Classifier)
        got = task.process(image)
    assert [c.id for c in got.categories] == [c.id for c in expected.categories]
    assert [c.score for c in got.categories] == pytest.approx(
        [c.score for c in expected.categories], abs=1e-6
    )


def test_from_config_and_its_errors() -> None:
    path = _a_classifier()
    task = create_task_from_config({"task": "classify", "model": str(path), "top_k": 2})
    assert isinstance(task, Classifier) and task.options.top_k == 2
    task.close()
    with pytest.raises(OptionsError, match="do not apply to task classify"):
        create_task_from_config({"task": "classify", "model": str(path), "iou": 0.5})
    with pytest.raises(OptionsError, match="task must be one of classify, detect, faces, segment, pose"):
        create_task_from_config({"task": "depth", "model": str(path)})
    with pytest.raises(OptionsError, match="takes DetectorOptions, got ClassifierOptions"):
        create_task("detect", ClassifierOptions(base=BaseOptions(model=str(path))))
    with pytest.raises(OptionsError, match=r"needs options\.base"):
        create_task("detect", DetectorOptions())


def test_close_is_idempotent_and_a_closed_model_says_so() -> None:
    path = _a_classifier()
    clf = Classifier(path)
    adapter = adapt(clf)
    assert isinstance(adapter, ClassifyTask)
    adapter.close()
    assert clf.closed and clf.model.closed
    clf.close()  # a second close does nothing
    with pytest.raises(ModelError, match="was closed"):
        clf.classify(np.zeros((224, 224, 3), np.uint8))


def test_a_model_passed_in_stays_open() -> None:
    path = _a_classifier()
    with Model(path) as model:
        with Classifier(model):
            pass
        assert not model.closed
    assert model.closed


@pytest.mark.parametrize("bad", [{"num_threads": 0}, {"num_threads": True}, {"labels": 3}])
def test_base_options_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(OptionsError):
        BaseOptions(**bad)  # type: ignore[arg-type]
