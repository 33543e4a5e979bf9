"""``Model``: a loaded .tflite with its tensors, quantization, metadata and backend.

A task (``Classifier``, ``Detector`` ...) owns a Model. Everything that can be decided from
the file is decided here once, at load time: tensor specs, metadata, whether an Edge TPU is
needed. Loading never leaves a half-built object: it returns a working model or raises a
typed :class:`~edge_sdk.errors.ModelError`.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .backend import Backend, get_backend
from .delegates import EDGETPU_HINT, Accelerator, AcceleratorKind
from .errors import (
    AcceleratorError,
    CorruptModelError,
    EdgeTpuRequiredError,
    ModelError,
    ModelNotFoundError,
    NotATfliteModelError,
    UnresolvedOpsError,
)
from .lifecycle import Closeable
from .metadata import ModelMetadata, parse_metadata
from .modelfile import EDGETPU_CUSTOM_OP, ModelFile, read_model_file
from .native_log import filtered_stderr
from .quant import QuantParams, dequantize
from .safe_io import not_regular

T = TypeVar("T")

log = logging.getLogger(__name__)

_UNRESOLVED = re.compile(r"unresolved custom op: ([^\s.]+(?:\.[^\s.]+)*?)\.?(?:\s|$)", re.IGNORECASE)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor. ``shape`` is NHWC for images; ``quant`` is empty for float."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    quant: QuantParams

    @classmethod
    def from_details(cls, d: dict) -> TensorSpec:
        return cls(
            int(d["index"]),
            str(d["name"]),
            tuple(int(x) for x in d["shape"]),
            np.dtype(d["dtype"]),
            QuantParams.from_details(d),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype.name,
            "quantization": self.quant.as_dict() or None,
        }


def _edgetpu_message(source: str) -> str:
    cpu_twin = source.replace("_edgetpu.tflite", ".tflite") if source.endswith("_edgetpu.tflite") else None
    alt = (
        f"or use the CPU model {cpu_twin}"
        if cpu_twin
        else "or use the CPU (non-_edgetpu) .tflite of this model"
    )
    return (
        f"{source} was compiled for the Coral Edge TPU (custom op {EDGETPU_CUSTOM_OP}) and needs an Edge TPU: "
        f"run with --accelerator edgetpu after you {EDGETPU_HINT}; {alt}"
    )


class Model(Closeable):
    """A TFLite model ready to run.

    Args:
        source: a path to a .tflite file, or the file's bytes.
        accelerator: ``"cpu"``, ``"cpu:N"``, ``"edgetpu[:usb[:N]|:pci:N]"`` or an
            :class:`edge_sdk.delegates.Accelerator`; default CPU on every core.
        num_threads: XNNPACK threads; overrides the accelerator spec's count.
        delegates: extra already-loaded delegates to apply.

    Raises:
        ModelNotFoundError: no such file.
        NotATfliteModelError: the file is not a TFLite flatbuffer.
        CorruptModelError: the flatbuffer is truncated or damaged.
        EdgeTpuRequiredError: an Edge TPU-compiled model and no Edge TPU accelerator.
        UnresolvedOpsError: custom ops that nothing provides; ``.ops`` names them.
        AcceleratorError: the Edge TPU runtime or device is missing (and the accelerator has
            no ``cpu_twin`` to fall back to).

    With an accelerator whose ``cpu_twin`` is set, a delegate that fails to load, or an Edge
    TPU that fails while running, makes the model log a warning and continue as ``cpu_twin``
    on the CPU; ``fell_back`` then says why (it is None otherwise).

    ``close()`` (or leaving a ``with`` block) frees the interpreter and its delegates; using
    the model afterwards raises :class:`~edge_sdk.errors.ModelError`.
    """

    def __init__(
        self,
        source: str | Path | bytes,
        *,
        accelerator: Any = None,
        num_threads: int | None = None,
        delegates: Sequence[Any] = (),
    ) -> None:
        self.accelerator = Accelerator.parse(accelerator)
        if num_threads is not None:
            self.accelerator = Accelerator(self.accelerator.kind, num_threads, self.accelerator.device)
        self.fell_back: str | None = None
        self.backend: Backend = get_backend()
        self._extra_delegates = list(delegates)
        try:
            self._load(source)
        except AcceleratorError as exc:
            if self.accelerator.cpu_twin is None:
                raise
            self._fall_back(f"the Edge TPU delegate did not load ({exc})")

    def _load(self, source: str | Path | bytes) -> None:
        data = self._read(source)
        self.file: ModelFile = read_model_file(data, self.source)
        self.size_bytes = len(data)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.metadata: ModelMetadata = parse_metadata(bytes(data), self.file.metadata, self.source)
        delegates = self._extra_delegates
        uses_tpu = self.accelerator.kind is AcceleratorKind.EDGETPU or bool(delegates)
        if self.file.needs_edgetpu and not uses_tpu:
            raise EdgeTpuRequiredError(_edgetpu_message(self.source), [EDGETPU_CUSTOM_OP])
        all_delegates = [*self.accelerator.load_delegates(self.backend.load_delegate), *delegates]
        self._interpreter = self._build(data, all_delegates)
        del data  # a path-loaded model is memory-mapped by the interpreter, not held twice
        try:
            self.inputs: tuple[TensorSpec, ...] = tuple(
                TensorSpec.from_details(d) for d in self._interpreter.get_input_details()
            )
            self.outputs: tuple[TensorSpec, ...] = tuple(
                TensorSpec.from_details(d) for d in self._interpreter.get_output_details()
            )
            # Accessors returned by tensor() hold the Python wrapper, not the interpreter, so they
            # can be kept; only the arrays they return must be dropped before invoke().
            self._input_accessors = [self._interpreter.tensor(t.index) for t in self.inputs]
            for accessor in self._input_accessors:
                accessor()  # an input without memory fails here, not at the first frame
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            raise CorruptModelError(
                f"{self.source}: its input or output tensors are unusable: {exc}"
            ) from exc

    def _fall_back(self, why: str) -> None:
        """Reload as the accelerator's CPU twin on the CPU (never twice: the CPU has no twin)."""
        twin = self.accelerator.cpu_twin
        assert twin is not None
        log.warning(
            "%s: %s; falling back to the CPU model %s (use --strict to fail instead)", self.source, why, twin
        )
        self.accelerator = Accelerator(AcceleratorKind.CPU, self.accelerator.num_threads)
        self._extra_delegates = []
        self._load(twin)
        self.fell_back = why

    def _release(self) -> None:
        self._input_accessors = []  # write_input checks _closed first
        self._interpreter = _ClosedInterpreter(self.source)

    # -- loading -----------------------------------------------------------------------------

    def _read(self, source: str | Path | bytes) -> bytes:
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.path: Path | None = None
            self.source = "<model bytes>"
            return bytes(source)
        path = Path(source)
        self.path = path
        self.source = str(path)
        problem = not_regular(path)
        if problem == "does not exist":
            raise ModelNotFoundError(f"model file {path} does not exist")
        if problem == "is a directory":
            raise NotATfliteModelError(
                f"{path} is a directory, expected a .tflite file (convert a SavedModel with: edge-sdk convert)"
            )
        if problem:
            raise NotATfliteModelError(f"model file {path} {problem}; expected a regular .tflite file")
        try:
            with path.open("rb") as fh:
                if path.stat().st_size == 0:
                    return b""
                with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                    return bytes(mm)
        except OSError as exc:
            raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from exc

    def _build(self, data: bytes, delegates: list[Any]) -> Any:
        kwargs: dict[str, Any] = {"num_threads": self.accelerator.threads}
        if delegates:
            kwargs["experimental_delegates"] = delegates
        if self.path is not None:
            kwargs["model_path"] = str(self.path)
        else:
            kwargs["model_content"] = data
        try:
            with filtered_stderr():
                interp = self.backend.interpreter_cls(**kwargs)
        except ValueError as exc:
            raise CorruptModelError(f"{self.source} is not a valid TFLite model: {exc}") from exc
        try:
            with filtered_stderr():
                interp.allocate_tensors()
        except RuntimeError as exc:
            msg = str(exc)
            ops = sorted(set(_UNRESOLVED.findall(msg))) or list(self.file.custom_ops)
            if EDGETPU_CUSTOM_OP in ops:
                raise EdgeTpuRequiredError(_edgetpu_message(self.source), ops) from exc
            if "unresolved custom op" in msg.lower():
                raise UnresolvedOpsError(
                    f"{self.source} uses custom ops that this runtime does not provide: {', '.join(ops)} "
                    "(load the delegate or op library that implements them, or re-export without them)",
                    ops,
                ) from exc
            first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
            raise ModelError(
                f"{self.source} cannot be prepared by {self.backend.name.value}: {first}"
            ) from exc
        return interp

    # -- running ------------------------------------------------------------------------------

    @property
    def input(self) -> TensorSpec:
        """The first input (image models have exactly one)."""
        return self.inputs[0]

    def write_input(self, writer: Callable[[np.ndarray], T], index: int = 0) -> T:
        """Call ``writer`` with a writable view of input ``index`` without the batch dimension.

        The view is only valid during the call; edge_sdk drops it before ``invoke`` (the
        interpreter refuses to run while Python holds views into its tensors).

        Raises:
            ModelError: the model was closed.
        """
        if self._closed:
            raise ModelError(f"{self.source} was closed; load the model again to run it")
        view = self._input_accessors[index]()
        try:
            return writer(view[0] if view.ndim == 4 else view)
        finally:
            del view

    def set_input(self, value: np.ndarray, index: int = 0) -> None:
        """Copy an already-prepared array (of the tensor's shape and dtype) into input ``index``."""
        self._interpreter.set_tensor(self.inputs[index].index, value)

    def invoke(self) -> None:
        """Run the model on the current inputs.

        Raises:
            ModelError: the runtime failed while running.
        """
        try:
            self._interpreter.invoke()
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if self.accelerator.kind is not AcceleratorKind.EDGETPU or self.accelerator.cpu_twin is None:
                raise ModelError(f"{self.source}: invoke failed: {first}") from exc
            # The Edge TPU failed mid-run (unplugged, USB error): rerun this input on the CPU twin.
            inputs = [self._interpreter.get_tensor(t.index) for t in self.inputs]
            self._fall_back(f"the Edge TPU failed while running ({first})")
            for i, value in enumerate(inputs):
                self.set_input(value, i)
            try:
                self._interpreter.invoke()
            except RuntimeError as exc2:
                raise ModelError(f"{self.source}: invoke failed: {str(exc2).strip()[:200]}") from exc2

    def output(self, index: int = 0) -> np.ndarray:
        """A copy of output ``index`` as stored (quantized outputs stay integer)."""
        return self._interpreter.get_tensor(self.outputs[index].index)

    def read_output(self, reader: Callable[[np.ndarray], T], index: int = 0) -> T:
        """Call ``reader`` with a read-only view of output ``index`` (no copy, batch kept).

        The view is only valid during the call (the next ``invoke`` overwrites it, and the
        interpreter refuses to run while Python holds views); ``reader`` must return copies.
        """
        view = self._interpreter.tensor(self.outputs[index].index)()
        try:
            view.setflags(write=False)
            return reader(view)
        finally:
            del view

    def output_float(self, index: int = 0) -> np.ndarray:
        """Output ``index`` dequantized to float32 (a new array)."""
        return dequantize(self.output(index), self.outputs[index].quant)

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Set every input, invoke, and return every output dequantized. For tests and tools."""
        for i, value in enumerate(inputs):
            self.set_input(value, i)
        self.invoke()
        return [self.output_float(i) for i in range(len(self.outputs))]

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}{list(t.shape)}:{t.dtype.name}" for t in self.inputs)
        outs = ", ".join(f"{t.name}{list(t.shape)}:{t.dtype.name}" for t in self.outputs)
        return f"Model({self.source!r}, inputs=[{ins}], outputs=[{outs}], accelerator={self.accelerator})"


class _ClosedInterpreter:
    """Stands in for the interpreter of a closed :class:`Model`: any use is a typed error."""

    def __init__(self, source: str) -> None:
        self._source = source

    def __getattr__(self, name: str) -> Any:
        raise ModelError(f"{self._source} was closed; load the model again to run it")
