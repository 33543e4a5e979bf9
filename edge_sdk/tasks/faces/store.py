"""The gallery's storage: one SQLite file, its schema, its transactions and its durability.

Layout (schema version :data:`SCHEMA_VERSION`, in ``PRAGMA user_version``; the file is
marked with ``PRAGMA application_id`` :data:`APPLICATION_ID`)::

    identities(id, name UNIQUE, created)
    embeddings(id, identity_id -> identities, embedder, dim, vector float32 LE, source, created)

Guarantees (tested in ``tests/unit/test_faces_gallery.py`` and
``tests/integration/test_faces_durability.py``):

- The file is created with mode 0600 (it holds biometric data), atomically: it is built
  beside its final name and linked into place, so a crash never leaves a half-made gallery.
- WAL journal with ``synchronous=FULL``; each enrolment, rename or removal is one
  ``BEGIN IMMEDIATE`` transaction. An enrolment whose call returned survives a crash of the
  process; one that raised left the file as it was.
- A file that is empty, not SQLite, not an edge_sdk gallery, of a newer schema, truncated or
  damaged raises :class:`~edge_sdk.errors.GalleryCorruptError` and is never touched.
- Every stored embedding comes from one embedder (model sha256 + dimension): a write from
  another raises :class:`~edge_sdk.errors.EmbedderMismatchError` inside its transaction.

Schema changes: a future version 2 bumps :data:`SCHEMA_VERSION` and upgrades older files
in :meth:`GalleryStore._open`, in one transaction, after the checks above. Version 1 is the
only one so far, so there is nothing to upgrade yet.

Names are stored as given: :class:`~edge_sdk.tasks.faces.gallery.Gallery` validates them first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import (
    EmbedderMismatchError,
    GalleryCorruptError,
    GalleryError,
    GalleryWriteError,
    UnknownIdentityError,
)
from .embedder import EmbedderIdentity

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


SCHEMA_VERSION = 1
APPLICATION_ID = 0x45534746  # "ESGF": edge_sdk gallery file
SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0
"""How long opening or writing waits for another process's lock before giving up (seconds)."""

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
class StoredEmbeddings:
    """Every stored embedding, read in one snapshot.

    ``identity_ids``: int64 ``(N,)``, sorted (rows of one identity are contiguous);
    ``vectors``: float32 ``(N, D)`` as stored (L2-normalised at enrolment);
    ``names``: identity id -> name; ``embedder``: None when no embedding is stored.
    """

    identity_ids: np.ndarray
    vectors: np.ndarray
    names: dict[int, str]
    embedder: EmbedderIdentity | None


def embedder_key(e: EmbedderIdentity) -> str:
    """What the ``embedder`` column holds for ``e`` (its model's sha256)."""
    return e.sha256


def write_error(path: Path, action: str, exc: BaseException) -> GalleryError:
    """The gallery error for a failed write: damaged file, disk full, or another failure."""
    msg = str(exc) or type(exc).__name__
    low = msg.lower()
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in low or "not a database" in low):
        return GalleryCorruptError(f"gallery {path} is damaged ({msg}) while trying to {action}")
    if "disk is full" in low or "disk full" in low or getattr(exc, "errno", None) == errno.ENOSPC:
        return GalleryWriteError(f"cannot {action} in gallery {path}: disk full ({msg}); nothing was changed")
    return GalleryWriteError(f"cannot {action} in gallery {path}: {msg}; nothing was changed")


