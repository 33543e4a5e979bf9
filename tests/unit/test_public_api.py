"""The lazy top-level API: every exported name resolves, and none of it pulls in TensorFlow."""

import subprocess
import sys

import pytest


@pytest.mark.subprocess  # a fresh interpreter: this process has imported TensorFlow already
def test_every_export_resolves_without_tensorflow():
    code = (
        "import sys, edge_sdk\n"
        "missing = [n for n in edge_sdk.__all__ if getattr(edge_sdk, n, None) is None]\n"
        "assert not missing, missing\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'converters', 'mediapipe', 'paho', 'picamera2'))\n"
        "assert not heavy, heavy\n"
        "print(len(edge_sdk.__all__))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 20


def test_unknown_attribute_is_an_attribute_error():
    import edge_sdk

    try:
        edge_sdk.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


PINNED = {
    "Category",
    "Classification",
    "Classifier",
    "ClassifierOptions",
    "Detections",
    "Detector",
    "DetectorOptions",
    "EdgeSdkError",
    "Face",
    "FaceDetectorOptions",
    "FaceEmbedder",
    "FaceRecognizer",
    "Frame",
    "Gallery",
    "LabelMap",
    "Model",
    "Normalization",
    "Pipeline",
    "PipelineOptions",
    "PoseEstimator",
    "PoseEstimatorOptions",
    "Poses",
    "ReconnectPolicy",
    "RecognizerOptions",
    "ResizeMode",
    "Segmentation",
    "Segmenter",
    "SegmenterOptions",
    "Sink",
    "SourceState",
    "TaskResult",
    "TensorSpec",
    "Transform",
    "as_rgb",
    "load_image",
    "open_source",
}


def test_all_is_pinned_and_matches_the_lazy_table():
    import edge_sdk

    assert set(edge_sdk.__all__) == PINNED, "changing the public API? update PINNED and the CHANGELOG"
    assert set(edge_sdk._EXPORTS) == PINNED


def test_every_export_is_visible_to_type_checkers():
    import ast
    from pathlib import Path

    import edge_sdk

    tree = ast.parse(Path(edge_sdk.__file__).read_text())
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom):
                    typed.update(a.asname or a.name for a in imp.names)
    assert typed == PINNED


def test_options_validate_alike():
    import pytest

    from edge_sdk import ClassifierOptions, DetectorOptions
    from edge_sdk.errors import OptionsError

    for cls in (ClassifierOptions, DetectorOptions):
        with pytest.raises(OptionsError, match=r"threshold must be a number in \[0, 1\], got '0.5'"):
            cls(threshold="0.5")
        with pytest.raises(OptionsError, match=r"threshold must be a number in \[0, 1\], got True"):
            cls(threshold=True)
    with pytest.raises(OptionsError, match="top_k must be an integer >= 1, got True"):
        ClassifierOptions(top_k=True)
    with pytest.raises(OptionsError, match="max_detections must be an integer >= 1, got True"):
        DetectorOptions(max_detections=True)
