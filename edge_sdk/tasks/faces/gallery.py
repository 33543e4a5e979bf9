"""``Gallery``: the durable identity store, one SQLite file, and matching against it.

A thin facade over two modules:

- :mod:`edge_sdk.tasks.faces.store`: the SQLite file (layout, creation, checks on opening, one
  transaction per write, durability guarantees);
- :mod:`edge_sdk.tasks.faces.matcher`: the embedding matrix, cosine matching and the threshold.

Guarantees (details in :mod:`edge_sdk.tasks.faces.store`):

- The file is created with mode 0600, atomically. WAL journal with ``synchronous=FULL``;
  an enrolment whose call returned survives a crash of the process; one that raised left the
  gallery as it was.
- A file that is not a valid edge_sdk gallery raises
  :class:`~edge_sdk.errors.GalleryCorruptError` and is never touched.
- Every embedding is tagged with its embedder (model sha256 + dimension). Mixing embedders
  raises :class:`~edge_sdk.errors.EmbedderMismatchError`: their vectors are not comparable.
- Matching is one matrix product over every stored embedding, then the best cosine per
  identity. The matrix is cached in memory and reloaded when this or another process changes
  the file (``PRAGMA data_version``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ...errors import OptionsError
from .embedder import EmbedderIdentity
from .matcher import MATCH_BLOCK_ROWS, GalleryMatrix, Match, best_per_identity, decide, unit_rows
from .store import APPLICATION_ID, BUSY_TIMEOUT_S, SCHEMA_VERSION, SQLITE_MAGIC, GalleryStore, IdentityInfo

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_S",
    "MATCH_BLOCK_ROWS",
    "MAX_NAME_LENGTH",
    "SCHEMA_VERSION",
    "SQLITE_MAGIC",
    "Gallery",
    "GalleryMatrix",
    "IdentityInfo",
    "Match",
    "check_name",
]

MAX_NAME_LENGTH = 200


def check_name(name: object) -> str:
    """The name with surrounding spaces removed.

    Raises:
        OptionsError: not a string, empty, longer than :data:`MAX_NAME_LENGTH`, or holding a
            control or format character (Unicode categories Cc and Cf: newlines, escapes,
            bidirectional overrides such as U+202E, zero-width joiners), which could disguise
            one name as another.
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
        self._store = GalleryStore(path, create=create, check=check)
        self.path = self._store.path
        self._cache: GalleryMatrix | None = None
        self._cache_version: tuple[int, int] | None = None

    def close(self) -> None:
        """Close the file (a checkpoint folds the WAL back into it)."""
        self._store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

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
        return self._store.add_embeddings(name, unit_rows(embeddings, embedder.dim), embedder, source)

    enroll = enrol

    def rename(self, old: str, new: str) -> None:
        """Rename identity ``old`` to ``new``.

        Raises:
            UnknownIdentityError: ``old`` is not enrolled.
            GalleryError: ``new`` is already enrolled.
            GalleryWriteError: the write failed; nothing was changed.
        """
        self._store.rename(check_name(old), check_name(new))

    def remove(self, name: str) -> int:
        """Remove identity ``name`` and its embeddings; returns how many embeddings went.

        Raises:
            UnknownIdentityError: ``name`` is not enrolled.
            GalleryWriteError: the write failed; nothing was changed.
        """
        return self._store.remove(check_name(name))

    # -- reading -----------------------------------------------------------------------------

    def identities(self) -> list[IdentityInfo]:
        """Enrolled identities, by name."""
        return self._store.identities()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._store.has(name.strip())

    def __len__(self) -> int:
        return self._store.count()

    def __iter__(self) -> Iterator[IdentityInfo]:
        return iter(self.identities())

    def matrix(self) -> GalleryMatrix:
        """Every embedding as one matrix (cached; reloaded after any change to the file).

        Raises:
            GalleryCorruptError: a stored vector does not match its recorded dimension.
            EmbedderMismatchError: the file mixes embedders (only possible if edited by hand).
        """
        with self._store.lock:
            version = self._store.version()
            if self._cache is not None and self._cache_version == version:
                return self._cache
            self._cache = GalleryMatrix.from_stored(self._store.load_embeddings())
            self._cache_version = version
            return self._cache

    def best_per_identity(self, queries: npt.ArrayLike, embedder: EmbedderIdentity) -> np.ndarray:
        """Best cosine of each query against each identity: float32 ``(F, identities)``.

        ``queries``: ``(D,)`` or ``(F, D)`` embeddings (L2-normalised here). Identities are in
        ``self.matrix().names`` order.

        Raises:
            EmbedderMismatchError: the gallery was built with another embedder.
        """
        return best_per_identity(self.matrix(), queries, embedder, f"gallery {self.path}")

    def match(self, queries: npt.ArrayLike, embedder: EmbedderIdentity, threshold: float) -> list[Match]:
        """Best identity per query embedding, against ``threshold`` (a cosine in [-1, 1]).

        Raises:
            EmbedderMismatchError: the gallery was built with another embedder.
        """
        m = self.matrix()  # one snapshot: the names must be those the similarities were computed on
        return decide(best_per_identity(m, queries, embedder, f"gallery {self.path}"), m.names, threshold)
