"""Panoptic FPN (Kirillov, Girshick, He & Dollar, "Panoptic Feature Pyramid Networks", CVPR 2019).

Mask R-CNN (He et al., ICCV 2017) finds *things*: a ResNet + FPN backbone, a region proposal
network, then per proposal a box/class head and a small FCN mask head. Both heads read their
region with **RoIAlign**: features are sampled bilinearly at exact, unrounded positions inside
the box (RoIPool rounded box edges and bins to the feature grid, misaligning masks by up to
half a stride). torchvision's ``maskrcnn_resnet50_fpn`` is that model; it is used here as is.

Panoptic FPN adds *stuff* with one light branch on the same FPN features: every level P2..P5
(strides 4..32) is brought to 1/4 scale by repeated {3x3 conv, GroupNorm, ReLU, 2x bilinear
upsampling} stages (P2: one conv, no upsampling; P5: three stages), the four maps are summed,
and a 1x1 conv predicts the stuff classes plus one "other" class for all thing pixels, upsampled
4x to the image. Training adds its cross-entropy (weight 0.5) to Mask R-CNN's losses.

Merging (``merge_panoptic``, the paper's heuristic, pure numpy): instances sorted by score,
dropped below ``score_threshold``; each pastes its mask on the free pixels unless more than
``overlap_threshold`` of it is already taken; then each stuff class takes its still-free pixels
if they cover at least ``stuff_area_limit``; the rest is VOID.

Class layout (one index space for both heads, as ``ModelSpec.class_names``): 0 is background,
1..T are the T thing classes (Mask R-CNN labels), T+1..T+S the S stuff classes (semantic
channel c >= 1 is class T + c; channel 0 is "other").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from segstudio.core.labels import CATEGORY_DTYPE, INSTANCE_DTYPE, VOID
from segstudio.models.backbones import conv_norm_relu

FPN_LEVELS: tuple[str, ...] = ("0", "1", "2", "3")
"""torchvision's FPN output names for P2..P5 (strides 4, 8, 16, 32); "pool" (P6) is detection-only."""


@dataclass(frozen=True)
class MergeSettings:
    """Panoptic merge rules (the paper's values by default)."""

    score_threshold: float = 0.5
    overlap_threshold: float = 0.5
    stuff_area_limit: int = 4096
    mask_threshold: float = 0.5


def merge_panoptic(
    masks: np.ndarray,
    scores: np.ndarray,
    categories: np.ndarray,
    semantic: np.ndarray,
    settings: MergeSettings = MergeSettings(),
) -> tuple[np.ndarray, np.ndarray]:
    """Things over stuff, no overlaps: returns ``(category uint16, instance uint32)`` maps.

    ``masks`` (K, H, W) are instance mask probabilities (or booleans) with their ``scores`` and
    ``categories`` (K,); ``semantic`` (H, W) is the per-pixel stuff category, VOID where the
    semantic branch predicts no stuff. Kept instances get ids 1, 2, ... in score order; stuff has
    instance 0; unclaimed pixels are VOID.
    """
    masks, semantic = np.asarray(masks), np.asarray(semantic)
    scores, categories = np.asarray(scores, np.float64), np.asarray(categories)
    category = np.full(semantic.shape, VOID, CATEGORY_DTYPE)
    instance = np.zeros(semantic.shape, INSTANCE_DTYPE)
    taken = np.zeros(semantic.shape, bool)
    next_id = 1
    for k in np.argsort(-scores, kind="stable"):
        if scores[k] < settings.score_threshold:
            break
        mask = masks[k] >= settings.mask_threshold if masks.dtype != bool else masks[k]
        area = int(mask.sum())
        if area == 0 or (mask & taken).sum() / area > settings.overlap_threshold:
            continue
        mask = mask & ~taken
        if not mask.any():  # possible only with overlap_threshold >= 1: nothing left to paint
            continue
        category[mask], instance[mask] = int(categories[k]), next_id
        taken |= mask
        next_id += 1
    for stuff in np.unique(semantic[~taken]):
        region = (semantic == stuff) & ~taken
        if stuff != VOID and region.sum() >= settings.stuff_area_limit:
            category[region] = stuff
    return category, instance


def panoptic_maps(
    output: Mapping[str, torch.Tensor], num_things: int, settings: MergeSettings = MergeSettings()
) -> tuple[np.ndarray, np.ndarray]:
    """One image's ``PanopticFPN`` output -> category/instance maps in the model's class indices."""
    channel = output["sem_seg"].argmax(dim=0).cpu().numpy()
    semantic = np.where(channel > 0, channel + num_things, VOID)
    return merge_panoptic(
        output["masks"][:, 0].detach().cpu().numpy(),
        output["scores"].detach().cpu().numpy(),
        output["labels"].cpu().numpy(),
        semantic,
        settings,
    )


