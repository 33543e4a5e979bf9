"""``Gallery``: the durable identity store, one SQLite file.

Layout (schema version :data:`SCHEMA_VERSION`, in ``PRAGMA user_version``; the file is
marked with ``PRAGMA application_id`` :data:`APPLICATION_ID`)::

    identities(id, name UNIQUE, created)
    embeddings(id, identity_id -> identities, embedder, dim, vector float32 LE, source, created)

Guarantees:

- The file is created with mode 0600 (it holds biometric data), atomically: it is built
  beside its final name and linked into place, so a crash never leaves a half-made gallery.
- WAL journal with ``synchronous=FULL``; each enrolment, rename or removal is one
  transaction. An enrolment whose call returned survives a crash of the process; one that
  raised left the gallery as it was.
- A file that is empty, not SQLite, not an edge_sdk gallery, of a newer schema, truncated or
  damaged raises :class:`~edge_sdk.errors.GalleryCorruptError` and is never touched.
- Every embedding is tagged with its embedder (model sha256 + dimension). Mixing embedders
  raises :class:`~edge_sdk.errors.EmbedderMismatchError`: their vectors are not comparable.
- Matching is one matrix product over every stored embedding, then the best cosine per
  identity. The matrix is cached in memory and reloaded when this or another process changes
  the file (``PRAGMA data_version``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import (
    EmbedderMismatchError,
    GalleryCorruptError,
    GalleryError,
    GalleryWriteError,
    OptionsError,
    UnknownIdentityError,
)
from .embedder import EmbedderIdentity

SCHEMA_VERSION = 1
APPLICATION_ID = 0x45534746  # "ESGF": edge_sdk gallery file
SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_NAME_LENGTH = 200
BUSY_TIMEOUT_S = 30.0
"""How long opening or writing waits for another process's lock before giving up (seconds)."""
MATCH_BLOCK_ROWS = 512
"""Gallery rows per block of the matching product (512 x 128 float32 = 256 KiB, cache-sized)."""

_SCHEMA = """
CREATE TABLE identities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE embeddings (
    id INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    embedder TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    source TEXT,
    created REAL NOT NULL
);
CREATE INDEX embeddings_by_identity ON embeddings(identity_id);
"""


@dataclass(frozen=True)
class IdentityInfo:
    """One enrolled identity: its name, number of embeddings, and creation time (Unix seconds)."""

    name: str
    embeddings: int
    created: float


@dataclass(frozen=True)
class Match:
    """Best gallery match of one face.

    ``identity``: the enrolled name whose best cosine reaches the threshold, else None.
    ``similarity``: the best cosine over the whole gallery in [-1, 1] (None: empty gallery).
    ``nearest``: the name that cosine belongs to, whether or not it passed the threshold.
    """

    identity: str | None
    similarity: float | None
    nearest: str | None = None


@dataclass(frozen=True)
class GalleryMatrix:
    """Every stored embedding, for matching and calibration (read-only arrays).

    ``vectors``: float32 ``(N, D)`` L2-normalised rows, grouped by identity; ``owners``:
    ``(N,)`` index into ``names``; ``starts``: first row of each identity, ``(len(names),)``.
    """

    names: tuple[str, ...]
    vectors: np.ndarray
    owners: np.ndarray
    starts: np.ndarray
    embedder: EmbedderIdentity | None


# errno values of link() on file systems without hard links (FAT, exFAT, some network shares)
_NO_LINKS = frozenset(
    e for e in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS)
)


def _copy_exclusive(src: Path, dst: Path) -> None:
    """Copy ``src`` to a new file ``dst`` made with ``O_EXCL`` (never replaces one), fsynced.

    If ``dst`` appears meanwhile, it is left alone (another process created the gallery). On a
    failed write the partial ``dst`` is removed.
    """
    try:
        fd = os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as fh:
            shutil.copyfileobj(fh, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dst)
        raise


