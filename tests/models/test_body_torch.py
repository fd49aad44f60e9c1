"""The torch pipeline (forest, smoothing, joints) agrees with the numpy one on CPU torch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from segstudio.depth.body import Frame, render_frame  # noqa: E402
from segstudio.depth.evaluation import EVAL_FIRST_SEED  # noqa: E402
from segstudio.depth.joints import propose_joints  # noqa: E402
from segstudio.depth.model import BodyPartModel, bundled_model_path, smooth  # noqa: E402
from segstudio.depth.parts import BACKGROUND  # noqa: E402
from segstudio.models.body_torch import TorchBodyPipeline, _linspace_index, smooth_on_device  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model() -> BodyPartModel:
    return BodyPartModel.load(bundled_model_path())


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    """Two held-out frames: bodies at different distances, so different smoothing windows."""
    return [render_frame(EVAL_FIRST_SEED + k) for k in (0, 3)]


def test_smoothing_on_device_matches_numpy(model: BodyPartModel, frames: list[Frame]) -> None:
    for frame in frames:
        pixels = np.argwhere(frame.parts != BACKGROUND)
        raw = model.predict_pixels(frame.depth, pixels)
        expected = smooth(pixels, raw, frame.depth)
        slots = torch.as_tensor(pixels[:, 0] * frame.depth.shape[1] + pixels[:, 1])
        valid = torch.ones(len(pixels), dtype=torch.bool)
        depth = torch.as_tensor(frame.depth.astype(np.int32))
        got = smooth_on_device(depth, slots, valid, torch.as_tensor(raw)).numpy()
        assert (got.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.999
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_pipeline_matches_numpy_parts_and_joints(model: BodyPartModel, frames: list[Frame]) -> None:
    pipeline = TorchBodyPipeline(model, camera=frames[0].camera)
    for frame in frames:
        mask = frame.parts != BACKGROUND
        pixels = np.argwhere(mask)
        smoothed = smooth(pixels, model.predict_pixels(frame.depth, pixels), frame.depth)
        expected = propose_joints(frame.depth, pixels, smoothed, frame.camera)
        got = pipeline(frame.depth, mask)
        assert got.body_pixels == len(pixels)
        parts = got.parts.numpy()
        assert (parts[~mask] == BACKGROUND).all()
        assert (parts[mask] == smoothed.argmax(axis=1)).mean() >= 0.999
        np.testing.assert_array_equal(got.proposals.confidence > 0, expected.confidence > 0)
        found = expected.confidence > 0
        assert found[:, 0].sum() >= 12  # most joints are proposed: the comparison means something
        np.testing.assert_allclose(got.proposals.world[found], expected.world[found], atol=0.01)
        np.testing.assert_allclose(got.proposals.confidence, expected.confidence, rtol=1e-3)


def test_padding_slots_are_inert_and_capacity_grows(model: BodyPartModel, frames: list[Frame]) -> None:
    """A fixed capacity (as on CUDA) pads with inert slots; a bigger body regrows it."""
    exact = TorchBodyPipeline(model, camera=frames[0].camera)
    padded = TorchBodyPipeline(model, camera=frames[0].camera, capacity=1024)
    frame = frames[0]
    mask = frame.parts != BACKGROUND
    a, b = exact(frame.depth, mask), padded(frame.depth, mask)
    assert padded.capacity == 1 << (int(mask.sum()) - 1).bit_length()
    np.testing.assert_array_equal(a.parts.numpy(), b.parts.numpy())
    # smoothing's window sums gather padding into a cell of its own; the sums of the body's cells
    # move by an ulp with the capacity (6e-8), which mean shift carries to ~2e-5 m
    np.testing.assert_allclose(a.proposals.world, b.proposals.world, atol=1e-4)
    np.testing.assert_allclose(a.proposals.confidence, b.proposals.confidence, rtol=1e-4)


def test_pipeline_without_mask_uses_the_working_range(model: BodyPartModel) -> None:
    frame = render_frame(EVAL_FIRST_SEED + 1)
    expected = model.predict(frame.depth).parts
    got = TorchBodyPipeline(model)(frame.depth).parts.numpy()
    assert (got == BACKGROUND).sum() == (expected == BACKGROUND).sum()
    assert (got == expected).mean() >= 0.999


def test_a_frame_without_a_body_gives_no_proposals(model: BodyPartModel) -> None:
    depth = np.full((48, 64), 3000, np.uint16)
    got = TorchBodyPipeline(model, capacity=64)(depth, np.zeros(depth.shape, bool))
    assert got.body_pixels == 0 and (got.parts.numpy() == BACKGROUND).all()
    assert (got.proposals.confidence == 0).all() and np.isnan(got.proposals.world).all()


@pytest.mark.parametrize("count", [0, 1, 2, 15, 16, 17, 199, 200, 201, 4321])
def test_linspace_index_is_numpys(count: int) -> None:
    steps = torch.arange(16, dtype=torch.float64)
    got = _linspace_index(steps, torch.tensor([count]))[0].numpy()
    np.testing.assert_array_equal(got, np.linspace(0, max(0, count - 1), 16).astype(np.intp))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_pipeline_matches_cpu(model: BodyPartModel, frames: list[Frame]) -> None:
    """On a GPU: captured once, replayed for every frame, the same answers as on the CPU."""
    cpu = TorchBodyPipeline(model, camera=frames[0].camera)
    cuda = TorchBodyPipeline(model, "cuda", camera=frames[0].camera)
    for frame in [*frames, frames[0]]:  # the third frame replays the first one's graph
        mask = frame.parts != BACKGROUND
        a, b = cpu(frame.depth, mask), cuda(frame.depth, mask)
        assert cuda.use_graph, cuda.graph_error
        assert (a.parts.numpy() == b.parts.cpu().numpy()).mean() >= 0.999
        found = a.proposals.confidence > 0
        np.testing.assert_array_equal(b.proposals.confidence > 0, found)
        np.testing.assert_allclose(b.proposals.world[found], a.proposals.world[found], atol=1e-3)
