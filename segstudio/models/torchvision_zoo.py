"""torchvision's segmentation and instance models with published weights, under their builder names.

Every model is built with ``weights=None`` and ``weights_backbone=None``: random weights,
nothing downloaded. Published weights are loaded afterwards by ``segstudio.models.weights``
from the URL recorded here (``ZooEntry.weights``, a torchvision ``Weights`` member: its ``url``
and its ``meta["categories"]``, the class list the weights predict). To make those state dicts
load strictly, the builder sets the same architecture options torchvision sets when it loads
them itself (the auxiliary FCN head of the FCN and DeepLab v3 models).

Class lists: the semantic models predict the 21 PASCAL VOC classes (index 0 "__background__");
Mask R-CNN predicts torchvision's 91-index COCO list (0 "__background__", gaps "N/A"), whose
index is the COCO category id. ``segstudio.models.registry.CLASS_NAME_ALIASES`` maps these names
onto a project palette.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn
from torchvision.models import WeightsEnum, detection, segmentation


@dataclass(frozen=True)
class ZooEntry:
    """One torchvision builder and the published weights it is registered with."""

    builder: Callable[..., nn.Module]
    weights: WeightsEnum
    task: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def url(self) -> str:
        return self.weights.url

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.weights.meta["categories"])


_AUX = (("aux_loss", True),)  # the published FCN / DeepLab v3 state dicts include the auxiliary head

TORCHVISION_MODELS: dict[str, ZooEntry] = {
    "fcn_resnet50": ZooEntry(
        segmentation.fcn_resnet50, segmentation.FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1, "semantic", _AUX
    ),
    "fcn_resnet101": ZooEntry(
        segmentation.fcn_resnet101,
        segmentation.FCN_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1,
        "semantic",
        _AUX,
    ),
    "deeplabv3_resnet50": ZooEntry(
        segmentation.deeplabv3_resnet50,
        segmentation.DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
        "semantic",
        _AUX,
    ),
    "deeplabv3_resnet101": ZooEntry(
        segmentation.deeplabv3_resnet101,
        segmentation.DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1,
        "semantic",
        _AUX,
    ),
    "deeplabv3_mobilenet_v3_large": ZooEntry(
        segmentation.deeplabv3_mobilenet_v3_large,
        segmentation.DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1,
        "semantic",
        _AUX,
    ),
    "lraspp_mobilenet_v3_large": ZooEntry(
        segmentation.lraspp_mobilenet_v3_large,
        segmentation.LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1,
        "semantic",
    ),
    "maskrcnn_resnet50_fpn": ZooEntry(
        detection.maskrcnn_resnet50_fpn, detection.MaskRCNN_ResNet50_FPN_Weights.COCO_V1, "instance"
    ),
    "maskrcnn_resnet50_fpn_v2": ZooEntry(
        detection.maskrcnn_resnet50_fpn_v2, detection.MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1, "instance"
    ),
}
"""Builder name -> entry; the registry registers each under the same name."""


def build_torchvision(name: str, num_classes: int) -> nn.Module:
    """torchvision's ``name`` with random weights and ``num_classes`` outputs (published: 21 or 91)."""
    entry = TORCHVISION_MODELS[name]
    return entry.builder(weights=None, weights_backbone=None, num_classes=num_classes, **dict(entry.options))