def check_name(name: object) -> str:
    """The name with surrounding spaces removed.

    Raises:
        OptionsError: not a string, empty, too long, or holding a control or format character
            (Unicode categories Cc and Cf: newlines, escapes, bidirectional overrides such as
            U+202E, zero-width joiners), which could disguise one name as another.
    """
    if not isinstance(name, str):
        raise OptionsError(f"identity name must be a string, got {type(name).__name__}")
    clean = name.strip()
    bad = [c for c in clean if unicodedata.category(c) in ("Cc", "Cf")]
    if not clean or len(clean) > MAX_NAME_LENGTH or bad:
        found = f" (holds {', '.join(f'U+{ord(c):04X}' for c in bad[:3])})" if bad else ""
        raise OptionsError(
            f"identity name must be 1..{MAX_NAME_LENGTH} printable characters without control or "
            f"format characters, got {name!r}{found}"
        )
    return clean


def _embedder_key(e: EmbedderIdentity) -> str:
    return e.sha256


def _write_error(path: Path, action: str, exc: BaseException) -> GalleryError:
    msg = str(exc) or type(exc).__name__
    low = msg.lower()
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in low or "not a database" in low):
        return GalleryCorruptError(f"gallery {path} is damaged ({msg}) while trying to {action}")
    if "disk is full" in low or "disk full" in low or getattr(exc, "errno", None) == errno.ENOSPC:
        return GalleryWriteError(f"cannot {action} in gallery {path}: disk full ({msg}); nothing was changed")
    return GalleryWriteError(f"cannot {action} in gallery {path}: {msg}; nothing was changed")


