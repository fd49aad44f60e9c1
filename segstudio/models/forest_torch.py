"""The body-part forest evaluated with torch, so a GPU can label depth frames.

Same model, same numbers: the forest's flat arrays and the bank's offsets become tensors, depth
features are computed on the device with exactly the float32 operations of
``depth.features`` (probe = clamp(pixel + rint(offset / depth)), read from a padded image whose
holes hold the background constant), and the trees are descended level by level with gathers
(``torch.take``: plain tensor indexing is many times slower on CPU).
Unlike the numpy path, every (pixel, tree) pair takes a step at every level (pairs already at a
leaf stay put): fixed shapes and no compaction, which is what a GPU wants. On CPU torch the
probabilities equal ``BodyPartModel.predict_pixels`` bit for bit (the tests check it).
"""

from __future__ import annotations

import numpy as np
import torch

from segstudio.depth.features import BACKGROUND_DEPTH_M
from segstudio.depth.model import BodyPartModel

MM_TO_M = np.float32(0.001)
"""The float32 factor of ``features.depth_in_metres``; a Python float could round differently."""


class TorchBodyParts:
    """A ``BodyPartModel`` on a torch device: ``predict_pixels`` and ``leaf_rows`` for given pixels."""

    def __init__(self, model: BodyPartModel, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        forest, bank = model.forest, model.bank

        def tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=self.device)

        self.feature = tensor(np.maximum(forest.feature, 0), torch.int64)  # leaves read feature 0, unused
        self.threshold = tensor(forest.threshold, torch.float32)
        self.child = tensor(forest.child, torch.int64)
        self.roots = tensor(forest.roots, torch.int64)
        self.leaf_proba = tensor(forest.leaf_proba, torch.float32)
        self.offsets = [tensor(a[:, i], torch.float32) for a in (bank.u, bank.v) for i in (0, 1)]
        self.levels = forest.depth

    def tensor_of(self, array: np.ndarray | torch.Tensor) -> torch.Tensor:
        """An image or pixel array on the device (uint16 depth widened: torch's uint16 has few ops)."""
        if isinstance(array, np.ndarray) and array.dtype == np.uint16:
            array = array.astype(np.int32)
        return torch.as_tensor(array, device=self.device)

    def leaf_rows(
        self, depth_mm: np.ndarray | torch.Tensor, pixels: np.ndarray | torch.Tensor
    ) -> torch.Tensor:
        """(N, trees) int64: the row of ``leaf_proba`` each pixel reaches in each tree."""
        probes = _Probes(self.tensor_of(depth_mm), self.tensor_of(pixels))
        n, n_trees = probes.rows.shape[0], self.roots.shape[0]
        sample = torch.arange(n, device=self.device).repeat_interleave(n_trees)
        node = self.roots.repeat(n)
        for _ in range(self.levels):
            child = torch.take(self.child, node)
            feature = torch.take(self.feature, node)
            value = probes.difference(sample, *(torch.take(offset, feature) for offset in self.offsets))
            go_right = ~(value <= torch.take(self.threshold, node))  # NaN goes right, as in numpy
            node = torch.where(child >= 0, child + go_right.long(), node)
        return (-1 - torch.take(self.child, node)).reshape(n, n_trees)

    def predict_pixels(
        self, depth_mm: np.ndarray | torch.Tensor, pixels: np.ndarray | torch.Tensor
    ) -> torch.Tensor:
        """(N, 31) float32 part probabilities: the mean of the trees' leaf distributions, summed in
        tree order like ``Forest.predict_proba_lazy``."""
        rows = self.leaf_rows(depth_mm, pixels)
        proba = torch.zeros(
            (rows.shape[0], self.leaf_proba.shape[1]), dtype=torch.float32, device=self.device
        )
        for tree in range(rows.shape[1]):
            proba += torch.index_select(self.leaf_proba, 0, rows[:, tree])
        return proba / np.float32(rows.shape[1])


class _Probes:
    """Reference pixels on one depth image on the device (``features._Probes`` in torch)."""

    def __init__(self, depth_mm: torch.Tensor, pixels: torch.Tensor) -> None:
        image = depth_mm.to(torch.float32) * torch.tensor(MM_TO_M, device=depth_mm.device)
        height, width = image.shape
        padded = torch.full(
            (height + 2, width + 2), BACKGROUND_DEPTH_M, dtype=torch.float32, device=image.device
        )
        padded[1:-1, 1:-1] = torch.where(
            image > 0, image, torch.tensor(BACKGROUND_DEPTH_M, device=image.device)
        )
        rows, cols = pixels[:, 0].long(), pixels[:, 1].long()
        reference = image[rows, cols]
        if not bool((reference > 0).all()):
            raise ValueError("features are defined at foreground pixels only (depth > 0)")
        self.flat = padded.reshape(-1)
        self.last_row, self.last_col = float(height + 1), float(width + 1)
        self.rows, self.cols = (rows + 1).to(torch.float32), (cols + 1).to(torch.float32)
        self.inv_depth = torch.ones_like(reference) / reference  # a true division, as numpy's

    def difference(
        self,
        samples: torch.Tensor,
        u_row: torch.Tensor,
        u_col: torch.Tensor,
        v_row: torch.Tensor,
        v_col: torch.Tensor,
    ) -> torch.Tensor:
        rows, cols, inv_depth = (torch.take(a, samples) for a in (self.rows, self.cols, self.inv_depth))
        return self._read(rows, cols, inv_depth, u_row, u_col) - self._read(
            rows, cols, inv_depth, v_row, v_col
        )

    def _read(
        self,
        rows: torch.Tensor,
        cols: torch.Tensor,
        inv_depth: torch.Tensor,
        d_row: torch.Tensor,
        d_col: torch.Tensor,
    ) -> torch.Tensor:
        """Depth at ``(row, col) + rint(offset / d)`` (``torch.round`` rounds halves to even, as
        ``np.rint``), clamped into the padded frame."""
        row = torch.clamp(rows + torch.round(d_row * inv_depth), 0.0, self.last_row)
        col = torch.clamp(cols + torch.round(d_col * inv_depth), 0.0, self.last_col)
        return torch.take(self.flat, (row * (self.last_col + 1.0) + col).long())
