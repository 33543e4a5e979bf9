"""Live model update of a running :class:`~edge_sdk.pipeline.Pipeline`.

Updates arrive from a **watched folder** (a bundle ``*.tar`` or a model ``*.tflite`` dropped
there; write it elsewhere and rename it in, or it may be read half-written; a ``NAME.sha256``
file beside it, when present, is checked) or on the MQTT command topic
``edge-sdk/{host}/cmd`` as JSON::

    {"update": "/path/to/app.tar" | "https://server/app.tar", "sha256": "<64 hex>"}

Each update is handled on the updater's own thread, while the pipeline keeps running:

1. **fetch**: a local path, or an http(s) URL downloaded to a temporary file (at most
   ``max_download_bytes``, ``download_timeout_s`` per read), hashing as it goes;
2. **hash**: the sha256 must equal the command's (MQTT: required);
3. **verify**: a bundle is read strictly (:func:`edge_sdk.fleet.bundle.read_bundle`, signature
   too when a public key is configured); a bare model replaces the current release's model;
4. **load** into a second interpreter (the running one is untouched);
5. **self-test**: the known answer of the bundle (a bare model: of the current release) on
   its sample, within the manifest's tolerances;
6. **swap** between two frames (:meth:`~edge_sdk.pipeline.Pipeline.swap_task`); with an
   install prefix the new release then becomes ``current``, so a restart keeps it.

Any failure leaves the old model running. The outcome is published (QoS 1, not retained, so
the retained ``{"state": ...}`` status stays) on ``edge-sdk/{host}/status``::

    {"update": "applied" | "rejected", "reason": str | null, "sha256": ..., "release": ...,
     "first_frame": int | null, "source": ...}

Records of a tagged task carry ``model_sha256`` (and ``release``), so a consumer sees the
model change at one frame.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import EdgeSdkError, OptionsError, UpdateError, missing_dependency
from ..frame import Frame
from ..pipeline.config import RunConfig
from ..pipeline.engine import close_task
from ..pipeline.tasks import TaskAdapter, TaskKind, TaskResult, adapt
from ..safe_io import loads_json
from .bundle import read_bundle
from .install import Prefix
from .manifest import sha256_file
from .selftest import build_release_task, check_known_answer, read_manifest, release_config_dict

log = logging.getLogger(__name__)

STATUS_TOPIC = "edge-sdk/{host}/status"
CMD_TOPIC = "edge-sdk/{host}/cmd"


# -- records that name their model ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TaggedResult(TaskResult):
    """A :class:`TaskResult` whose record also carries ``model_sha256`` and ``release``."""

    model_sha256: str = ""
    release: str | None = None

    @cached_property
    def record(self) -> dict[str, Any]:
        rec = dict(TaskResult.record.func(self))  # type: ignore[attr-defined]
        rec["model_sha256"] = self.model_sha256
        if self.release is not None:
            rec["release"] = self.release
        return rec


class TaggedTask:
    """Wrap a task adapter so its results name the model (sha256) and release they came from."""

    def __init__(self, task: Any, model_sha256: str, release: str | None = None) -> None:
        self.inner: TaskAdapter = adapt(task)
        self.kind: TaskKind = self.inner.kind
        self.model_sha256 = model_sha256
        self.release = release

    def __call__(self, frame: Frame) -> TaskResult:
        r = self.inner(frame)
        return TaggedResult(r.frame, r.task, r.result, r.timing_ms, self.model_sha256, self.release)

    def close(self) -> None:

        close_task(self.inner)


def release_model_sha256(release: str | Path) -> str:
    """sha256 of the model file a release folder's config names (from its manifest)."""
    manifest = read_manifest(release)
    cfg = json.loads((Path(release) / manifest.config).read_text(encoding="utf-8"))
    entry = manifest.files.get(str(cfg.get("model")))
    return entry.sha256 if entry else ""


def tagged_release_task(release: str | Path) -> TaggedTask:
    """Load a release folder's task, tagged with its model sha256 and release id."""

    manifest = read_manifest(release)
    return TaggedTask(build_release_task(release, manifest), release_model_sha256(release), manifest.id)


