"""The live body-part pipeline on a torch device: depth frame in, part map and joints out.

Features, forest (``TorchBodyParts``), posterior smoothing (``depth.model.smooth``) and mean-shift
joint proposals (``depth.joints.propose_joints``) run on the device with fixed shapes and no host
synchronisation until the converged modes come back: on a GPU a frame is a fixed sequence of a
few hundred small kernels, which ``TorchBodyPipeline`` records once as a CUDA graph and replays.

Fixed shapes: the body pixels are packed in row-major order (``np.argwhere``'s) into ``capacity``
slots by a prefix sum; unused slots are inert padding. A frame with more body pixels than slots
is run again with room for it (and later frames keep the room).

Same maths as numpy: the forest's probabilities are bit-identical on CPU torch; smoothing sums
box windows of cells from a summed-area table (float64 prefix sums, the rest float32:
probabilities within 1e-4 of numpy's, tests/models; float32 sums missed by up to 2e-4), and mean
shift makes numpy's float32 operations in the same order, so joints agree to float tolerance.
The greedy choice of the best few modes per joint runs on the host (``select_proposals``) on the
J x S modes, the only data read back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from segstudio.depth.joints import JOINTS, JointProposals, JointSpec, select_proposals
from segstudio.depth.model import FAR_MM, NEAR_MM, SMOOTHING_DEPTH_M, SMOOTHING_PX_M, BodyPartModel
from segstudio.depth.parts import BACKGROUND
from segstudio.depth.render import Camera
from segstudio.depth.smoothing_jit import CELL
from segstudio.models.forest_torch import TorchBodyParts

FIRST_CUDA_CAPACITY = 1 << 15
"""Body-pixel slots of a first CUDA graph: a body at 2-3 m covers 10-20k pixels at 640x480."""

FrameFn = Callable[[torch.Tensor, torch.Tensor | None, int], tuple[torch.Tensor, torch.Tensor]]
"""(int16 depth, selection or None, capacity) -> (part map, packed modes/densities/count)."""


@dataclass(frozen=True, eq=False)
class LiveFrame:
    """One frame's result: ``parts`` (H, W) uint8 on the device (``BACKGROUND`` off the body),
    ``proposals`` on the host, and ``body_pixels`` classified."""

    parts: torch.Tensor
    proposals: JointProposals
    body_pixels: int


def smooth_on_device(
    depth_mm: torch.Tensor,
    slots: torch.Tensor,
    valid: torch.Tensor,
    proba: torch.Tensor,
    window_px_m: float = SMOOTHING_PX_M,
    depth_scale_m: float = SMOOTHING_DEPTH_M,
) -> torch.Tensor:
    """``depth.model.smooth`` for pixels at flat indices ``slots`` (padding where not ``valid``) of a
    millimetre frame: the window from the median body depth, the depth weights of each part's
    window mass, cells of ``CELL`` pixels from the body's top left; stays on the device (no sync).

    Window sums come from a summed-area table of a cell grid the size of the whole frame, so the
    data-dependent window and box need no data-dependent shapes. It is laid out channel first and
    transposed between its two prefix sums, so both scan the innermost axis (a GPU scans an outer
    axis row by row, 10x slower). A window under one cell (numpy returns ``proba`` as it is) gives
    the pixel's own cell."""
    if window_px_m <= 0:
        return proba
    height, width = depth_mm.shape
    capacity, parts = proba.shape
    z = torch.where(valid, depth_mm.reshape(-1)[slots], 1 << 30).to(torch.float32) / 1000.0
    ordered = torch.sort(z).values  # padding sorts last
    last = (valid.sum() - 1).clamp(min=0)
    median_m = ordered[torch.stack([last // 2, (last + 1) // 2])].mean()  # np.median, in float32
    radius = torch.floor(window_px_m / median_m.to(torch.float64) / (2 * CELL) + 0.5)
    radius = torch.nan_to_num(radius, nan=0.0, posinf=0.0).clamp(max=max(height, width)).long()
    z = z - median_m

    # Cells from the body's top left, as numpy's box; padding adds to a cell past the grid.
    rows, cols = slots // width, slots % width
    top = torch.where(valid, rows, height).min()
    left = torch.where(valid, cols, width).min()
    grid_h, grid_w = height // CELL + 1, width // CELL + 1
    cell_y, cell_x = (rows - top).clamp(min=0) // CELL, (cols - left).clamp(min=0) // CELL
    cell = torch.where(valid, cell_y * grid_w + cell_x, grid_h * grid_w)
    proba = proba.to(torch.float32)
    moments = torch.cat([proba, proba * z[:, None]], dim=1)  # (capacity, 2C)
    binned = torch.zeros((grid_h * grid_w + 1, 2 * parts), dtype=torch.float32, device=proba.device)
    binned.index_add_(0, cell, moments)
    image = binned[:-1].T.reshape(2 * parts, grid_h, grid_w)
    # float64 prefix sums: a window's sum is a difference of totals up to ~1e4 (float32 kept
    # ~1e-3 of a small part's mass and missed numpy's probabilities by up to 2e-4)
    table = image.to(torch.float64).cumsum(2).transpose(1, 2).contiguous().cumsum(2)  # (K, W, H)
    bottom, above = (cell_y + radius).clamp(max=grid_h - 1), cell_y - radius - 1  # above: the row before
    right, before = (cell_x + radius).clamp(max=grid_w - 1), cell_x - radius - 1
    corner_x = torch.stack([right, before, right, before]).clamp(min=0)
    corner_y = torch.stack([bottom, bottom, above, above]).clamp(min=0)
    sign = torch.stack(
        [
            torch.ones_like(above),
            -(before >= 0).long(),
            -(above >= 0).long(),
            ((before >= 0) & (above >= 0)).long(),
        ]
    )
    corners = torch.index_select(table.view(2 * parts, -1), 1, (corner_x * grid_h + corner_y).view(-1))
    windows = (corners.view(2 * parts, 4, capacity) * sign.to(torch.float64)).sum(dim=1).T.to(torch.float32)
    inv_scale2 = 1.0 / depth_scale_m**2 if depth_scale_m > 0 else 0.0
    mass = windows[:, :parts].clamp(min=0.0)  # depth.model.gated_probabilities
    gap_mass = z[:, None] * mass - windows[:, parts:]
    mass2 = mass * mass
    near = mass2 / (mass2 + gap_mass * gap_mass * inv_scale2 + 1e-30)
    weighted = mass * near * near
    return weighted * (1.0 / weighted.sum(dim=1, keepdim=True))


class DeviceJoints:
    """``propose_joints`` up to the converged modes and their densities, in torch on a device."""

    def __init__(
        self,
        device: torch.device,
        camera: Camera,
        specs: tuple[JointSpec, ...] = JOINTS,
        max_points: int = 200,
        max_seeds: int = 16,
        iterations: int = 10,
    ) -> None:
        self.camera, self.specs = camera, specs
        self.max_points, self.max_seeds, self.iterations = max_points, max_seeds, iterations
        width = max(len(spec.parts) for spec in specs)
        columns = [list(spec.parts) + [-1] * (width - len(spec.parts)) for spec in specs]  # -1: a zero column
        self.columns = torch.tensor(columns, dtype=torch.int64, device=device).T.contiguous()  # (L, J)
        self.thresholds = torch.tensor([spec.threshold for spec in specs], dtype=torch.float32, device=device)
        inv_bw2 = np.array([1.0 / spec.bandwidth**2 for spec in specs], np.float32)
        self.neg_inv_bw2 = torch.as_tensor(-inv_bw2, device=device)[:, None, None]  # numpy: d2 *= -inv_bw2
        self.point_steps = torch.arange(max_points, dtype=torch.float64, device=device)
        self.seed_steps = torch.arange(max_seeds, dtype=torch.float64, device=device)

    def modes(
        self, depth_mm: torch.Tensor, slots: torch.Tensor, valid: torch.Tensor, proba: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Converged modes (J, S, 3) float32 and their densities (J, S) from ``proba`` (C, 31) of the
        pixels at flat indices ``slots``; mean shift as numpy's, all joints and seeds at once."""
        points, weights = self._votes(depth_mm, slots, valid, proba)  # (3, J, P), (J, P)
        seeds = _linspace_index(self.seed_steps, (weights > 0).sum(dim=1))
        modes = points.gather(2, seeds.expand(3, -1, -1))  # (3, J, S)
        for _ in range(self.iterations):
            kernel = self._kernel(modes, points, weights)  # (J, S, P)
            total = kernel.sum(dim=2)
            # kernel @ points as a product and a sum over the innermost axis: no TF32, whatever the flags
            shifted = (kernel * points[:, :, None, :]).sum(dim=3)
            modes = torch.where(total > 0, shifted / total.clamp(min=1e-30), modes)
        return modes.permute(1, 2, 0), self._kernel(modes, points, weights).sum(dim=2)

    def _votes(
        self, depth_mm: torch.Tensor, slots: torch.Tensor, valid: torch.Tensor, proba: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``joints._votes`` with fixed shapes: (3, J, P) points (axis first, so sums over points run
        along the innermost axis) and (J, P) weights, 0 past the voters."""
        padded = torch.nn.functional.pad(proba, (0, 1))  # column -1 is zero
        joint_p = padded[:, self.columns[0]]
        for column in self.columns[1:]:  # left to right, as np.add.reduceat
            joint_p = joint_p + padded[:, column]
        voters = ((joint_p >= self.thresholds) & valid[:, None]).T  # (J, C)
        rank = voters.cumsum(dim=1, dtype=torch.int32)
        count = rank[:, -1]
        # order[j, r]: slot of joint j's r-th voter (pixel order); non-voters land past the capacity,
        # each in its own place (many writes to one address queue up on a GPU).
        capacity = slots.shape[0]
        order = torch.zeros((len(self.specs), 2 * capacity), dtype=torch.int64, device=slots.device)
        arange = torch.arange(capacity, device=slots.device).expand_as(voters)
        order.scatter_(1, torch.where(voters, rank - 1, capacity + arange), arange)
        limit = count.clamp(max=self.max_points)
        strided = _linspace_index(self.point_steps, count)  # joints._stride_pick when count > P
        taken = torch.where(count[:, None] > self.max_points, strided, self.point_steps.long())
        used = self.point_steps < limit[:, None]
        slot = order.gather(1, torch.where(used, taken, 0))  # (J, P)
        pixel = slots[slot]
        z = depth_mm.reshape(-1)[pixel].to(torch.float64) / 1000.0
        cam = self.camera
        x = ((pixel % depth_mm.shape[1]).to(torch.float64) - cam.cx) * z / cam.fx
        y = ((pixel // depth_mm.shape[1]).to(torch.float64) - cam.cy) * z / cam.fy
        points = torch.where(used, torch.stack([x, y, z]).to(torch.float32), 0.0)
        area = (z / cam.fx) * (z / cam.fx)
        share = joint_p.T.gather(1, slot).to(torch.float64)
        weights = share * area * (count.to(torch.float64) / limit.clamp(min=1))[:, None]
        return points, torch.where(used, weights.to(torch.float32), 0.0)

    def _kernel(self, modes: torch.Tensor, points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``joints._kernel``: Gaussian weights (J, S, P) of points (3, J, P) around modes (3, J, S),
        the squared distance summed x, y, z in order."""
        diff = modes[:, :, :, None] - points[:, :, None, :]
        squared = diff * diff
        d2 = squared[0] + squared[1] + squared[2]
        return torch.exp(d2 * self.neg_inv_bw2) * weights[:, None, :]


def _linspace_index(steps: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``np.linspace(0, max(0, n - 1), len(steps)).astype(np.intp)`` for every ``n`` in ``count``:
    the same float64 products, the last value exactly ``n - 1``."""
    stop = (count - 1).clamp(min=0).to(torch.float64)[:, None]
    index = steps * (stop / (steps.shape[0] - 1))
    index[:, -1:] = stop
    return index.long()


class TorchBodyPipeline:
    """Part map and joint proposals of millimetre depth frames on a torch device.

    On CUDA each (frame size, capacity) is captured once as a CUDA graph and replayed; where capture
    fails (``graph_error`` says why) the same code runs eagerly. On CPU frames run eagerly with one
    slot per body pixel."""

    def __init__(
        self,
        model: BodyPartModel,
        device: str | torch.device = "cpu",
        camera: Camera | None = None,
        specs: tuple[JointSpec, ...] = JOINTS,
        smoothing: float = SMOOTHING_PX_M,
        max_proposals: int = 3,
        capacity: int | None = None,
        cuda_graph: bool = True,
    ) -> None:
        self.forest = TorchBodyParts(model, device)
        self.device = self.forest.device
        self.camera = camera or Camera()
        self.joints = DeviceJoints(self.device, self.camera, specs)
        self.smoothing, self.max_proposals = smoothing, max_proposals
        on_cuda = self.device.type == "cuda"
        self.capacity = capacity or (FIRST_CUDA_CAPACITY if on_cuda else None)
        self.use_graph = cuda_graph and on_cuda
        self.graph_error: str | None = None
        self._graphs: dict[tuple[int, int, int], _Captured] = {}

    def __call__(
        self, depth_mm: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor | None = None
    ) -> LiveFrame:
        """Label one frame: the pixels of ``mask`` with a reading, else readings in the working range
        (``depth.model.foreground_mask`` without a background frame)."""
        depth = _as_int16(depth_mm)  # uint16 bits: half the upload of int32
        selected = None if mask is None else torch.as_tensor(mask).to(torch.bool)
        if not self.use_graph:  # a graph copies frames straight into its own input tensors
            depth = depth.to(self.device)
            selected = None if selected is None else selected.to(self.device)
        capacity = self.capacity
        if capacity is None:
            capacity = max(1, int(self._selected(_widen(depth), selected).sum()))  # CPU: no padding
        while True:
            parts, packed = self._run(depth, selected, capacity)
            host = packed.cpu().numpy()  # the one sync of a frame
            body_pixels = int(host[-1])
            if body_pixels <= capacity:
                break
            capacity = 1 << (body_pixels - 1).bit_length()
            if self.capacity is not None:
                self.capacity = capacity  # later frames keep the room
        n_joints, n_seeds = len(self.joints.specs), self.joints.max_seeds
        modes = host[: n_joints * n_seeds * 3].reshape(n_joints, n_seeds, 3)
        density = host[n_joints * n_seeds * 3 : -1].reshape(n_joints, n_seeds)
        proposals = select_proposals(modes, density, self.joints.specs, self.camera, self.max_proposals)
        return LiveFrame(parts, proposals, body_pixels)

    def _run(
        self, depth: torch.Tensor, selected: torch.Tensor | None, capacity: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame through a CUDA graph when one is (or can be) captured, else eagerly."""
        if self.use_graph:
            key = (*depth.shape, capacity, selected is None)
            try:
                if key not in self._graphs:
                    self._graphs[key] = _Captured(self._frame, self.device, depth, selected, capacity)
                return self._graphs[key].replay(depth, selected)
            except RuntimeError as exc:  # e.g. an op that cannot be captured on this torch/driver
                self.use_graph, self.graph_error = False, str(exc)
                depth = depth.to(self.device)
                selected = None if selected is None else selected.to(self.device)
        return self._frame(depth, selected, capacity)

    def _selected(self, depth: torch.Tensor, selected: torch.Tensor | None) -> torch.Tensor:
        """The pixels to label: ``selected`` with a reading, or readings in the working range."""
        if selected is None:
            return (depth >= NEAR_MM) & (depth <= FAR_MM)
        return selected & (depth > 0)

    def _frame(
        self, raw_depth: torch.Tensor, selected: torch.Tensor | None, capacity: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Device work of one frame, no host sync: the part map and one packed float32 vector of
        modes, densities and the body pixel count (read back together)."""
        depth = _widen(raw_depth)
        height, width = depth.shape
        body = self._selected(depth, selected)
        # Inclusive prefix count of body pixels in row-major order, by rows and then row totals: a
        # single 300k-long scan runs in one block on a GPU.
        in_row = body.cumsum(1, dtype=torch.int32)
        before_row = in_row[:, -1].cumsum(0) - in_row[:, -1]
        position = (in_row + before_row[:, None]).reshape(-1)
        count = position[-1]
        wanted = torch.arange(1, capacity + 1, dtype=torch.int32, device=self.device)
        valid = wanted <= count
        slots = torch.where(valid, torch.searchsorted(position, wanted), 0)  # the k-th body pixel
        probes = self.forest.probes(depth, slots // width, slots % width, valid)
        proba = self.forest.proba_of_leaves(self.forest.descend(probes))
        proba = smooth_on_device(depth, slots, valid, proba, self.smoothing)
        parts = torch.full((height * width + 1,), BACKGROUND, dtype=torch.uint8, device=self.device)
        parts[torch.where(valid, slots, height * width)] = proba.argmax(dim=1).to(torch.uint8)
        modes, density = self.joints.modes(depth, slots, valid, proba)
        packed = torch.cat([modes.reshape(-1), density.reshape(-1), count[None].to(torch.float32)])
        return parts[:-1].view(height, width), packed


class _Captured:
    """A CUDA graph of ``frame`` with its static input and output tensors."""

    def __init__(
        self,
        frame: FrameFn,
        device: torch.device,
        depth: torch.Tensor,
        selected: torch.Tensor | None,
        capacity: int,
    ) -> None:
        self.depth = depth.to(device, copy=True)
        self.selected = None if selected is None else selected.to(device, copy=True)
        # Host frames go through page-locked buffers: an asynchronous DMA, not a staged copy.
        self.pinned = [
            torch.empty_like(t, device="cpu").pin_memory()
            for t in (self.depth, self.selected)
            if t is not None
        ]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up: lazy initialisation and allocator pools
            frame(self.depth, self.selected, capacity)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = frame(self.depth, self.selected, capacity)

    def replay(self, depth: torch.Tensor, selected: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy the frame in and replay: the part map is copied out, the packed vector is read back
        before the next replay overwrites it."""
        for static, pinned, frame in zip(
            (self.depth, self.selected), self.pinned, (depth, selected), strict=False
        ):  # no mask: one
            if frame.device.type == "cpu":
                frame = pinned.copy_(frame)
            static.copy_(frame, non_blocking=True)
        self.graph.replay()
        parts, packed = self.outputs
        return parts.clone(), packed


def _as_int16(depth_mm: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A millimetre frame's uint16 bits as an int16 tensor, where it is (``_widen`` undoes it)."""
    if isinstance(depth_mm, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(depth_mm, np.uint16).view(np.int16))
    return depth_mm.to(torch.int16)


def _widen(raw: torch.Tensor) -> torch.Tensor:
    """int16 bits back to int32 millimetres 0..65535."""
    return raw.to(torch.int32) & 0xFFFF
