"""Threshold calibration from the gallery itself.

Genuine pairs are two embeddings of the same identity (only identities with two or more
embeddings contribute); impostor pairs are embeddings of two different identities. When the
two cosine distributions do not overlap, the proposed threshold is the midpoint of the gap
and the margin is the gap's half-width; otherwise the threshold minimises false accepts plus
false rejects and the margin is negative (half the overlap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import GalleryError
from .gallery import GalleryMatrix


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`. Cosines are in [-1, 1].

    ``genuine`` / ``impostor``: every pair's cosine (float32 arrays). ``threshold``: proposed
    match threshold. ``margin``: distance from the threshold to the nearest genuine or impostor
    pair (negative when the distributions overlap). ``false_accepts`` / ``false_rejects``:
    impostor pairs at or above, genuine pairs below, the threshold.
    """

    identities: int
    genuine: np.ndarray
    impostor: np.ndarray
    threshold: float
    margin: float
    false_accepts: int
    false_rejects: int

    def as_dict(self) -> dict[str, Any]:
        def stats(a: np.ndarray) -> dict[str, Any]:
            if a.size == 0:
                return {"pairs": 0}
            return {
                "pairs": int(a.size),
                "min": round(float(a.min()), 4),
                "mean": round(float(a.mean()), 4),
                "max": round(float(a.max()), 4),
            }

        return {
            "identities": self.identities,
            "genuine": stats(self.genuine),
            "impostor": stats(self.impostor),
            "threshold": round(self.threshold, 4),
            "margin": round(self.margin, 4),
            "false_accepts": self.false_accepts,
            "false_rejects": self.false_rejects,
        }


def pair_cosines(m: GalleryMatrix, max_embeddings: int = 20000) -> tuple[np.ndarray, np.ndarray, int]:
    """``(genuine, impostor, identities used)`` cosines of every pair of stored embeddings.

    Raises:
        GalleryError: more than ``max_embeddings`` embeddings (the pair matrix would not fit).
    """
    n = m.vectors.shape[0]
    if n > max_embeddings:
        raise GalleryError(f"calibration compares every pair: at most {max_embeddings} embeddings, found {n}")
    counts = np.bincount(m.owners, minlength=len(m.names)) if n else np.zeros(0, np.intp)
    sims = m.vectors @ m.vectors.T
    iu = np.triu_indices(n, k=1)
    same = m.owners[iu[0]] == m.owners[iu[1]]
    pair_sims = sims[iu]
    genuine = pair_sims[same].astype(np.float32)
    impostor = pair_sims[~same].astype(np.float32)
    return genuine, impostor, int((counts >= 2).sum())


def calibrate(m: GalleryMatrix) -> Calibration:
    """Propose a threshold from the gallery's genuine and impostor pair cosines.

    Raises:
        GalleryError: no identity has two embeddings, or fewer than two identities are enrolled.
    """
    genuine, impostor, used = pair_cosines(m)
    if genuine.size == 0:
        raise GalleryError(
            "calibration needs at least one identity with two or more embeddings (enrol more images of someone)"
        )
    if impostor.size == 0:
        raise GalleryError("calibration needs at least two enrolled identities")
    lo, hi = float(impostor.max()), float(genuine.min())
    if hi > lo:
        threshold = (lo + hi) / 2.0
    else:
        candidates = np.unique(np.concatenate([genuine, impostor]))
        fa = np.searchsorted(np.sort(impostor), candidates, side="left")
        fa = impostor.size - fa  # impostors >= t
        fr = np.searchsorted(np.sort(genuine), candidates, side="left")  # genuines < t
        threshold = float(candidates[int(np.argmin(fa + fr))])
    margin = min(float(genuine.min()) - threshold, threshold - float(impostor.max()))
    return Calibration(
        identities=used,
        genuine=genuine,
        impostor=impostor,
        threshold=threshold,
        margin=margin,
        false_accepts=int((impostor >= threshold).sum()),
        false_rejects=int((genuine < threshold).sum()),
    )
