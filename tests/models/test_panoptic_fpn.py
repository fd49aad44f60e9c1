"""Panoptic FPN: the semantic head's shapes, the model's outputs and losses, and the merge rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from segstudio.core.labels import VOID
from segstudio.models.panoptic_fpn import (
    MergeSettings,
    PanopticFPN,
    SemanticFPNHead,
    merge_panoptic,
    panoptic_maps,
)

# -- the semantic head ---------------------------------------------------------------------------


def test_semantic_head_brings_every_level_to_a_quarter_then_to_the_image() -> None:
    head = SemanticFPNHead(num_classes=6, in_channels=32, channels=32)
    features = [torch.randn(2, 32, 64 // s, 96 // s) for s in (4, 8, 16, 32)]
    seen: list[tuple[int, ...]] = []
    for scale_head in head.scale_heads:
        scale_head.register_forward_hook(lambda _m, _a, out: seen.append(tuple(out.shape)))
    assert head(features).shape == (2, 6, 64, 96)
    assert seen == [(2, 32, 16, 24)] * 4


def test_semantic_head_stages_are_conv_groupnorm_relu_upsample() -> None:
    head = SemanticFPNHead(num_classes=3, in_channels=32, channels=32)
    convs = [sum(isinstance(m, nn.Conv2d) for m in h.modules()) for h in head.scale_heads]
    upsamples = [sum(isinstance(m, nn.Upsample) for m in h.modules()) for h in head.scale_heads]
    assert convs == [1, 1, 2, 3] and upsamples == [0, 1, 2, 3]
    assert all(
        isinstance(m, nn.GroupNorm)
        for h in head.scale_heads
        for m in h.modules()
        if "Norm" in type(m).__name__
    )


# -- the model -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model() -> PanopticFPN:
    torch.manual_seed(0)
    model = PanopticFPN(num_classes=6, num_things=2, min_size=64, max_size=96)
    model.detector.roi_heads.detections_per_img = 5
    return model


def test_eval_outputs_detections_and_semantic_logits_at_image_size(tiny_model: PanopticFPN) -> None:
    tiny_model.eval()
    with torch.inference_mode():
        outputs = tiny_model([torch.rand(3, 64, 80), torch.rand(3, 48, 40)])
    for output, (height, width) in zip(outputs, [(64, 80), (48, 40)], strict=True):
        assert {"boxes", "labels", "scores", "masks", "sem_seg"} <= set(output)
        assert output["sem_seg"].shape == (6 - 2, height, width)  # 3 stuff + "other"
        assert output["masks"].shape[1:] == (1, height, width)
        assert ((output["labels"] >= 1) & (output["labels"] <= 2)).all()
        category, instance = panoptic_maps(output, num_things=2, settings=MergeSettings(stuff_area_limit=1))
        assert category.shape == instance.shape == (height, width)
        assert set(np.unique(category)) <= {1, 2, 3, 4, 5, VOID}


def test_training_adds_the_semantic_loss(tiny_model: PanopticFPN) -> None:
    tiny_model.train()
    masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
    masks[0, 8:40, 8:40] = 1
    sem_seg = torch.full((64, 64), 4)
    sem_seg[8:40, 8:40] = 1
    sem_seg[0, :] = VOID  # ignored
    target = {"boxes": torch.tensor([[8.0, 8.0, 40.0, 40.0]]), "labels": torch.tensor([1]), "masks": masks}
    losses = tiny_model([torch.rand(3, 64, 64)], [{**target, "sem_seg": sem_seg}])
    assert {"loss_sem_seg", "loss_mask", "loss_classifier", "loss_objectness"} <= set(losses)
    assert all(torch.isfinite(loss) for loss in losses.values())
    losses["loss_sem_seg"].backward()
    assert tiny_model.semantic_head.predictor.weight.grad.abs().sum() > 0


def test_semantic_channels_of_class_indices(tiny_model: PanopticFPN) -> None:
    classes = torch.tensor([0, 1, 2, 3, 4, 5, 6, -1, VOID])
    assert tiny_model.semantic_channels(classes).tolist() == [0, 0, 0, 1, 2, 3, -1, -1, -1]


def test_class_counts_are_checked() -> None:
    with pytest.raises(ValueError, match="num_things"):
        PanopticFPN(num_classes=3, num_things=3)


# -- merging ---------------------------------------------------------------------------------------

STUFF_A, STUFF_B, THING = 7, 8, 3
SMALL = MergeSettings(stuff_area_limit=4)


def _box_mask(top: int, left: int, bottom: int, right: int, size: int = 8) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    mask[top:bottom, left:right] = 0.9
    return mask


def _merge(
    masks: list[np.ndarray], scores: list[float], semantic: np.ndarray, settings: MergeSettings = SMALL
):
    categories = np.full(len(masks), THING)
    stacked = np.stack(masks) if masks else np.zeros((0, *semantic.shape), np.float32)
    return merge_panoptic(stacked, np.array(scores), categories, semantic, settings)


def test_types_and_void_where_nothing_claims_a_pixel() -> None:
    category, instance = _merge([], [], np.full((8, 8), VOID))
    assert category.dtype == np.uint16 and instance.dtype == np.uint32
    assert (category == VOID).all() and (instance == 0).all()


def test_instances_below_the_score_threshold_are_dropped() -> None:
    semantic = np.full((8, 8), VOID)
    masks = [_box_mask(0, 0, 4, 4), _box_mask(4, 4, 8, 8)]
    category, instance = _merge(masks, [0.49, 0.5], semantic)
    assert (instance[:4, :4] == 0).all() and (category[:4, :4] == VOID).all()
    assert (instance[4:, 4:] == 1).all() and (category[4:, 4:] == THING).all()
    category, _ = _merge(masks, [0.49, 0.5], semantic, MergeSettings(score_threshold=0.4, stuff_area_limit=4))
    assert (category[:4, :4] == THING).all()


def test_higher_score_wins_and_instance_ids_follow_score_order() -> None:
    masks = [_box_mask(0, 0, 4, 8), _box_mask(2, 0, 8, 8)]  # overlap rows 2-3: 16 of 48 pixels
    category, instance = _merge(masks, [0.6, 0.9], np.full((8, 8), VOID))
    assert (instance[2:, :] == 1).all()  # the 0.9 instance, whole
    assert (instance[:2, :] == 2).all()  # the 0.6 one keeps only its free pixels
    assert (category != VOID).all()


def test_an_instance_mostly_covered_by_better_ones_is_dropped() -> None:
    void = np.full((8, 8), VOID)
    top_left, top_half = _box_mask(0, 0, 4, 4), _box_mask(0, 0, 4, 8)
    _, instance = _merge([top_left, top_half], [0.9, 0.8], void)  # 16 of 32 taken: exactly 0.5, kept
    assert (instance[:4, 4:] == 2).all()
    _, instance = _merge([top_half, _box_mask(0, 0, 5, 8)], [0.9, 0.8], void)  # 32 of 40 taken: dropped
    assert set(np.unique(instance)) == {0, 1} and (instance[4, :] == 0).all()
    left, right = _box_mask(0, 0, 8, 4), _box_mask(0, 4, 8, 8)
    everything = MergeSettings(overlap_threshold=1.0, stuff_area_limit=4)
    _, instance = _merge([left, top_left, right], [0.9, 0.8, 0.7], void, everything)
    assert (instance[:, 4:] == 2).all()  # top_left is allowed but has nothing left: no id used


def test_stuff_fills_free_pixels_only_when_large_enough() -> None:
    semantic = np.full((8, 8), STUFF_A)
    semantic[6:, :] = STUFF_B  # 16 pixels of B; the instance below takes 12 of them
    semantic[0, 0] = VOID
    masks = [_box_mask(5, 0, 8, 8)]
    category, instance = _merge(masks, [0.9], semantic, MergeSettings(stuff_area_limit=5))
    assert (category[5:, :] == THING).all() and (instance[5:, :] == 1).all()
    assert (category[6:, :] != STUFF_B).all()  # B has 0 free pixels left
    assert category[0, 0] == VOID
    assert (category[1:5, :] == STUFF_A).all() and (instance[:5, :] == 0).all()
    category, _ = _merge([], [], semantic, MergeSettings(stuff_area_limit=17))
    assert (category[6:, :] == VOID).all() and (category[1:6, :] == STUFF_A).all()
    category, _ = _merge([], [], semantic, MergeSettings(stuff_area_limit=16))  # exactly the limit: kept
    assert (category[6:, :] == STUFF_B).all()


def test_default_settings_are_the_papers() -> None:
    settings = MergeSettings()
    assert (settings.score_threshold, settings.overlap_threshold, settings.stuff_area_limit) == (
        0.5,
        0.5,
        4096,
    )


def test_boolean_masks_are_not_modified() -> None:
    masks = np.zeros((2, 8, 8), bool)
    masks[:, :4, :] = True
    masks[1, :, :2] = True
    before = masks.copy()
    merge_panoptic(masks, np.array([0.9, 0.8]), np.array([1, 2]), np.full((8, 8), VOID), SMALL)
    assert (masks == before).all()


def test_panoptic_maps_from_a_hand_made_output() -> None:
    sem_seg = torch.zeros(3, 8, 8)  # channels: other, stuff 1, stuff 2 -> classes 0, 3, 4 (2 things)
    sem_seg[1, :, :4] = 5.0
    sem_seg[2, :, 4:] = 5.0
    output = {
        "masks": torch.from_numpy(_box_mask(0, 0, 4, 4))[None, None],
        "scores": torch.tensor([0.9]),
        "labels": torch.tensor([2]),
        "sem_seg": sem_seg,
    }
    category, instance = panoptic_maps(output, num_things=2, settings=SMALL)
    assert (category[:4, :4] == 2).all() and (instance[:4, :4] == 1).all()
    assert (category[4:, :4] == 3).all() and (category[:, 4:] == 4).all()
