"""The body-part forest evaluated with torch, so a GPU can label depth frames.

Same model, same numbers: the forest's flat arrays and the bank's offsets become tensors, depth
features are computed on the device with exactly the float32 operations of
``depth.features`` (probe = clamp(pixel + rint(offset / depth)), read from a padded image whose
holes hold the background constant), and the trees are descended level by level.

Built for a GPU, where a frame costs what its kernel launches cost: all (pixel, tree) pairs take a
step together at every level (pairs already at a leaf stay put: a leaf's successors are itself),
fixed shapes, no compaction and no host synchronisation. One level is about a dozen kernels: one
row gather of the node table (the four probe offsets of the node's feature and its threshold, so
the feature index is never looked at), the two probes' rows and columns in one broadcast
``(pairs, probe, axis)`` tensor, one depth gather, one compare and one successor gather.
On CPU torch the probabilities equal ``BodyPartModel.predict_pixels`` bit for bit (the tests check it).
"""

from __future__ import annotations

import numpy as np
import torch

from segstudio.depth.features import BACKGROUND_DEPTH_M
from segstudio.depth.model import BodyPartModel
from segstudio.models import forest_triton

MM_TO_M = np.float32(0.001)
"""The float32 factor of ``features.depth_in_metres``; a Python float could round differently."""


class TorchBodyParts:
    """A ``BodyPartModel`` on a torch device: ``predict_pixels`` and ``leaf_rows`` for given pixels."""

    def __init__(self, model: BodyPartModel, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        forest, bank = model.forest, model.bank
        inner = forest.child >= 0
        feature = np.maximum(forest.feature, 0)  # leaves read feature 0, never used
        nodes = np.arange(forest.n_nodes)
        # Row n: u_row, u_col, v_row, v_col of node n's feature, then its threshold.
        table = np.concatenate([bank.u[feature], bank.v[feature], forest.threshold[:, None]], axis=1)
        # successor[2n + 1] is where a pair goes when its feature value <= threshold, [2n] otherwise.
        left = np.where(inner, forest.child, nodes)
        successor = np.stack([np.where(inner, forest.child + 1, nodes), left], axis=1)

        def tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=self.device)

        self.node_table = tensor(table.T, torch.float32)  # (5, nodes): gathers give contiguous rows
        self.successor = tensor(successor.reshape(-1), torch.int64)
        self.leaf_row = tensor(np.where(inner, 0, ~forest.child), torch.int64)
        self.roots = tensor(forest.roots, torch.int64)
        self.leaf_proba = tensor(forest.leaf_proba, torch.float32)
        self.levels = forest.depth
        self.mm_to_m = torch.tensor(MM_TO_M, device=self.device)  # made once: no copy per frame
        self.use_triton = forest_triton.available(self.device)
        self.triton_error: str | None = None

    def tensor_of(self, array: np.ndarray | torch.Tensor) -> torch.Tensor:
        """An image or pixel array on the device (uint16 depth widened: torch's uint16 has few ops)."""
        if isinstance(array, np.ndarray) and array.dtype == np.uint16:
            array = array.astype(np.int32)
        return torch.as_tensor(array, device=self.device)

    def probes(
        self,
        depth_mm: torch.Tensor,
        rows: torch.Tensor,
        cols: torch.Tensor,
        valid: torch.Tensor | None = None,
    ) -> Probes:
        """Reference pixels ``(rows, cols)`` on a millimetre frame; slots where ``valid`` is False
        are padding (any pixel) whose features are computed but meaningless."""
        return Probes(depth_mm.to(torch.float32) * self.mm_to_m, rows, cols, valid)

    def leaf_rows(
        self, depth_mm: np.ndarray | torch.Tensor, pixels: np.ndarray | torch.Tensor
    ) -> torch.Tensor:
        """(N, trees) int64: the row of ``leaf_proba`` each pixel reaches in each tree."""
        pixels = self.tensor_of(pixels).long()
        probes = self.probes(self.tensor_of(depth_mm), pixels[:, 0], pixels[:, 1])
        if not bool((probes.reference > 0).all()):  # a host sync, on this checked entry point only
            raise ValueError("features are defined at foreground pixels only (depth > 0)")
        return self.descend(probes)

    def descend(self, probes: Probes) -> torch.Tensor:
        """(N, trees) int64 leaf rows of every probe pixel in every tree, with no host sync.

        Pairs are laid out (tree, pixel), pixels fastest, so per-pixel values broadcast along
        the contiguous axis (inner broadcasts over 2 or 3 elements are slow on CPU). On CUDA with
        Triton the whole walk is one kernel (``forest_triton``), with the same arithmetic."""
        if self.use_triton:
            try:
                rows = forest_triton.descend(
                    self.node_table,
                    self.successor,
                    self.leaf_row,
                    self.roots,
                    self.levels,
                    probes.flat,
                    probes.origin,
                    probes.inv_depth,
                    probes.last_row_col,
                )
                return rows.T
            except Exception as exc:  # noqa: BLE001 - no compiler, old driver...: the torch loop works
                self.use_triton, self.triton_error = False, f"{type(exc).__name__}: {exc}"
        node = self.roots[:, None].expand(-1, probes.inv_depth.shape[0])  # (trees, N)
        for _ in range(self.levels):
            params = torch.index_select(self.node_table, 1, node.reshape(-1)).view(5, *node.shape)
            value = probes.difference(params[:4].view(2, 2, *node.shape))
            go_left = torch.le(value, params[4])  # NaN goes right, as in numpy
            node = torch.take(self.successor, torch.add(go_left, node, alpha=2))
        return torch.take(self.leaf_row, node).T

    def predict_pixels(
        self, depth_mm: np.ndarray | torch.Tensor, pixels: np.ndarray | torch.Tensor
    ) -> torch.Tensor:
        """(N, 31) float32 part probabilities: the mean of the trees' leaf distributions."""
        return self.proba_of_leaves(self.leaf_rows(depth_mm, pixels))

    def proba_of_leaves(self, rows: torch.Tensor) -> torch.Tensor:
        """(N, 31) mean leaf distribution, summed in tree order like ``Forest.predict_proba_lazy``."""
        proba = torch.index_select(self.leaf_proba, 0, rows[:, 0])  # numpy adds it to zeros: exact
        for tree in range(1, rows.shape[1]):
            proba += torch.index_select(self.leaf_proba, 0, rows[:, tree])
        return proba / np.float32(rows.shape[1])