class GalleryStore:
    """One open gallery file. Thread-safe: every statement runs under :attr:`lock`.

    Args:
        path: the gallery file. A missing file is created (mode 0600) when ``create`` is true.
        create: create a missing file; when false a missing file raises.
        check: run ``PRAGMA quick_check`` when opening (reads the whole file once).

    Raises:
        GalleryError: the file is missing and ``create`` is false, or cannot be opened
            (e.g. locked by another process for more than :data:`BUSY_TIMEOUT_S`).
        GalleryCorruptError: the file exists but is not a valid edge_sdk gallery; it is
            left untouched.
    """

    def __init__(self, path: str | Path, *, create: bool = True, check: bool = True) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        self.writes = 0
        """Transactions this connection ran: its own commits do not change ``PRAGMA data_version``."""
        if not self.path.exists():
            if not create:
                raise GalleryError(f"gallery {self.path} does not exist (enrol someone first to create it)")
            self._create()
        self.conn = self._open(check)

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
            raise write_error(self.path, "create the gallery file", exc) from exc
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
        with self.lock:
            self.conn.close()

    # -- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error.

        ``action`` names the write in messages (``"enrol 'ada'"``).

        Raises:
            GalleryWriteError: the write or the commit failed (disk full, I/O, locked); the
                transaction was rolled back, so nothing was changed.
            GalleryCorruptError: SQLite found the file damaged.
            GalleryError: raised by the body, passed on after the rollback.
        """
        with self.lock:
            try:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                except (sqlite3.Error, OSError) as exc:
                    raise write_error(self.path, action, exc) from exc
                try:
                    yield self.conn
                except BaseException as exc:
                    self._rollback()
                    if isinstance(exc, (sqlite3.Error, OSError)) and not isinstance(exc, GalleryError):
                        raise write_error(self.path, action, exc) from exc
                    raise
                try:
                    self.conn.execute("COMMIT")
                except (sqlite3.Error, OSError) as exc:
                    self._rollback()
                    raise write_error(self.path, action, exc) from exc
            finally:
                self.writes += 1

    def _rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def read(self, action: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of one read statement.

        Raises:
            GalleryError: the file cannot be read now (locked, I/O).
            GalleryCorruptError: SQLite found the file damaged.
        """
        with self.lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError):
                    raise GalleryError(f"cannot {action} in gallery {self.path}: {exc}") from exc
                raise GalleryCorruptError(f"gallery {self.path} is damaged ({exc})") from exc

    def version(self) -> tuple[int, int]:
        """Changes to the file so far: ``(PRAGMA data_version, own writes)``. It differs
        whenever this or another connection has changed the file since the last call."""
        with self.lock:
            return int(self.read("check for changes", "PRAGMA data_version")[0][0]), self.writes

    # -- writes ------------------------------------------------------------------------------

    def _check_embedder(self, embedder: EmbedderIdentity) -> None:
        # Every enrolment checks this, so all stored rows share one embedder: one row tells.
        row = self.conn.execute("SELECT embedder, dim FROM embeddings LIMIT 1").fetchone()
        if row is not None and (row[0] != embedder_key(embedder) or int(row[1]) != embedder.dim):
            count = self.conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
            raise EmbedderMismatchError(
                f"gallery {self.path} holds {count} embeddings from another embedder "
                f"(sha256:{row[0][:12]}…, dim {row[1]}), not from the one in use ({embedder}); "
                "use the embedder the gallery was built with, or enrol into a new gallery"
            )

    def add_embeddings(
        self, name: str, vectors: np.ndarray, embedder: EmbedderIdentity, source: str | None
    ) -> int:
        """Store ``vectors`` (float32 ``(N, embedder.dim)``) under ``name`` in one transaction,
        creating the identity if new; returns its embedding count afterwards.

        Raises:
            EmbedderMismatchError: the file holds another embedder's vectors.
            GalleryWriteError: the write failed; nothing was changed.
        """
        rows = np.ascontiguousarray(vectors, dtype="<f4")
        now = time.time()
        key = embedder_key(embedder)
        with self.transaction(f"enrol {name!r}") as conn:
            self._check_embedder(embedder)
            conn.execute("INSERT OR IGNORE INTO identities(name, created) VALUES (?, ?)", (name, now))
            ident = conn.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()[0]
            conn.executemany(
                "INSERT INTO embeddings(identity_id, embedder, dim, vector, source, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(ident, key, embedder.dim, v.tobytes(), source, now) for v in rows],
            )
            count: int = conn.execute(
                "SELECT COUNT(*) FROM embeddings WHERE identity_id = ?", (ident,)
            ).fetchone()[0]
        return count

    def rename(self, old: str, new: str) -> None:
        """Rename identity ``old`` to ``new`` in one transaction.

        Raises:
            UnknownIdentityError: ``old`` is not stored.
            GalleryError: ``new`` is already stored.
            GalleryWriteError: the write failed; nothing was changed.
        """
        with self.transaction(f"rename {old!r}") as conn:
            if conn.execute("SELECT 1 FROM identities WHERE name = ?", (new,)).fetchone():
                raise GalleryError(f"cannot rename {old!r} to {new!r}: {new!r} is already enrolled")
            if conn.execute("UPDATE identities SET name = ? WHERE name = ?", (new, old)).rowcount == 0:
                raise UnknownIdentityError(f"no identity named {old!r} in gallery {self.path}")

    def remove(self, name: str) -> int:
        """Delete identity ``name`` and its embeddings in one transaction; returns how many
        embeddings went.

        Raises:
            UnknownIdentityError: ``name`` is not stored.
            GalleryWriteError: the write failed; nothing was changed.
        """
        with self.transaction(f"remove {name!r}") as conn:
            row = conn.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UnknownIdentityError(f"no identity named {name!r} in gallery {self.path}")
            n: int = conn.execute("DELETE FROM embeddings WHERE identity_id = ?", (row[0],)).rowcount
            conn.execute("DELETE FROM identities WHERE id = ?", (row[0],))
        return n

    # -- reads -------------------------------------------------------------------------------

    def identities(self) -> list[IdentityInfo]:
        """Stored identities, by name."""
        rows = self.read(
            "list identities",
            "SELECT i.name, COUNT(e.id), i.created FROM identities i "
            "LEFT JOIN embeddings e ON e.identity_id = i.id GROUP BY i.id ORDER BY i.name",
        )
        return [IdentityInfo(r[0], int(r[1]), float(r[2])) for r in rows]

    def has(self, name: str) -> bool:
        """Whether identity ``name`` is stored."""
        return bool(self.read("look up", "SELECT 1 FROM identities WHERE name = ?", (name,)))

    def count(self) -> int:
        """How many identities are stored."""
        return int(self.read("count", "SELECT COUNT(*) FROM identities")[0][0])

    def load_embeddings(self) -> StoredEmbeddings:
        """Every embedding, in one read transaction (one consistent snapshot).

        Raises:
            GalleryCorruptError: a stored vector does not match its recorded dimension.
            EmbedderMismatchError: the file mixes embedders (only possible if edited by hand).
        """
        with self.lock:
            try:
                self.conn.execute("BEGIN")
            except sqlite3.Error as exc:
                raise GalleryError(f"cannot read gallery {self.path}: {exc}") from exc
            try:
                return self._load_embeddings()
            finally:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("COMMIT")

    def _load_embeddings(self) -> StoredEmbeddings:
        kinds = self.read("load embeddings", "SELECT DISTINCT embedder, dim FROM embeddings")
        if len(kinds) > 1:
            raise EmbedderMismatchError(
                f"gallery {self.path} mixes {len(kinds)} embedders; their vectors are not comparable"
            )
        embedder = EmbedderIdentity(kinds[0][0], int(kinds[0][1])) if kinds else None
        dim = embedder.dim if embedder else 0
        rows = self.read(
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
        names = {int(i): str(n) for i, n in self.read("load identities", "SELECT id, name FROM identities")}
        return StoredEmbeddings(ids, vectors, names, embedder)
