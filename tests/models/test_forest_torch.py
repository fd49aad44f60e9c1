"""The torch forest equals the numpy forest exactly on CPU torch: same leaves, same probabilities."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from segstudio.depth.body import render_frame  # noqa: E402
from segstudio.depth.features import depth_in_metres  # noqa: E402
from segstudio.depth.model import BodyPartModel  # noqa: E402
from segstudio.depth.parts import BACKGROUND  # noqa: E402
from segstudio.depth.training import TrainingParams, train_body_parts  # noqa: E402
from segstudio.models.forest_torch import TorchBodyParts  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model() -> BodyPartModel:
    return train_body_parts(
        TrainingParams(
            frames=4,
            pixels_per_frame=200,
            features=80,
            candidate_features=None,
            min_samples_leaf=1,
            trees=3,
            depth=14,
        )
    )


def test_torch_forest_equals_numpy_exactly(model: BodyPartModel) -> None:
    """Body, room and image borders (probes off the image and into holes) of a frame."""
    frame = render_frame(1_000_002)
    valid = frame.depth > 0
    chosen = np.zeros_like(valid)
    chosen.flat[::11] = True  # a spread of the whole image ...
    chosen[[0, -1], :] = chosen[:, [0, -1]] = True  # ... its borders ...
    chosen[frame.parts != BACKGROUND] = True  # ... and the whole body
    pixels = np.argwhere(chosen & valid)
    expected = model.predict_pixels(frame.depth, pixels)
    on_torch = TorchBodyParts(model, "cpu")
    got = on_torch.predict_pixels(frame.depth, pixels)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected)
    reader = model.bank.pair_reader(depth_in_metres(frame.depth), pixels)
    leaves = model.forest._leaf_rows(len(pixels), reader)  # the numpy descent itself
    np.testing.assert_array_equal(on_torch.leaf_rows(frame.depth, pixels).numpy(), leaves)


def test_torch_forest_takes_tensors_and_refuses_background_pixels(model: BodyPartModel) -> None:
    frame = render_frame(1_000_003)
    pixels = np.argwhere(frame.depth > 0)[::97]
    on_torch = TorchBodyParts(model)
    from_tensors = on_torch.predict_pixels(
        torch.as_tensor(frame.depth.astype(np.int32)), torch.as_tensor(pixels)
    )
    np.testing.assert_array_equal(from_tensors.numpy(), model.predict_pixels(frame.depth, pixels))
    hole = np.argwhere(frame.depth == 0)[:1]
    with pytest.raises(ValueError, match="foreground"):
        on_torch.predict_pixels(frame.depth, hole)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_forest_reaches_numpys_leaves(model: BodyPartModel) -> None:
    """The Triton walk (or, without Triton, the torch loop) on a GPU: the same float32 arithmetic."""
    frame = render_frame(1_000_002)
    pixels = np.argwhere(frame.depth > 0)[::3]
    reader = model.bank.pair_reader(depth_in_metres(frame.depth), pixels)
    on_cuda = TorchBodyParts(model, "cuda")
    got = on_cuda.leaf_rows(frame.depth, pixels).cpu().numpy()
    assert on_cuda.triton_error is None
    np.testing.assert_array_equal(got, model.forest._leaf_rows(len(pixels), reader))
