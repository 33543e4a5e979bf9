"""The self-test: run a release's task on its sample and compare with the manifest's known answer.

Comparison rules (tolerances from the manifest, :class:`~edge_sdk.fleet.manifest.Tolerance`):

* classify: the same top-1 class id, its score within ``score``;
* detect: the same number of detections; each recorded one matched by a new one of the same
  class id with box IoU >= ``iou`` and score within ``score``;
* faces: the same number of faces; each recorded box matched with IoU >= ``iou``.

Boxes are pixel ``x0, y0, x1, y1`` of the sample image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BundleError, OptionsError, SelfTestError
from ..frame import Frame
from ..image import load_image
from ..pipeline.config import RunConfig
from ..pipeline.engine import close_task
from .manifest import MANIFEST_NAME, KnownAnswer, Manifest, Tolerance

PATH_KEYS = ("model", "labels", "embedder", "gallery")
"""Config keys that name files; a bundle stores them relative to the release folder."""


def answer_record(adapter: Any, image: Any) -> dict[str, Any]:
    """The task's record on ``image`` (RGB uint8) without ``source``, ``frame``, ``timing_ms``."""
    result = adapter(Frame(image, 0, 0.0, "sample"))
    rec = json.loads(json.dumps(result.record))  # plain JSON types, as stored in the manifest
    for key in ("source", "frame", "timing_ms"):
        rec.pop(key, None)
    return dict(rec)


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def compare_records(expected: Mapping[str, Any], actual: Mapping[str, Any], tol: Tolerance) -> list[str]:
    """Differences between a known answer and a new record; empty when they agree."""
    if "classes" in expected:
        e, a = expected["classes"], actual.get("classes")
        if a is None:
            return ["expected classes, found none"]
        if not e or not a:
            return [] if not e and not a else [f"expected {len(e)} classes, found {len(a)}"]
        if e[0]["id"] != a[0]["id"]:
            return [
                f"top-1 class: expected {e[0]['id']} ({e[0].get('label')}), found {a[0]['id']} ({a[0].get('label')})"
            ]
        if abs(e[0]["score"] - a[0]["score"]) > tol.score:
            return [f"top-1 score: expected {e[0]['score']:.3f} ± {tol.score}, found {a[0]['score']:.3f}"]
        return []
    key = "detections" if "detections" in expected else "faces"
    e, a = expected.get(key), actual.get(key)
    if e is None or a is None:
        return [f"expected {key}, found keys {sorted(actual)}"]
    if len(e) != len(a):
        return [f"expected {len(e)} {key}, found {len(a)}"]
    free = list(a)
    problems = []
    for item in e:
        match = None
        for cand in free:
            if key == "detections" and (
                cand["id"] != item["id"] or abs(cand["score"] - item["score"]) > tol.score
            ):
                continue
            if _iou(item["box"], cand["box"]) >= tol.iou:
                match = cand
                break
        if match is None:
            problems.append(
                f"no match for recorded {key[:-1]} {item.get('label') or item.get('id', '')} at {item['box']}"
            )
        else:
            free.remove(match)
    return problems


@dataclass(frozen=True)
class SelfTestReport:
    """The outcome of a self-test: ``passed``, the ``differences`` and the new ``record``."""

    passed: bool
    differences: tuple[str, ...]
    record: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "differences": list(self.differences), "record": self.record}


def read_manifest(release: str | Path) -> Manifest:
    """The manifest of an installed (extracted) release folder.

    Raises:
        BundleError: missing or invalid.
    """
    path = Path(release) / MANIFEST_NAME
    try:
        return Manifest.from_bytes(path.read_bytes())
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from None


def release_config_dict(release: str | Path, manifest: Manifest | None = None) -> dict[str, Any]:
    """The release's run config as a dict, its file paths made absolute in the release folder."""
    release = Path(release).resolve()
    manifest = manifest or read_manifest(release)
    try:
        data = json.loads((release / manifest.config).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read the release config {release / manifest.config}: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{release / manifest.config}: expected a JSON object")
    for key in PATH_KEYS:
        if isinstance(data.get(key), str):
            data[key] = str(release / data[key])
    return data


def build_release_task(release: str | Path, manifest: Manifest | None = None) -> Any:
    """Load the release's task (its model(s)) as a pipeline task adapter.

    Raises:
        BundleError: bad config. ModelError and friends: the model does not load.
    """

    data = release_config_dict(release, manifest)
    try:
        return RunConfig.from_dict(data).build_task()
    except OptionsError as exc:
        raise BundleError(f"the release config is not valid: {exc}") from exc


def check_known_answer(adapter: Any, release: str | Path, known: KnownAnswer) -> SelfTestReport:
    """Run ``adapter`` on the release's sample and compare with ``known``."""

    image = load_image(Path(release) / known.sample)
    record = answer_record(adapter, image)
    diffs = compare_records(known.record, record, known.tolerance)
    return SelfTestReport(not diffs, tuple(diffs), record)


def self_test(release: str | Path, adapter: Any | None = None) -> SelfTestReport:
    """Self-test a release folder: load its task (unless ``adapter`` is given) and check the
    known answer. A task loaded here is closed again.

    Raises:
        SelfTestError: the answer differs (message lists the differences), or the manifest has
            no known answer. ModelError etc.: the model does not load or run.
    """

    manifest = read_manifest(release)
    if manifest.known_answer is None:
        raise SelfTestError(f"release {manifest.id} has no known answer to test against")
    own = adapter is None
    task = build_release_task(release, manifest) if adapter is None else adapter
    try:
        report = check_known_answer(task, release, manifest.known_answer)
    finally:
        if own:
            close_task(task)
    if not report.passed:
        raise SelfTestError(f"self-test of {manifest.id} failed: " + "; ".join(report.differences))
    return report
