"""Manifest validation, member-name safety and the self-test comparison rules (no models)."""

from __future__ import annotations

import pytest

from edge_sdk.errors import BundleError, UnsafeBundleError
from edge_sdk.fleet.install import CrashLoopPolicy
from edge_sdk.fleet.manifest import FileEntry, Manifest, Tolerance, check_member_name
from edge_sdk.fleet.selftest import compare_records

SHA = "a" * 64


def manifest(**kw: object) -> Manifest:
    base: dict[str, object] = dict(
        id="classify-0123456789ab", created="2026-11-30T00:00:00Z", edge_sdk_version="0.1.0", task="classify",
        config="config.json", files={"config.json": FileEntry(SHA, 10)},
    )  # fmt: skip
    base.update(kw)
    return Manifest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "ok"),
    [("models/m.tflite", True), ("../x", False), ("a/../../x", False), ("/etc/passwd", False), ("a//b", False),
     ("./a", False), ("a\\..\\b", False), ("", False), ("a\x00b", False)],
)  # fmt: skip
def test_member_names(name: str, ok: bool) -> None:
    if ok:
        assert check_member_name(name) == name
    else:
        with pytest.raises(UnsafeBundleError):
            check_member_name(name)


def test_manifest_round_trip_and_content_id() -> None:
    m = manifest()
    assert Manifest.from_bytes(m.to_bytes()) == m
    files = {"b": FileEntry(SHA, 1), "a": FileEntry("b" * 64, 2)}
    assert Manifest.content_id("detect", files) == Manifest.content_id(
        "detect", dict(reversed(files.items()))
    )
    assert Manifest.content_id("detect", files) != Manifest.content_id(
        "detect", {**files, "a": FileEntry(SHA, 2)}
    )


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"id": "../x"}, "manifest id"), ({"format": 2}, "format 2"), ({"config": "missing.json"}, "config"),
     ({"files": {"config.json": FileEntry(SHA, 1), "manifest.json": FileEntry(SHA, 1)}}, "hash itself")],
)  # fmt: skip
def test_bad_manifests(kw: dict[str, object], match: str) -> None:
    with pytest.raises(BundleError, match=match):
        manifest(**kw)


@pytest.mark.parametrize(
    "data", [b"[]", b"not json", b'{"id": "x"}', b'{"files": {"a": {"sha256": "zz", "size": 1}}}']
)
def test_unparseable_manifest(data: bytes) -> None:
    with pytest.raises(BundleError):
        Manifest.from_bytes(data)


def test_file_entry_checks() -> None:
    with pytest.raises(BundleError, match="sha256"):
        FileEntry("A" * 64, 1)
    with pytest.raises(BundleError, match="size"):
        FileEntry(SHA, -1)


T = Tolerance(score=0.05, iou=0.9)


def det(i: int, score: float, box: list[float]) -> dict[str, object]:
    return {"id": i, "label": str(i), "score": score, "box": box}


@pytest.mark.parametrize(
    ("expected", "actual", "problem"),
    [
        ({"classes": [{"id": 1, "score": 0.9}]}, {"classes": [{"id": 1, "score": 0.87}]}, None),
        ({"classes": [{"id": 1, "score": 0.9}]}, {"classes": [{"id": 2, "score": 0.9}]}, "top-1 class"),
        ({"classes": [{"id": 1, "score": 0.9}]}, {"classes": [{"id": 1, "score": 0.8}]}, "top-1 score"),
        ({"detections": [det(0, 0.6, [0, 0, 100, 100])]}, {"detections": [det(0, 0.62, [1, 1, 100, 101])]}, None),
        ({"detections": [det(0, 0.6, [0, 0, 100, 100])]}, {"detections": [det(0, 0.6, [30, 0, 130, 100])]}, "no match"),
        ({"detections": [det(0, 0.6, [0, 0, 100, 100])]}, {"detections": [det(1, 0.6, [0, 0, 100, 100])]}, "no match"),
        ({"detections": [det(0, 0.6, [0, 0, 10, 10])]}, {"detections": []}, "expected 1 detections, found 0"),
        ({"faces": [{"box": [0, 0, 50, 50]}]}, {"faces": [{"box": [0, 0, 50, 51]}]}, None),
        ({"faces": [{"box": [0, 0, 50, 50]}]}, {"classes": []}, "expected faces"),
    ],
)  # fmt: skip
def test_compare_records(expected: dict, actual: dict, problem: str | None) -> None:  # type: ignore[type-arg]
    diffs = compare_records(expected, actual, T)
    if problem is None:
        assert diffs == []
    else:
        assert diffs and problem in diffs[0]


def test_tolerance_and_policy_checks() -> None:
    from edge_sdk.errors import OptionsError

    with pytest.raises(OptionsError):
        Tolerance(score=2.0)
    with pytest.raises(OptionsError):
        CrashLoopPolicy(restarts=1)
