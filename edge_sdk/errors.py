"""Typed errors. Every message says what was expected and what was found, on one line.

All errors derive from :class:`EdgeSdkError`, so callers (and the CLI) can catch one type.
"""

from __future__ import annotations


class EdgeSdkError(Exception):
    """Base class of every error edge_sdk raises on purpose."""


class OptionsError(EdgeSdkError, ValueError):
    """An option is out of range or contradicts another; raised when the options are built."""


class ModelError(EdgeSdkError):
    """A model could not be loaded or run."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """The model path does not exist."""


class NotATfliteModelError(ModelError):
    """The file is not a TFLite flatbuffer (wrong magic, or another format such as ONNX)."""


class CorruptModelError(ModelError):
    """The file claims to be TFLite but its flatbuffer is damaged or truncated."""


class UnresolvedOpsError(ModelError):
    """The model uses custom ops that no loaded delegate or op resolver provides."""

    def __init__(self, message: str, ops: list[str]) -> None:
        super().__init__(message)
        self.ops = ops


class EdgeTpuRequiredError(UnresolvedOpsError):
    """The model was compiled for the Edge TPU, and no Edge TPU delegate is loaded."""


class AcceleratorError(EdgeSdkError):
    """An accelerator (delegate) could not be found or loaded."""


class BackendError(EdgeSdkError):
    """No TFLite interpreter backend could be imported, or the requested one is missing."""


class LabelsError(EdgeSdkError):
    """A label file is unreadable or does not fit the model's outputs."""


class MetadataError(EdgeSdkError):
    """Embedded model metadata is present but malformed."""


class ImageError(EdgeSdkError, ValueError):
    """An image cannot be used: empty, too small, unreadable or of an unsupported type."""


class UnsupportedModelError(ModelError):
    """The model's inputs or outputs do not fit the task it was given to."""


class SourceError(EdgeSdkError):
    """A frame source could not be opened or failed beyond recovery."""


class StreamRefusedError(SourceError):
    """Nothing listens at a stream's host and port: the connection was refused."""


class StreamNotFoundError(SourceError):
    """The stream server answered, but has no stream at that path (RTSP/HTTP 404)."""


class StreamAuthError(SourceError):
    """The stream server refused the user name or password (RTSP/HTTP 401 or 403)."""


class MissingDependencyError(EdgeSdkError, ImportError):
    """An optional library is needed for this feature; the message gives the pip command."""


def missing_dependency(module: str, extra: str, purpose: str) -> MissingDependencyError:
    """Build the error for an optional import that failed, with the install hint."""
    return MissingDependencyError(
        f"{purpose} needs the Python module '{module}', which is not installed; "
        f"install it with: pip install 'edge-sdk[{extra}]'"
    )


class GalleryError(EdgeSdkError):
    """A face gallery could not be opened, read or written."""


class GalleryCorruptError(GalleryError):
    """The gallery file is not an edge_sdk gallery, or is truncated or damaged; it is left as is."""


class GalleryWriteError(GalleryError, OSError):
    """A gallery write failed (disk full, read-only, I/O error); the transaction was rolled back."""


class EmbedderMismatchError(GalleryError):
    """The gallery holds embeddings from another embedder (model hash or dimension differ)."""


class FaceNotFoundError(EdgeSdkError):
    """An image that must contain one face (for enrolment) contains none, or several."""


class UnknownIdentityError(GalleryError, KeyError):
    """A gallery operation names an identity that is not enrolled."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SinkError(EdgeSdkError):
    """A result sink (JSON lines, MQTT, video, preview) could not be opened or written."""


class ServiceError(EdgeSdkError):
    """A systemd service could not be installed, removed or queried (unit file, name, systemctl)."""


class PipelineError(EdgeSdkError):
    """The live pipeline failed: a stage raised an unexpected error or did not stop in time."""


class BundleError(EdgeSdkError):
    """A deployment bundle cannot be created, read, verified or installed; nothing was changed."""


class BundleIntegrityError(BundleError):
    """A bundle file's size or sha256 differs from its manifest, or the archive is truncated."""


class BundleSignatureError(BundleError):
    """A bundle's Ed25519 signature is missing, malformed or does not match the public key."""


class UnsafeBundleError(BundleError):
    """A bundle member would escape the release folder (``..``, absolute path) or is a link/device."""


class SelfTestError(BundleError):
    """A model's result on the bundle's sample differs from the known answer in its manifest."""


class UpdateError(EdgeSdkError):
    """A live model update was rejected (download, hash, load or self-test); the old model runs on."""