# -- options and outcome ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateOptions:
    """Options of a :class:`LiveUpdater`, checked when built.

    Attributes:
        watch_dir: folder polled every ``poll_s`` seconds for ``*.tar`` / ``*.tflite``.
        mqtt: broker URI ``mqtt://[user:pass@]host[:port]`` (``mqtts://`` for TLS) for the
            command and status topics; None: no MQTT.
        host: the ``{host}`` of the topics (default: this machine's host name).
        prefix: install prefix: an applied bundle becomes its ``current`` release.
        public_key: Ed25519 PEM key bundles must be signed with (default: the prefix's
            ``trusted.pub`` when present).
        max_download_bytes: larger downloads are refused (bytes, > 0).
        download_timeout_s: socket timeout of a download (s, > 0).
        swap_timeout_s: how long to wait for the pipeline to take a new task (s, > 0).
        poll_s: watch-folder poll period (s, > 0).
    """

    watch_dir: str | Path | None = None
    mqtt: str | None = None
    host: str = field(default_factory=socket.gethostname)
    prefix: str | Path | None = None
    public_key: str | Path | None = None
    max_download_bytes: int = 1 << 30
    download_timeout_s: float = 30.0
    swap_timeout_s: float = 30.0
    poll_s: float = 0.5

    def __post_init__(self) -> None:
        if self.mqtt is not None and urlsplit(self.mqtt).scheme not in ("mqtt", "mqtts"):
            raise OptionsError(f"update broker must be mqtt://host[:port] or mqtts://..., got {self.mqtt!r}")
        for name in ("max_download_bytes", "download_timeout_s", "swap_timeout_s", "poll_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise OptionsError(f"{name} must be > 0, got {v!r}")
        if not self.host or any(c in self.host for c in "/+#"):
            raise OptionsError(f"host must be one MQTT topic level, got {self.host!r}")


@dataclass(frozen=True)
class UpdateOutcome:
    """What became of one update: ``applied`` or not, why, and from which frame."""

    applied: bool
    reason: str | None
    source: str
    sha256: str | None = None
    release: str | None = None
    first_frame: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "update": "applied" if self.applied else "rejected",
            "reason": self.reason,
            "source": self.source,
            "sha256": self.sha256,
            "release": self.release,
            "first_frame": self.first_frame,
        }


@dataclass(frozen=True)
class _Request:
    source: str
    sha256: str | None


# -- the updater -------------------------------------------------------------------------------------