class Probes:
    """Reference pixels on one depth image (metres) on the device: ``features._Probes`` in torch."""

    def __init__(
        self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, valid: torch.Tensor | None
    ) -> None:
        height, width = image.shape
        holes_filled = torch.where(image > 0, image, BACKGROUND_DEPTH_M)
        padded = torch.nn.functional.pad(holes_filled, (1, 1, 1, 1), value=BACKGROUND_DEPTH_M)
        self.flat = padded.reshape(-1)
        self.reference = image[rows, cols]
        reference = self.reference if valid is None else torch.where(valid, self.reference, 1.0)
        self.inv_depth = torch.ones_like(reference) / reference  # a true division, as numpy's
        # (axis, 1, N) origins and (axis, 1, 1) bounds of the padded frame, broadcast over trees.
        self.origin = (torch.stack([rows, cols]) + 1).to(torch.float32)[:, None]
        self.first = torch.zeros((2, 1, 1), device=image.device)  # fills, not host copies: CUDA
        self.last = torch.full((2, 1, 1), width + 1.0, device=image.device)  # graphs capture them
        self.last[0] = height + 1.0
        self.row_stride = float(width + 2)
        self.last_row_col = (height + 1.0, width + 1.0)

    def difference(self, offsets: torch.Tensor) -> torch.Tensor:
        """``d(x + u/d(x)) - d(x + v/d(x))`` for offsets ``(probe u|v, axis row|col, trees, N)``:
        positions rounded half to even (``torch.round``, as ``np.rint``) and clamped into the
        padded frame, in numpy's order of float32 operations."""
        position = torch.round(offsets * self.inv_depth) + self.origin
        position = torch.clamp(position, min=self.first, max=self.last)
        index = torch.add(position[:, 1], position[:, 0], alpha=self.row_stride)  # exact integers
        depth = torch.take(self.flat, index.long())
        return depth[0] - depth[1]