class Gallery:
    """A face gallery stored in one SQLite file.

    Args:
        path: the gallery file. A missing file is created (mode 0600) when ``create`` is true.
        create: create a missing file; when false a missing file raises.
        check: run ``PRAGMA quick_check`` when opening (catches truncated or damaged files
            before they are used; reads the whole file once).

    Raises:
        GalleryError: the file is missing and ``create`` is false, or cannot be opened
            (e.g. locked by another process for more than :data:`BUSY_TIMEOUT_S`).
        GalleryCorruptError: the file exists but is not a valid edge_sdk gallery (empty, not
            SQLite, another application's database, a newer schema, truncated, damaged).
            The file is left untouched.
    """

    def __init__(self, path: str | Path, *, create: bool = True, check: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._cache: GalleryMatrix | None = None
        self._cache_version: int | None = None
        if not self.path.exists():
            if not create:
                raise GalleryError(f"gallery {self.path} does not exist (enrol someone first to create it)")
            self._create()
        self._conn = self._open(check)

    # -- opening -----------------------------------------------------------------------------

    def _create(self) -> None:
        """Build a fresh gallery beside ``path`` and link it into place (never overwrites)."""
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise GalleryError(f"cannot create gallery {self.path}: folder {parent} does not exist")
        tmp = parent / f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.new"
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            os.close(fd)
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute("BEGIN")
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
                conn.execute("PRAGMA journal_mode = WAL")
            finally:
                conn.close()
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            # Atomic, and fails rather than replace a file another process made meanwhile.
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                _copy_exclusive(tmp, self.path)  # FAT/exFAT: no hard links
            dfd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except (OSError, sqlite3.Error) as exc:
            raise _write_error(self.path, "create the gallery file", exc) from exc
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{tmp}{suffix}")

    def _open(self, check: bool) -> sqlite3.Connection:
        p = self.path
        if not p.is_file():
            raise GalleryError(f"gallery {p} is not a regular file")
        try:
            with p.open("rb") as fh:
                head = fh.read(100)
        except OSError as exc:
            raise GalleryError(f"cannot read gallery {p}: {exc.strerror or exc}") from exc
        if len(head) == 0:
            raise GalleryCorruptError(
                f"gallery {p} is an empty file, expected an edge_sdk gallery (SQLite); it was left untouched"
            )
        if not head.startswith(SQLITE_MAGIC) or len(head) < 100:
            raise GalleryCorruptError(
                f"gallery {p} is not an SQLite database (found {head[:16]!r} at the start); it was left untouched"
            )
        try:
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise GalleryError(f"cannot open gallery {p}: {exc}") from exc
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if app_id != APPLICATION_ID:
                raise GalleryCorruptError(
                    f"{p} is an SQLite database but not an edge_sdk gallery "
                    f"(application_id {app_id:#x}, expected {APPLICATION_ID:#x}); it was left untouched"
                )
            if version > SCHEMA_VERSION:
                raise GalleryCorruptError(
                    f"gallery {p} has schema version {version}, newer than this edge_sdk's {SCHEMA_VERSION}; "
                    "upgrade edge_sdk"
                )
            if version < 1:
                raise GalleryCorruptError(f"gallery {p} has no schema (user_version {version})")
            if check:
                result = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
                if result != ["ok"]:
                    raise GalleryCorruptError(
                        f"gallery {p} is damaged ({'; '.join(map(str, result[:3]))}); it was left untouched: "
                        "restore it from a backup or enrol again into a new file"
                    )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except GalleryError:
            conn.close()
            raise
        except sqlite3.OperationalError as exc:
            # locked by another process, unreadable, read-only: the file is not damaged
            conn.close()
            raise GalleryError(f"cannot open gallery {p}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise GalleryCorruptError(
                f"gallery {p} is truncated or damaged ({exc}); it was left untouched"
            ) from exc
        return conn

    def close(self) -> None:
        """Close the file (a checkpoint folds the WAL back into it)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def _transaction(self, action: str) -> _Txn:
        return _Txn(self, action)

    def _check_embedder(self, embedder: EmbedderIdentity) -> None:
        # Every enrolment checks this, so all stored rows share one embedder: one row tells.
        row = self._conn.execute("SELECT embedder, dim FROM embeddings LIMIT 1").fetchone()
        if row is not None and (row[0] != _embedder_key(embedder) or int(row[1]) != embedder.dim):
            count = self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
            raise EmbedderMismatchError(
                f"gallery {self.path} holds {count} embeddings from another embedder "
                f"(sha256:{row[0][:12]}…, dim {row[1]}), not from the one in use ({embedder}); "
                "use the embedder the gallery was built with, or enrol into a new gallery"
            )

    def enrol(
        self,
        name: str,
        embeddings: npt.ArrayLike,
        embedder: EmbedderIdentity,
        *,
        source: str | None = None,
    ) -> int:
        """Add ``embeddings`` (``(D,)`` or ``(N, D)``) under ``name``, in one transaction.

        The identity is created if new. Vectors are L2-normalised before they are stored.
        Returns the identity's embedding count afterwards.

        Raises:
            OptionsError: bad name, or vectors not of the embedder's dimension / not finite.
            EmbedderMismatchError: the gallery holds another embedder's vectors.
            GalleryWriteError: the write failed (disk full, I/O); nothing was changed.
        """
        name = check_name(name)
        vecs = np.asarray(embeddings, np.float32)
        if vecs.ndim == 1:
            vecs = vecs[None, :]
        if vecs.ndim != 2 or vecs.shape[0] == 0 or vecs.shape[1] != embedder.dim:
            raise OptionsError(
                f"expected embeddings of shape (D,) or (N, D) with D = {embedder.dim}, got {vecs.shape}"
            )
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        if not np.all(np.isfinite(vecs)) or np.any(norms == 0):
            raise OptionsError("embeddings must be finite and non-zero")
        vecs = np.ascontiguousarray(vecs / norms, dtype="<f4")
        now = time.time()
        with self._transaction(f"enrol {name!r}") as conn:
            self._check_embedder(embedder)
            conn.execute("INSERT OR IGNORE INTO identities(name, created) VALUES (?, ?)", (name, now))
            ident = conn.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()[0]
            conn.executemany(
                "INSERT INTO embeddings(identity_id, embedder, dim, vector, source, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(ident, _embedder_key(embedder), embedder.dim, v.tobytes(), source, now) for v in vecs],
            )
            count: int = conn.execute(
                "SELECT COUNT(*) FROM embeddings WHERE identity_id = ?", (ident,)
            ).fetchone()[0]
        return count

    enroll = enrol

    def rename(self, old: str, new: str) -> None:
        """Rename identity ``old`` to ``new``.

        Raises:
            UnknownIdentityError: ``old`` is not enrolled.
            GalleryError: ``new`` is already enrolled.
            GalleryWriteError: the write failed; nothing was changed.
        """
        old, new = check_name(old), check_name(new)
        with self._transaction(f"rename {old!r}") as conn:
            if conn.execute("SELECT 1 FROM identities WHERE name = ?", (new,)).fetchone():
                raise GalleryError(f"cannot rename {old!r} to {new!r}: {new!r} is already enrolled")
            if conn.execute("UPDATE identities SET name = ? WHERE name = ?", (new, old)).rowcount == 0:
                raise UnknownIdentityError(f"no identity named {old!r} in gallery {self.path}")

    def remove(self, name: str) -> int:
        """Remove identity ``name`` and its embeddings; returns how many embeddings went.

        Raises:
            UnknownIdentityError: ``name`` is not enrolled.
            GalleryWriteError: the write failed; nothing was changed.
        """
        name = check_name(name)
        with self._transaction(f"remove {name!r}") as conn:
            row = conn.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UnknownIdentityError(f"no identity named {name!r} in gallery {self.path}")
            n: int = conn.execute("DELETE FROM embeddings WHERE identity_id = ?", (row[0],)).rowcount
            conn.execute("DELETE FROM identities WHERE id = ?", (row[0],))
        return n

    # -- reading -----------------------------------------------------------------------------

    def _read(self, action: str, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError):
                    raise GalleryError(f"cannot {action} in gallery {self.path}: {exc}") from exc
                raise GalleryCorruptError(f"gallery {self.path} is damaged ({exc})") from exc

    def identities(self) -> list[IdentityInfo]:
        """Enrolled identities, by name."""
        rows = self._read(
            "list identities",
            "SELECT i.name, COUNT(e.id), i.created FROM identities i "
            "LEFT JOIN embeddings e ON e.identity_id = i.id GROUP BY i.id ORDER BY i.name",
        )
        return [IdentityInfo(r[0], int(r[1]), float(r[2])) for r in rows]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(
            self._read("look up", "SELECT 1 FROM identities WHERE name = ?", (name.strip(),))
        )

    def __len__(self) -> int:
        return int(self._read("count", "SELECT COUNT(*) FROM identities")[0][0])

    def __iter__(self) -> Iterator[IdentityInfo]:
        return iter(self.identities())

    def _data_version(self) -> int:
        return int(self._read("check for changes", "PRAGMA data_version")[0][0])

    def matrix(self) -> GalleryMatrix:
        """Every embedding as one matrix (cached; reloaded after any change to the file).

        Raises:
            GalleryCorruptError: a stored vector does not match its recorded dimension.
            EmbedderMismatchError: the file mixes embedders (only possible if edited by hand).
        """
        with self._lock:
            version = self._data_version()
            if self._cache is not None and self._cache_version == version:
                return self._cache
            self._cache = self._load()
            self._cache_version = version
            return self._cache

    def _load(self) -> GalleryMatrix:
        """Read every embedding in one read transaction (one consistent snapshot)."""
        try:
            self._conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise GalleryError(f"cannot read gallery {self.path}: {exc}") from exc
        try:
            kinds = self._read("load embeddings", "SELECT DISTINCT embedder, dim FROM embeddings")
            if len(kinds) > 1:
                raise EmbedderMismatchError(
                    f"gallery {self.path} mixes {len(kinds)} embedders; their vectors are not comparable"
                )
            embedder = EmbedderIdentity(kinds[0][0], int(kinds[0][1])) if kinds else None
            dim = embedder.dim if embedder else 0
            rows = self._read(
                "load embeddings",
                "SELECT e.identity_id, e.vector FROM embeddings e ORDER BY e.identity_id, e.id",
            )
            ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            blobs = [r[1] for r in rows]
            if any(len(b) != 4 * dim for b in blobs):
                bad = next(len(b) for b in blobs if len(b) != 4 * dim)
                raise GalleryCorruptError(
                    f"gallery {self.path}: an embedding has {bad} bytes, expected {4 * dim} (dim {dim})"
                )
            vectors = np.frombuffer(b"".join(blobs), "<f4").astype(np.float32).reshape(len(rows), dim)
            by_id = dict(self._read("load identities", "SELECT id, name FROM identities"))
            uniq, first = np.unique(ids, return_index=True)  # ids are sorted: groups are contiguous
            names = [by_id[int(i)] for i in uniq]
            owners = np.searchsorted(uniq, ids).astype(np.int32)
            for arr in (vectors, owners):
                arr.setflags(write=False)
            starts_arr = first.astype(np.intp)
            starts_arr.setflags(write=False)
            return GalleryMatrix(tuple(names), vectors, owners, starts_arr, embedder)
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("COMMIT")

    def best_per_identity(self, queries: npt.ArrayLike, embedder: EmbedderIdentity) -> np.ndarray:
        """Best cosine of each query against each identity: float32 ``(F, identities)``.

        ``queries``: ``(D,)`` or ``(F, D)`` embeddings (L2-normalised here). Identities are in
        ``self.matrix().names`` order.

        Raises:
            EmbedderMismatchError: the gallery was built with another embedder.
        """
        return self._best_per_identity(self.matrix(), queries, embedder)

    def _best_per_identity(
        self, m: GalleryMatrix, queries: npt.ArrayLike, embedder: EmbedderIdentity
    ) -> np.ndarray:
        q = np.asarray(queries, np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if m.embedder is not None and (
            m.embedder.sha256 != _embedder_key(embedder) or m.embedder.dim != embedder.dim
        ):
            raise EmbedderMismatchError(
                f"gallery {self.path} was built with another embedder (sha256:{m.embedder.sha256[:12]}…, "
                f"dim {m.embedder.dim}) than the one in use ({embedder}); its similarities would be "
                "meaningless: use that embedder, or enrol again into a new gallery"
            )
        if q.ndim != 2 or q.shape[1] != embedder.dim:
            raise OptionsError(f"expected query embeddings (F, {embedder.dim}), got {q.shape}")
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        q = (q / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)
        if not m.names:
            return np.zeros((q.shape[0], 0), np.float32)
        # One product over the whole gallery, (N, D) x (D, F) -> (N, F), streamed through the
        # cache in blocks of MATCH_BLOCK_ROWS rows. Each block is too small for BLAS to spread
        # over threads, so matching stays on one core: as fast as a threaded product on an idle
        # CPU, and several times steadier when capture and inference threads share the CPU.
        qt = np.ascontiguousarray(q.T)
        sims = np.empty((m.vectors.shape[0], q.shape[0]), np.float32)
        for i in range(0, m.vectors.shape[0], MATCH_BLOCK_ROWS):
            np.matmul(m.vectors[i : i + MATCH_BLOCK_ROWS], qt, out=sims[i : i + MATCH_BLOCK_ROWS])
        return np.maximum.reduceat(sims, m.starts, axis=0).T

    def match(self, queries: npt.ArrayLike, embedder: EmbedderIdentity, threshold: float) -> list[Match]:
        """Best identity per query embedding, against ``threshold`` (a cosine in [-1, 1]).

        Raises:
            EmbedderMismatchError: the gallery was built with another embedder.
        """
        m = self.matrix()  # one snapshot: the names must be those the similarities were computed on
        best = self._best_per_identity(m, queries, embedder)
        names = m.names
        out: list[Match] = []
        for row in best:
            if row.size == 0:
                out.append(Match(None, None))
                continue
            j = int(np.argmax(row))
            sim = float(row[j])
            out.append(Match(names[j] if sim >= threshold else None, sim, names[j]))
        return out


class _Txn:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error; maps errors to gallery errors."""

    def __init__(self, gallery: Gallery, action: str) -> None:
        self.g = gallery
        self.action = action

    def __enter__(self) -> sqlite3.Connection:
        self.g._lock.acquire()
        try:
            self.g._conn.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, OSError) as exc:
            self.g._lock.release()
            raise _write_error(self.g.path, self.action, exc) from exc
        return self.g._conn

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        conn = self.g._conn
        try:
            if exc is None:
                try:
                    conn.execute("COMMIT")
                    return
                except (sqlite3.Error, OSError) as commit_exc:
                    self._rollback()
                    raise _write_error(self.g.path, self.action, commit_exc) from commit_exc
            self._rollback()
            if isinstance(exc, (sqlite3.Error, OSError)) and not isinstance(exc, GalleryError):
                raise _write_error(self.g.path, self.action, exc) from exc
        finally:
            self.g._cache = None
            self.g._lock.release()

    def _rollback(self) -> None:
        try:
            if self.g._conn.in_transaction:
                self.g._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
