"""Per-neuron weight covariance Σ_v shared by every result that stores it in the row space of X."""
from __future__ import annotations

import numpy as np

__all__ = ["SigmaVMixin"]


class SigmaVMixin:
    """Σ_v = W Σ_r Wᵀ + (g_v/D)(I − W Wᵀ) from a row-space covariance Σ_r (r, r) and basis W (D, r).

    Subclasses are dataclasses with fields ``spec`` and ``_W`` and define ``_sigma_row()`` returning Σ_r.
    Outside the row space of X the data never act, so Σ_v equals the prior variance g_v/D there.
    """

    def _sigma_row(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def D(self) -> int:
        return self._W.shape[0]

    @property
    def sigma_v(self) -> np.ndarray:
        """Per-neuron weight covariance Σ_v (D, D), formed on access."""
        W, prior = self._W, self.spec.g_v / self.D
        return W @ (self._sigma_row() - prior * np.eye(W.shape[1])) @ W.T + prior * np.eye(self.D)

    def sigma_v_eigh(self):
        """Spectrum of Σ_v without forming the D×D matrix.

        Returns
        -------
        eigenvalues : (D,) in descending order; eigenvectors : (D, r) for the r row-space eigenvalues (the other
        D − r eigenvalues equal the prior variance g_v/D, with eigenvectors orthogonal to the rows of X).
        """
        mu, Q = np.linalg.eigh(self._sigma_row())
        order = np.argsort(mu)[::-1]
        prior = np.full(self.D - mu.size, self.spec.g_v / self.D)
        return np.sort(np.concatenate([mu, prior]))[::-1], self._W @ Q[:, order]

    def top_direction(self):
        """Outlier eigenvalue of Σ_v and its unit eigenvector (D,)."""
        eig, vec = self.sigma_v_eigh()
        return float(eig[0]), vec[:, 0]
