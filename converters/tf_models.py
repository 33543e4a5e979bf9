"""Load TensorFlow-side models (Keras .keras/.h5, SavedModel, ONNX through onnx2tf) as Keras
models, and fold the input normalization into them.

Folding ``(pixel - mean) / std`` into the graph (a ``Rescaling`` layer in front) makes the
converted model take raw pixels: uint8 inputs then get the exact quantization
``scale 1, zero point 0`` and per-channel normalizations (ImageNet mean/std) survive
integer inputs. The batch size is fixed to 1, so every tensor shape is static (the Edge
TPU compiler needs that).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge_sdk.errors import OptionsError, missing_dependency

from .calibration import ImageSpec
from .errors import ConversionError
from .formats import ModelFormat

log = logging.getLogger(__name__)


def import_tf() -> Any:
    """Import TensorFlow (quietly: its C++ log level set to errors only).

    Raises:
        MissingDependencyError: TensorFlow is not installed (the hint names the ``convert`` extra).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf  # lazy: TensorFlow (heavy), only when converting
    except ImportError as exc:
        raise missing_dependency("tensorflow", "convert", "Converting models") from exc
    return tf


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """TensorFlow and onnx2tf print progress on stdout, which is for JSON: capture it and log
    it at debug level (``edge-sdk --debug`` shows it)."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        if buf.getvalue().strip():
            log.debug("%s", buf.getvalue().rstrip())


def load_keras(path: str | Path, fmt: ModelFormat) -> Any:
    """Load a ``.keras``/``.h5`` file or a SavedModel directory as a Keras model.

    Raises:
        ConversionError: Keras/TensorFlow cannot read it (the message carries the reason).
    """
    import_tf()
    import keras  # lazy: Keras (heavy)

    try:
        with quiet_stdout():
            if fmt is ModelFormat.SAVED_MODEL:
                return _saved_model_as_keras(Path(path))
            return keras.models.load_model(str(path), compile=False)
    except ConversionError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConversionError(f"cannot load {fmt.value} model {path}: {first}") from exc


def _saved_model_as_keras(path: Path) -> Any:
    tf = import_tf()
    import keras  # lazy: Keras (heavy)

    loaded = tf.saved_model.load(str(path))
    sigs = list(loaded.signatures.keys())
    if not sigs:
        raise ConversionError(f"SavedModel {path} has no signatures; expected a serving_default signature")
    key = "serving_default" if "serving_default" in sigs else sigs[0]
    fn = loaded.signatures[key]
    specs = list(fn.structured_input_signature[1].values())
    if len(specs) != 1:
        raise ConversionError(
            f"SavedModel {path} signature {key} has {len(specs)} inputs; expected one image input"
        )
    shape = [d if d is not None else None for d in specs[0].shape.as_list()]
    layer = keras.layers.TFSMLayer(str(path), call_endpoint=key)
    inp = keras.Input(shape=tuple(shape[1:]), batch_size=1, dtype=specs[0].dtype.name)
    out = layer(inp)
    if isinstance(out, dict):
        out = [out[k] for k in sorted(out)]
    return keras.Model(inp, out)


@contextlib.contextmanager
def _offline_sample_data() -> Iterator[None]:
    """onnx2tf downloads sample images from GitHub to test image-shaped models; hand it a
    deterministic local sample instead (20 x 128 x 128 x 3 in [0, 1]), so conversion works
    offline and never touches the network."""
    # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
    import numpy as np
    import onnx2tf.onnx2tf as o2t

    rng = np.random.default_rng(0)
    base = rng.random((20, 8, 8, 3), dtype=np.float32)
    sample = np.repeat(np.repeat(base, 16, axis=1), 16, axis=2)  # smooth blocks, not white noise
    original = getattr(o2t, "download_test_image_data", None)
    o2t.download_test_image_data = lambda: sample
    try:
        yield
    finally:
        if original is not None:
            o2t.download_test_image_data = original


def onnx_input_shape(path: str | Path) -> tuple[str, list[int | None]]:
    """Name and NCHW shape (None for dynamic sizes) of an ONNX model's single input.

    Raises:
        ConversionError: not one input.
    """
    try:
        # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
        import onnx
    except ImportError as exc:
        raise missing_dependency("onnx", "convert", "Converting ONNX models") from exc
    graph = onnx.load(str(path), load_external_data=False).graph
    init = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in init]
    if len(inputs) != 1:
        raise ConversionError(f"expected an ONNX model with one image input, found {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    return inputs[0].name, [
        int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims
    ]


def onnx_to_saved_model(path: str | Path, workdir: Path, size: tuple[int, int] | None = None) -> Path:
    """Convert an ONNX model to a SavedModel with onnx2tf (NCHW -> NHWC); returns the directory.

    ``size`` ``(width, height)`` fixes a dynamic input size (the batch is always 1). onnx2tf's
    simplifier saves over the file it is given, so a file outside ``workdir`` is first copied
    into it: the caller's file is never written.

    Raises:
        MissingDependencyError: onnx2tf (or its dependencies) is not installed.
        ConversionError: onnx2tf failed; the message carries its last error line.
    """
    limit = sys.getrecursionlimit()
    try:
        with quiet_stdout():
            # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
            import onnx2tf
    except ImportError as exc:
        raise missing_dependency(
            getattr(exc, "name", None) or "onnx2tf", "convert", "Converting ONNX models"
        ) from exc
    finally:
        # onnx2tf sets the recursion limit to INT_MAX when imported: deep recursion anywhere
        # in this process (a nested JSON file, say) would then overflow the C stack and
        # crash instead of raising RecursionError.
        sys.setrecursionlimit(limit)
    out = workdir / "onnx2tf"
    path = Path(path)
    if not path.resolve().is_relative_to(workdir.resolve()):
        private = workdir / "onnx_input" / path.name
        private.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, private)
        path = private
    name, shape = onnx_input_shape(path)
    kwargs: dict[str, Any] = {}
    if len(shape) == 4 and (None in shape[2:] or size is not None):
        if size is None:
            raise OptionsError(
                f"the ONNX input {name} has a dynamic size {shape}; give it with --size WIDTHxHEIGHT"
            )
        kwargs["overwrite_input_shape"] = [f"{name}:1,{shape[1] or 3},{size[1]},{size[0]}"]
    else:
        kwargs["batch_size"] = 1
    try:
        with quiet_stdout(), _offline_sample_data():
            onnx2tf.convert(
                input_onnx_file_path=str(path),
                output_folder_path=str(out),
                non_verbose=True,
                **kwargs,
            )
    except BaseException as exc:  # onnx2tf calls sys.exit(1) on failures
        if isinstance(exc, KeyboardInterrupt):
            raise
        msg = str(exc).strip().splitlines()
        raise ConversionError(
            f"onnx2tf could not convert {path}: {msg[-1] if msg else type(exc).__name__} "
            "(for an Ultralytics YOLO, convert its float TFLite export instead: yolo export format=tflite, "
            "then edge-sdk convert best_float32.tflite)"
        ) from exc
    if not (out / "saved_model.pb").is_file():
        raise ConversionError(f"onnx2tf wrote no SavedModel for {path} (expected {out / 'saved_model.pb'})")
    return out


def image_input_shape(model: Any) -> tuple[int | None, int | None, int]:
    """``(height, width, channels)`` of a Keras model's single NHWC image input.

    Raises:
        ConversionError: several inputs, or an input that is not ``[N, H, W, 1|3]``.
    """
    if len(model.inputs) != 1:
        raise ConversionError(f"expected a model with one image input, found {len(model.inputs)} inputs")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise ConversionError(f"expected an NHWC image input [N, H, W, 1 or 3], found {list(shape)}")
    return shape[1], shape[2], int(shape[3])


def fold_normalization(model: Any, spec: ImageSpec) -> Any:
    """A Keras model taking raw pixels ``[1, H, W, C]`` float32 0..255 that applies
    ``(pixel - mean) / std`` and then ``model``."""
    # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
    import keras
    import numpy as np

    w, h = spec.size
    inp = keras.Input(shape=(h, w, spec.channels), batch_size=1, name="image")
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    x = inp
    if not (np.all(mean == 0) and np.all(std == 1)):
        scale = (1.0 / std).tolist()
        offset = (-mean / std).tolist()
        x = keras.layers.Rescaling(
            scale=scale if len(scale) > 1 else scale[0],
            offset=offset if len(offset) > 1 else offset[0],
            name="normalize",
        )(x)
    out = model(x)
    return keras.Model(inp, out, name="edge_sdk_model")


def keras_outputs(model: Any) -> int:
    """How many output tensors a Keras model has."""
    return len(model.outputs)


@contextlib.contextmanager
def tensorflow_log(path: str | Path) -> Iterator[None]:
    """Send everything written to file descriptors 1 and 2 (TensorFlow's C++ and Keras logs)
    to ``path`` for the duration, so stdout stays JSON Lines and stderr readable."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