class SemanticFPNHead(nn.Module):
    """Panoptic FPN's semantic branch: every FPN level to 1/4 scale, summed, 1x1 classifier, 4x up."""

    def __init__(
        self, num_classes: int, in_channels: int = 256, channels: int = 128, levels: int = 4
    ) -> None:
        super().__init__()
        self.scale_heads = nn.ModuleList()
        for level in range(levels):  # level 0 is P2 (stride 4): one conv, no upsampling
            stages: list[nn.Module] = []
            for k in range(max(1, level)):
                stages.append(conv_norm_relu(in_channels if k == 0 else channels, channels, norm="group"))
                if level > 0:
                    stages.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            self.scale_heads.append(nn.Sequential(*stages))
        self.predictor = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """``features`` P2..P5 of a batch padded to a multiple of 32 -> logits at the padded size."""
        summed = sum(head(x) for head, x in zip(self.scale_heads, features, strict=True))
        logits = self.predictor(summed)
        return F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)


class PanopticFPN(nn.Module):
    """Mask R-CNN (ResNet-50 FPN, random init) plus the semantic FPN branch.

    ``num_classes`` counts background, ``num_things`` thing and the remaining stuff classes.
    ``forward(images)`` takes a list of (3, H, W) float images in [0, 1] (normalised inside).
    Eval: one dict per image with Mask R-CNN's ``boxes``, ``labels``, ``scores``, ``masks``
    (K, 1, H, W) and ``sem_seg`` (S + 1, H, W) logits. Training: ``forward(images, targets)``
    returns the loss dict; each target has Mask R-CNN's ``boxes``/``labels``/``masks`` and
    ``sem_seg`` (H, W) class indices (values outside 0..num_classes-1 are ignored).
    """

    def __init__(
        self,
        num_classes: int,
        num_things: int,
        min_size: int = 800,
        max_size: int = 1333,
        semantic_loss_weight: float = 0.5,
    ) -> None:
        super().__init__()
        if not 0 < num_things < num_classes:
            raise ValueError(f"need 0 < num_things < num_classes, got {num_things} of {num_classes}")
        self.num_classes, self.num_things = num_classes, num_things
        self.semantic_loss_weight = semantic_loss_weight
        self.detector = torchvision.models.detection.maskrcnn_resnet50_fpn(
            weights=None,
            weights_backbone=None,
            num_classes=num_things + 1,
            min_size=min_size,
            max_size=max_size,
        )
        self.semantic_head = SemanticFPNHead(num_classes - num_things)  # S stuff + "other"

    def semantic_channels(self, classes: torch.Tensor) -> torch.Tensor:
        """Class indices -> semantic-branch channels: stuff T+c -> c, things/background -> 0, else -1."""
        channels = torch.where(classes > self.num_things, classes - self.num_things, 0)
        return torch.where((classes < 0) | (classes >= self.num_classes), -1, channels)

    def forward(
        self, images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]] | None = None
    ) -> list[dict[str, torch.Tensor]] | dict[str, torch.Tensor]:
        original_sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
        batch, targets = self.detector.transform(list(images), None if targets is None else list(targets))
        features = self.detector.backbone(batch.tensors)
        proposals, proposal_losses = self.detector.rpn(batch, features, targets)
        detections, detector_losses = self.detector.roi_heads(features, proposals, batch.image_sizes, targets)
        semantic = self.semantic_head([features[level] for level in FPN_LEVELS])
        if self.training:
            loss = self._semantic_loss(semantic, targets, batch.image_sizes)
            return {**proposal_losses, **detector_losses, "loss_sem_seg": self.semantic_loss_weight * loss}
        detections = self.detector.transform.postprocess(detections, batch.image_sizes, original_sizes)
        for i, (detection, (height, width)) in enumerate(zip(detections, batch.image_sizes, strict=True)):
            logits = semantic[i : i + 1, :, :height, :width]
            detection["sem_seg"] = F.interpolate(
                logits, size=original_sizes[i], mode="bilinear", align_corners=False
            )[0]
        return detections

    def _semantic_loss(
        self, logits: torch.Tensor, targets: Sequence[dict[str, torch.Tensor]], sizes: list[tuple[int, int]]
    ) -> torch.Tensor:
        """Cross-entropy against ``sem_seg`` resized (nearest) like the image was."""
        losses = []
        for i, (target, (height, width)) in enumerate(zip(targets, sizes, strict=True)):
            classes = target["sem_seg"].to(torch.float32)[None, None]
            classes = F.interpolate(classes, size=(height, width), mode="nearest")[0].long()
            labels = self.semantic_channels(classes)
            losses.append(F.cross_entropy(logits[i : i + 1, :, :height, :width], labels, ignore_index=-1))
        return torch.stack(losses).mean()
