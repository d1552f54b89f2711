"""The map: every segment as a point on the unit sphere, by a projection fitted once, then frozen.

The projection is PCA to three dimensions of the indexed (unit) vectors: subtract their mean,
multiply by the first three principal axes, scale to length 1. Each axis's sign is fixed so
that its largest loading is positive, so fitting the same vectors twice gives the same map.
Once fitted it is stored with the index and never changes by itself: a sound that arrives
later lands where the frozen projection puts it and nothing else moves. Only an explicit
refit (`cochlea aggregator similarity refit`) fits it again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workers.aggregators.similarity.embedding import unit_rows

__all__ = ["Projection"]


@dataclass(frozen=True)
class Projection:
    """`point(v) = unit((v - mean) @ axes.T)`: a frozen linear map to the unit sphere."""

    mean: np.ndarray
    axes: np.ndarray
    fitted_on: int
    """How many segments it was fitted on."""

    @classmethod
    def fit(cls, vectors: np.ndarray) -> Projection:
        """The first three principal axes of `vectors` (segments, dims)."""
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError(f"need (segments, dims) vectors, got {vectors.shape}")
        mean = vectors.mean(0)
        _, _, rows = np.linalg.svd(vectors - mean, full_matrices=False)
        axes = np.zeros((3, vectors.shape[1]))
        axes[: len(rows[:3])] = rows[:3]
        for k in range(len(rows[:3]), 3):  # fewer segments than axes: complete with unit axes
            axes[k, k % vectors.shape[1]] = 1.0
        signs = np.sign(axes[np.arange(3), np.abs(axes).argmax(1)])
        axes *= np.where(signs == 0, 1.0, signs)[:, None]
        return cls(
            mean=mean.astype(np.float32), axes=axes.astype(np.float32), fitted_on=len(vectors)
        )

    def points(self, vectors: np.ndarray) -> np.ndarray:
        """Unit 3-D points (segments, 3) for unit vectors (segments, dims)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.mean.shape[0])
        return unit_rows((vectors - self.mean) @ self.axes.T)

    def to_json(self) -> dict[str, object]:
        return {"mean": self.mean.tolist(), "axes": self.axes.tolist(), "fittedOn": self.fitted_on}

    @classmethod
    def from_json(cls, data: dict[str, object], *, dims: int) -> Projection:
        mean = np.asarray(data["mean"], dtype=np.float32)
        axes = np.asarray(data["axes"], dtype=np.float32)
        if mean.shape != (dims,) or axes.shape != (3, dims):
            raise ValueError("the stored projection does not match this embedding")
        fitted_on = data["fittedOn"]
        return cls(
            mean=mean, axes=axes, fitted_on=int(fitted_on) if isinstance(fitted_on, int) else 0
        )