class LiveUpdater:
    """Take model updates for a running pipeline (see the module docstring).

    Args:
        pipeline: the running (or about to run) pipeline; its task should be a
            :class:`TaggedTask` of ``release``.
        release: the release folder the pipeline runs (its known answer and config are used
            for bare-model updates); None: only bundles can be applied.
        options: :class:`UpdateOptions`.
        on_outcome: called with each :class:`UpdateOutcome` (after it is published).

    Use :meth:`start` / :meth:`stop` (or ``with``). :meth:`submit` queues an update from
    Python; :meth:`apply` runs one synchronously.
    """

    def __init__(
        self,
        pipeline: Any,
        release: str | Path | None = None,
        options: UpdateOptions | None = None,
        on_outcome: Callable[[UpdateOutcome], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.release = Path(release) if release is not None else None
        self.options = opts = options or UpdateOptions()
        self.prefix = Prefix(opts.prefix) if opts.prefix is not None else None
        key = opts.public_key
        if key is None and self.prefix is not None:
            key = self.prefix.trusted_key
        self.public_key = key
        self.on_outcome = on_outcome
        self.outcomes: list[UpdateOutcome] = []
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._client: Any = None
        self._connected = threading.Event()
        self._work = Path(tempfile.mkdtemp(prefix="edge-sdk-update-"))
        self._seen: dict[str, tuple[tuple[int, int], bool]] = {}  # path -> ((size, mtime), handled)

    @property
    def status_topic(self) -> str:
        return STATUS_TOPIC.format(host=self.options.host)

    @property
    def cmd_topic(self) -> str:
        return CMD_TOPIC.format(host=self.options.host)

    # -- life cycle -------------------------------------------------------------------------------

    def start(self, connect_timeout_s: float = 10.0) -> LiveUpdater:
        """Start the worker, the folder watcher and the MQTT client (waits for the subscription).

        Raises:
            MissingDependencyError: MQTT without paho-mqtt. UpdateError: the broker did not
            answer within ``connect_timeout_s``.
        """
        self._threads.append(threading.Thread(target=self._worker, name="edge-sdk-update", daemon=True))
        if self.options.watch_dir is not None:
            Path(self.options.watch_dir).mkdir(parents=True, exist_ok=True)
            self._threads.append(
                threading.Thread(target=self._watch, name="edge-sdk-update-watch", daemon=True)
            )
        for t in self._threads:
            t.start()
        if self.options.mqtt is not None:
            self._start_mqtt(connect_timeout_s)
        return self

    def stop(self) -> None:
        """Stop watching and listening; an update in progress finishes first (bounded)."""
        self._stop.set()
        self._queue.put(None)
        for t in self._threads:
            t.join(self.options.swap_timeout_s + self.options.download_timeout_s)
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None
        shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self) -> LiveUpdater:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(self, source: str, sha256: str | None = None) -> None:
        """Queue an update (a path or an http(s) URL); the outcome is published when done."""
        self._queue.put(_Request(source, sha256))

    # -- MQTT ----------------------------------------------------------------------------------------

    def _start_mqtt(self, timeout: float) -> None:
        try:
            import paho.mqtt.client as mqtt  # optional: paho-mqtt (the fleet/mqtt extra)
        except ImportError:
            raise missing_dependency("paho.mqtt", "fleet", "live updates over MQTT") from None
        assert self.options.mqtt is not None
        u = urlsplit(self.options.mqtt)
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-sdk-update-{self.options.host}-{os.getpid()}"
        )
        if u.username:
            client.username_pw_set(unquote(u.username), unquote(u.password or ""))
        if u.scheme == "mqtts":
            client.tls_set()
        subscribed = threading.Event()

        def on_connect(c: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
            if not rc.is_failure:
                c.subscribe(self.cmd_topic, qos=1)
                self._connected.set()

        client.on_connect = on_connect
        client.on_subscribe = lambda c, ud, mid, rcs, pr: subscribed.set()
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        client.connect_async(u.hostname or "127.0.0.1", u.port or (8883 if u.scheme == "mqtts" else 1883))
        client.loop_start()
        self._client = client
        if not subscribed.wait(timeout):
            self._client = None
            client.loop_stop()
            raise UpdateError(f"no MQTT broker answered at {self.options.mqtt} within {timeout:g} s")

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            cmd = loads_json(msg.payload, "the update command", ValueError)
            if not isinstance(cmd, Mapping) or not isinstance(cmd.get("update"), str):
                raise ValueError('expected {"update": PATH_OR_URL, "sha256": HEX}')
            sha = cmd.get("sha256")
            if not isinstance(sha, str) or len(sha) != 64:
                raise ValueError("a command needs the 64-hex sha256 of the file")
        except (ValueError, TypeError) as exc:
            self._publish(UpdateOutcome(False, f"bad command: {exc}", str(msg.payload[:200])))
            return
        self.submit(cmd["update"], sha.lower())

    def _publish(self, outcome: UpdateOutcome) -> None:
        self.outcomes.append(outcome)
        log.warning(
            "update %s: %s", "applied" if outcome.applied else "rejected", outcome.reason or outcome.release
        )
        if self._client is not None:
            payload = {"state": "online", **outcome.as_dict(), "time": time.time()}
            self._client.publish(self.status_topic, json.dumps(payload), qos=1, retain=False)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    # -- sources of updates ----------------------------------------------------------------------------

    def _watch(self) -> None:
        assert self.options.watch_dir is not None
        folder = Path(self.options.watch_dir)
        while not self._stop.wait(self.options.poll_s):
            try:
                entries = sorted(
                    p for p in folder.iterdir() if p.suffix in (".tar", ".tflite") and p.is_file()
                )
            except OSError as exc:
                log.warning("cannot list the update folder %s: %s", folder, exc)
                continue
            for p in entries:
                try:
                    st = p.stat()
                except OSError:
                    continue
                key = (st.st_size, st.st_mtime_ns)
                seen = self._seen.get(str(p))
                if seen is None or seen[0] != key:  # new or still being written: look again
                    self._seen[str(p)] = (key, False)
                elif not seen[1]:  # unchanged for one poll period, not handled yet
                    self._seen[str(p)] = (key, True)
                    sidecar = p.with_name(p.name + ".sha256")
                    sha = sidecar.read_text().split()[0].lower() if sidecar.is_file() else None
                    self.submit(str(p), sha)

    def _worker(self) -> None:
        while True:
            req = self._queue.get()
            if req is None:
                return
            outcome = self.apply(req.source, req.sha256)
            self._publish(outcome)

    # -- one update --------------------------------------------------------------------------------

    def apply(self, source: str, sha256: str | None = None) -> UpdateOutcome:
        """Fetch, verify, load, self-test and swap in one update; never raises for a bad update."""
        work = Path(tempfile.mkdtemp(dir=self._work))
        task: Any = None
        release: Path | None = None
        try:
            path = self._fetch(source, work)
            digest = sha256_file(path)
            if sha256 is not None and digest != sha256.lower():
                raise UpdateError(f"sha256 mismatch: expected {sha256}, found {digest}")
            if tarfile.is_tarfile(path):
                release, task = self._load_bundle(path, work)
            else:
                release, task = self._load_model(path, work, digest)
            swap = self.pipeline.swap_task(task)
            if not swap.done.wait(self.options.swap_timeout_s) or not swap.applied:
                raise UpdateError("the pipeline did not take the new model (it stopped or is stalled)")
            task = None  # the pipeline owns it now
            rid = self._activate(release)
            return UpdateOutcome(True, None, source, digest, rid, swap.first_frame)
        except EdgeSdkError as exc:
            return UpdateOutcome(False, str(exc), source, sha256)
        except Exception as exc:  # an update must never take the running pipeline down
            log.debug("update failed", exc_info=True)
            return UpdateOutcome(False, f"{type(exc).__name__}: {exc}", source, sha256)
        finally:
            if task is not None:  # not swapped in: drop it and its staged files
                close_task(task)
                if release is not None:
                    shutil.rmtree(release, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)

    def _fetch(self, source: str, work: Path) -> Path:
        scheme = urlsplit(source).scheme
        if scheme in ("http", "https"):
            out = work / "download"
            limit = self.options.max_download_bytes
            try:
                with (
                    urllib.request.urlopen(source, timeout=self.options.download_timeout_s) as resp,
                    open(out, "wb") as f,
                ):
                    total = 0
                    while block := resp.read(1 << 20):
                        total += len(block)
                        if total > limit:
                            raise UpdateError(f"download of {source} exceeds {limit} bytes; refused")
                        f.write(block)
                    length = resp.headers.get("Content-Length")
                    if length is not None and int(length) != total:
                        raise UpdateError(
                            f"download of {source} truncated: expected {length} bytes, got {total}"
                        )
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise UpdateError(f"download of {source} failed: {exc}") from None
            return out
        if scheme not in ("", "file"):
            raise UpdateError(f"update source must be a file path or an http(s) URL, got {source!r}")
        path = Path(unquote(urlsplit(source).path) if scheme == "file" else source)
        if not path.is_file():
            raise UpdateError(f"update file {path} does not exist")
        return path

    def _load_bundle(self, path: Path, work: Path) -> tuple[Path, Any]:
        if self.prefix is not None:
            self.prefix.releases.mkdir(parents=True, exist_ok=True)
            dest = self.prefix.releases / f".staging-update-{os.getpid()}-{time.monotonic_ns()}"
        else:
            dest = self._work / f"release-{time.monotonic_ns()}"  # kept until stop(): the model lives there
        manifest = read_bundle(path, dest, self.public_key)
        try:
            if manifest.known_answer is None:
                raise UpdateError(f"bundle {manifest.id} has no known answer to self-test against")
            task = tagged_release_task(dest)
            try:
                report = check_known_answer(task, dest, manifest.known_answer)
                if not report.passed:
                    raise UpdateError(f"self-test of {manifest.id} failed: " + "; ".join(report.differences))
            except BaseException:
                task.close()
                raise
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        return dest, task

    def _load_model(self, path: Path, work: Path, digest: str) -> tuple[Path | None, Any]:

        if self.release is None:
            raise UpdateError("a bare model update needs a running release (its config and known answer)")
        manifest = read_manifest(self.release)
        if manifest.known_answer is None:
            raise UpdateError(f"release {manifest.id} has no known answer to self-test a new model against")
        data = release_config_dict(self.release, manifest)
        model = self._work / f"model-{digest[:16]}.tflite"  # kept until stop(): the task reads it
        shutil.copyfile(path, model)
        data["model"] = str(model)
        task = TaggedTask(RunConfig.from_dict(data).build_task(), digest, manifest.id)
        try:
            report = check_known_answer(task, self.release, manifest.known_answer)
            if not report.passed:
                raise UpdateError("self-test of the new model failed: " + "; ".join(report.differences))
        except BaseException:
            task.close()
            raise
        return None, task

    def _activate(self, release: Path | None) -> str | None:
        """After a swap: a bundle staged under the prefix becomes its current release."""
        if release is None:
            return self.release.name if self.release else None
        rid = read_manifest(release).id
        if self.prefix is not None and release.parent == self.prefix.releases:
            final = self.prefix.releases / rid
            with self.prefix.lock():
                if final.exists():
                    shutil.rmtree(release, ignore_errors=True)
                else:
                    os.rename(release, final)
                self.prefix.switch(rid)
            self.release = final
        else:
            self.release = release  # kept until stop(): the new model's files live there
        return rid
