"""torchvision models: random weights without downloads, recorded URLs and classes, loadable layouts."""

from __future__ import annotations

import pytest
import torch
import torch.hub

from segstudio.models.torchvision_zoo import TORCHVISION_MODELS, build_torchvision

PUBLISHED = {
    "fcn_resnet50": "https://download.pytorch.org/models/fcn_resnet50_coco-1167a1af.pth",
    "fcn_resnet101": "https://download.pytorch.org/models/fcn_resnet101_coco-7ecb50ca.pth",
    "deeplabv3_resnet50": "https://download.pytorch.org/models/deeplabv3_resnet50_coco-cd0a2569.pth",
    "deeplabv3_resnet101": "https://download.pytorch.org/models/deeplabv3_resnet101_coco-586e9e4e.pth",
    "deeplabv3_mobilenet_v3_large": "https://download.pytorch.org/models/deeplabv3_mobilenet_v3_large-fc3c493d.pth",
    "lraspp_mobilenet_v3_large": "https://download.pytorch.org/models/lraspp_mobilenet_v3_large-d234d4ea.pth",
    "maskrcnn_resnet50_fpn": "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
    "maskrcnn_resnet50_fpn_v2": "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
}


def test_published_urls_and_class_lists() -> None:
    assert {name: entry.url for name, entry in TORCHVISION_MODELS.items()} == PUBLISHED
    for entry in TORCHVISION_MODELS.values():
        if entry.task == "semantic":
            assert len(entry.categories) == 21 and entry.categories[15] == "person"
        else:
            assert len(entry.categories) == 91 and entry.categories[1] == "person"
            assert entry.categories[90] == "toothbrush" and entry.categories[12] == "N/A"


@pytest.mark.parametrize("name", list(TORCHVISION_MODELS))
def test_building_never_downloads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"tried to download {args}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    with torch.device("meta"):  # the layout only: no memory, no initialisation
        build_torchvision(name, num_classes=len(TORCHVISION_MODELS[name].categories))


@pytest.mark.parametrize(
    ("name", "aux"),
    [("fcn_resnet101", True), ("deeplabv3_mobilenet_v3_large", True), ("lraspp_mobilenet_v3_large", False)],
)
def test_layouts_match_the_published_state_dicts(name: str, aux: bool) -> None:
    """Published FCN/DeepLab files carry the auxiliary head; the model must have it to load them."""
    with torch.device("meta"):
        keys = build_torchvision(name, num_classes=21).state_dict().keys()
    assert any(key.startswith("aux_classifier.") for key in keys) == aux


def test_number_of_classes_sets_the_classifier() -> None:
    with torch.device("meta"):
        model = build_torchvision("deeplabv3_resnet50", num_classes=4)
        detector = build_torchvision("maskrcnn_resnet50_fpn", num_classes=3)
    assert model.classifier[-1].out_channels == 4 and model.aux_classifier[-1].out_channels == 4
    assert detector.roi_heads.box_predictor.cls_score.out_features == 3
    assert detector.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3
