"""Matching faces against the gallery: the embedding matrix, cosines and the threshold.

Embeddings are L2-normalised, so a cosine is a dot product. Matching is one matrix product
of every stored embedding with the queries, then the best cosine per identity; an identity
is reported when that cosine reaches the threshold. Nothing here touches the file: the
rows come from :class:`~edge_sdk.tasks.faces.store.GalleryStore`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ...errors import EmbedderMismatchError, OptionsError
from .embedder import EmbedderIdentity
from .store import StoredEmbeddings, embedder_key

MATCH_BLOCK_ROWS = 512
"""Gallery rows per block of the matching product (512 x 128 float32 = 256 KiB, cache-sized)."""


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

    @classmethod
    def from_stored(cls, stored: StoredEmbeddings) -> GalleryMatrix:
        """Group stored rows by identity (their ids are sorted, so each group is contiguous)."""
        ids = stored.identity_ids
        uniq, first = np.unique(ids, return_index=True)
        names = tuple(stored.names[int(i)] for i in uniq)
        owners = np.searchsorted(uniq, ids).astype(np.int32)
        vectors = stored.vectors
        starts = first.astype(np.intp)
        for arr in (vectors, owners, starts):
            arr.setflags(write=False)
        return cls(names, vectors, owners, starts, stored.embedder)


def unit_rows(embeddings: npt.ArrayLike, dim: int) -> np.ndarray:
    """``(D,)`` or ``(N, D)`` embeddings -> float32 ``(N, D)`` rows of length 1, to store.

    Raises:
        OptionsError: not of dimension ``dim``, empty, not finite, or a zero vector.
    """
    vecs = np.asarray(embeddings, np.float32)
    if vecs.ndim == 1:
        vecs = vecs[None, :]
    if vecs.ndim != 2 or vecs.shape[0] == 0 or vecs.shape[1] != dim:
        raise OptionsError(f"expected embeddings of shape (D,) or (N, D) with D = {dim}, got {vecs.shape}")
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    if not np.all(np.isfinite(vecs)) or np.any(norms == 0):
        raise OptionsError("embeddings must be finite and non-zero")
    return np.ascontiguousarray(vecs / norms, dtype=np.float32)


def best_per_identity(
    m: GalleryMatrix, queries: npt.ArrayLike, embedder: EmbedderIdentity, where: str = "the gallery"
) -> np.ndarray:
    """Best cosine of each query against each identity of ``m``: float32 ``(F, len(m.names))``.

    ``queries``: ``(D,)`` or ``(F, D)`` embeddings (L2-normalised here). ``where`` names
    the gallery in messages.

    Raises:
        EmbedderMismatchError: ``m`` was built with another embedder.
        OptionsError: the queries are not ``(F, embedder.dim)``.
    """
    q = np.asarray(queries, np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if m.embedder is not None and (
        m.embedder.sha256 != embedder_key(embedder) or m.embedder.dim != embedder.dim
    ):
        raise EmbedderMismatchError(
            f"{where} was built with another embedder (sha256:{m.embedder.sha256[:12]}…, "
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
    result: np.ndarray = np.maximum.reduceat(sims, m.starts, axis=0).T
    return result


def decide(best: np.ndarray, names: tuple[str, ...], threshold: float) -> list[Match]:
    """One :class:`Match` per row of ``best`` (from :func:`best_per_identity` on the matrix
    whose ``names`` are given): the nearest identity, reported when its cosine reaches
    ``threshold`` (a cosine in [-1, 1])."""
    out: list[Match] = []
    for row in best:
        if row.size == 0:
            out.append(Match(None, None))
            continue
        j = int(np.argmax(row))
        sim = float(row[j])
        out.append(Match(names[j] if sim >= threshold else None, sim, names[j]))
    return out
