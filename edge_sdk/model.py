"""``Model``: a loaded .tflite with its tensors, quantization, metadata and backend.

A task (``Classifier``, ``Detector`` ...) owns a Model. Everything that can be decided from
the file is decided here once, at load time: tensor specs, metadata, whether an Edge TPU is
needed. Loading never leaves a half-built object: it returns a working model or raises a
typed :class:`~edge_sdk.errors.ModelError`.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .backend import Backend, get_backend
from .errors import (
    CorruptModelError,
    EdgeTpuRequiredError,
    ModelError,
    ModelNotFoundError,
    NotATfliteModelError,
    UnresolvedOpsError,
)
from .metadata import ModelMetadata, parse_metadata
from .modelfile import EDGETPU_CUSTOM_OP, ModelFile, read_model_file
from .native_log import filtered_stderr
from .quant import QuantParams, dequantize

T = TypeVar("T")

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
    from devices.accelerators import EDGETPU_HINT

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


class Model:
    """A TFLite model ready to run.

    Args:
        source: a path to a .tflite file, or the file's bytes.
        accelerator: ``"cpu"``, ``"cpu:N"``, ``"edgetpu[:usb[:N]|:pci:N]"`` or an
            :class:`devices.accelerators.Accelerator`; default CPU on every core.
        num_threads: XNNPACK threads; overrides the accelerator spec's count.
        delegates: extra already-loaded delegates to apply.

    Raises:
        ModelNotFoundError: no such file.
        NotATfliteModelError: the file is not a TFLite flatbuffer.
        CorruptModelError: the flatbuffer is truncated or damaged.
        EdgeTpuRequiredError: an Edge TPU-compiled model and no Edge TPU accelerator.
        UnresolvedOpsError: custom ops that nothing provides; ``.ops`` names them.
        AcceleratorError: the Edge TPU runtime or device is missing.
    """

    def __init__(
        self,
        source: str | Path | bytes,
        *,
        accelerator: Any = None,
        num_threads: int | None = None,
        delegates: Sequence[Any] = (),
    ) -> None:
        from devices.accelerators import Accelerator, AcceleratorKind

        self.accelerator = Accelerator.parse(accelerator)
        if num_threads is not None:
            self.accelerator = Accelerator(self.accelerator.kind, num_threads, self.accelerator.device)
        self.backend: Backend = get_backend()
        self._bytes: bytes | None = None
        with self._open(source) as data:
            # Parsed in place: a path-loaded model is never copied into Python memory; the
            # interpreter memory-maps the file itself.
            self.file: ModelFile = read_model_file(data, self.source)
            self.size_bytes = len(data)
            self.metadata: ModelMetadata = parse_metadata(data, self.file.metadata, self.source)
        uses_tpu = self.accelerator.kind is AcceleratorKind.EDGETPU or bool(delegates)
        if self.file.needs_edgetpu and not uses_tpu:
            raise EdgeTpuRequiredError(_edgetpu_message(self.source), [EDGETPU_CUSTOM_OP])
        all_delegates = [*self.accelerator.load_delegates(self.backend.load_delegate), *delegates]
        self._interpreter = self._build(all_delegates)
        self.inputs: tuple[TensorSpec, ...] = tuple(
            TensorSpec.from_details(d) for d in self._interpreter.get_input_details()
        )
        self.outputs: tuple[TensorSpec, ...] = tuple(
            TensorSpec.from_details(d) for d in self._interpreter.get_output_details()
        )
        # Accessors returned by tensor() hold the Python wrapper, not the interpreter, so they can
        # be kept; only the arrays they return must be dropped before invoke().
        self._input_accessors = [self._interpreter.tensor(t.index) for t in self.inputs]

    # -- loading -----------------------------------------------------------------------------

    @functools.cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of the model file (computed on first use; a path is read again then)."""
        import hashlib

        if self._bytes is not None:
            return hashlib.sha256(self._bytes).hexdigest()
        assert self.path is not None
        try:
            with self.path.open("rb") as fh:
                return hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as exc:
            raise ModelError(f"cannot read model {self.path}: {exc.strerror or exc}") from exc

    @contextlib.contextmanager
    def _open(self, source: str | Path | bytes) -> Iterator[bytes | mmap.mmap]:
        """The model's bytes: the caller's bytes, or a read-only mmap of the file (closed after)."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.path: Path | None = None
            self.source = "<model bytes>"
            self._bytes = bytes(source)  # the interpreter keeps using this buffer
            yield self._bytes
            return
        path = Path(source)
        self.path = path
        self.source = str(path)
        if not path.exists():
            raise ModelNotFoundError(f"model file {path} does not exist")
        if path.is_dir():
            raise NotATfliteModelError(
                f"{path} is a directory, expected a .tflite file (convert a SavedModel with: edge-sdk convert)"
            )
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from exc
        with fh:
            if path.stat().st_size == 0:
                yield b""
                return
            try:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except OSError as exc:
                raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from exc
            with mm:
                yield mm

    def _build(self, delegates: list[Any]) -> Any:
        kwargs: dict[str, Any] = {"num_threads": self.accelerator.threads}
        if delegates:
            kwargs["experimental_delegates"] = delegates
        if self.path is not None:
            kwargs["model_path"] = str(self.path)
        else:
            kwargs["model_content"] = self._bytes
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

    def write_input(self, writer: Callable[[np.ndarray], T], index: int = 0, item: int = 0) -> T:
        """Call ``writer`` with a writable view of batch item ``item`` of input ``index``.

        The view is only valid during the call; edge_sdk drops it before ``invoke`` (the
        interpreter refuses to run while Python holds views into its tensors).
        """
        view = self._input_accessors[index]()
        try:
            return writer(view[item] if view.ndim == 4 else view)
        finally:
            del view

    @property
    def batch_size(self) -> int:
        """The first input's batch dimension as allocated now."""
        return self.inputs[0].shape[0] if self.inputs[0].shape else 1

    def resize_batch(self, n: int) -> None:
        """Reallocate the (single) input with batch dimension ``n`` (outputs follow).

        Costs an allocation and one invoke of the new batch (on zeros, to settle dynamic output
        shapes); only call it when ``n`` changes.

        Raises:
            UnsupportedModelError: the model has several inputs, or its graph cannot run with
                that batch size (a reshape with a fixed batch, for example); the model is left
                as it was.
        """
        from .errors import UnsupportedModelError

        if n < 1:
            raise UnsupportedModelError(f"a batch needs at least one item, got {n}")
        if n == self.batch_size:
            return
        if len(self.inputs) != 1 or len(self.inputs[0].shape) != 4:
            raise UnsupportedModelError(f"{self.source}: only a single NHWC input can be batched")
        old = list(self.inputs[0].shape)
        try:
            with filtered_stderr():
                self._interpreter.resize_tensor_input(self.inputs[0].index, [n, *old[1:]], strict=False)
                self._interpreter.allocate_tensors()
                # Dynamic outputs get their shapes at the first invoke, and delegates prepare
                # lazily: one invoke here, so that neither lands on the next real frame.
                self._interpreter.invoke()
            outs = [TensorSpec.from_details(d) for d in self._interpreter.get_output_details()]
            if any(not o.shape or o.shape[0] != n for o in outs):
                raise ValueError(f"outputs {[list(o.shape) for o in outs]} do not follow the batch")
        except (RuntimeError, ValueError) as exc:
            with filtered_stderr():
                self._interpreter.resize_tensor_input(self.inputs[0].index, old, strict=False)
                self._interpreter.allocate_tensors()
            raise UnsupportedModelError(f"{self.source} cannot run a batch of {n}: {exc}") from exc
        self.inputs = tuple(TensorSpec.from_details(d) for d in self._interpreter.get_input_details())
        self.outputs = tuple(outs)
        self._input_accessors = [self._interpreter.tensor(t.index) for t in self.inputs]

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
            raise ModelError(f"{self.source}: invoke failed: {str(exc).strip().splitlines()[0]}") from exc

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
