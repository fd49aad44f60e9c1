"""The registry: every model builds and runs on CPU, lookups, class mapping and checkpoints."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from segstudio.core.labels import VOID
from segstudio.core.palette import builtin_palette
from segstudio.models import registry
from segstudio.models.registry import ModelSpec, UnknownModelError, WeightSource

REQUIRED = (
    "fcn32s", "fcn16s", "fcn8s", "unet", "deeplabv3", "deeplabv3plus", "maskrcnn", "panoptic_fpn",
    "fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
)  # fmt: skip


def _shrink_detector(model: nn.Module) -> nn.Module:
    """Keep Mask R-CNN-style models quick on a CPU: small resize, few proposals and detections."""
    detector = getattr(model, "detector", model)
    detector.transform.min_size, detector.transform.max_size = (64,), 64
    detector.rpn._post_nms_top_n["testing"] = 50
    detector.roi_heads.detections_per_img = 5
    return model


def test_every_required_model_is_registered() -> None:
    names = [spec.name for spec in registry.list_specs()]
    assert set(REQUIRED) <= set(names)
    assert tuple(names[: len(registry.BUILTIN_MODELS)]) == registry.BUILTIN_MODELS


@pytest.mark.parametrize(
    "name", [n for n in registry.BUILTIN_MODELS if registry.get_spec(n).task != "promptable"]
)  # SAM (promptable) is built and prompted in test_sam.py
def test_every_model_runs_on_cpu_with_random_weights(name: str) -> None:
    torch.manual_seed(0)
    spec = registry.get_spec(name)
    model = spec.build().eval()
    images = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        if spec.output in ("logits", "dict"):
            logits = registry.predict_logits(model, spec.normalize(images))
            assert logits.shape == (1, len(spec.class_names), 64, 64)
            return
        outputs = _shrink_detector(model)(list(spec.normalize(images)))
    assert isinstance(outputs, list) and len(outputs) == 1
    for output in outputs:
        assert {"boxes", "labels", "scores", "masks"} <= set(output)
        assert output["masks"].shape[1:] == (1, 64, 64)
        assert all(0 < label < len(spec.class_names) for label in output["labels"].tolist())
        if spec.output == "panoptic":
            assert output["sem_seg"].shape == (len(spec.class_names) - spec.num_things, 64, 64)


@pytest.mark.parametrize("name", ["unet", "fcn8s", "lraspp_mobilenet_v3_large"])
def test_build_with_another_number_of_classes(name: str) -> None:
    model = registry.get_spec(name).build(num_classes=3).eval()
    with torch.inference_mode():
        assert registry.predict_logits(model, torch.rand(1, 3, 64, 64)).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="num_classes"):
        registry.get_spec(name).build(num_classes=0)


def test_predict_logits_resizes_and_refuses_detections() -> None:
    coarse = nn.Conv2d(3, 4, 1, stride=4)
    assert registry.predict_logits(coarse, torch.rand(1, 3, 32, 48)).shape == (1, 4, 32, 48)
    with pytest.raises(TypeError, match="semantic logits"):
        registry.predict_logits(nn.Flatten(), torch.rand(1, 3, 8, 8))


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'segformer'.*fcn8s.*panoptic_fpn"):
        registry.get_spec("segformer")
    assert issubclass(UnknownModelError, ValueError)


def test_normalize_uses_the_spec_statistics() -> None:
    spec = registry.get_spec("fcn8s")
    pixel = torch.tensor(spec.mean).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(spec.normalize(pixel), torch.zeros(1, 3, 2, 2), atol=1e-6)
    images = torch.rand(1, 3, 4, 4)
    assert torch.equal(registry.get_spec("maskrcnn").normalize(images), images)  # normalised inside


def test_specs_describe_classes_palettes_and_weights() -> None:
    voc = registry.get_spec("deeplabv3_resnet50")
    assert len(voc.class_names) == 21 and voc.class_names[0] == "__background__" and voc.palette == "voc"
    assert voc.weights[0].url.startswith("https://download.pytorch.org/models/deeplabv3_resnet50")
    coco = registry.get_spec("maskrcnn")
    assert len(coco.class_names) == 91 and coco.class_names[1] == "person" and coco.task == "instance"
    assert coco.weights == registry.get_spec("maskrcnn_resnet50_fpn").weights
    panoptic = registry.get_spec("panoptic_fpn")
    assert (panoptic.num_things, len(panoptic.class_names)) == (80, 1 + 133)
    assert registry.get_spec("unet").weights == ()


@pytest.fixture()
def cleanup() -> Iterator[list[str]]:
    """Names registered by a test, unregistered afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        if name in {spec.name for spec in registry.list_specs()}:
            registry.unregister(name)


def test_register_refuses_duplicates_and_never_replaces_builtins(cleanup: list[str]) -> None:
    spec = dataclasses.replace(registry.get_spec("unet"), name="my-unet")
    cleanup.append(registry.register(spec).name)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(spec)
    assert registry.register(spec, replace=True) is spec
    with pytest.raises(ValueError, match="already registered"):
        registry.register(dataclasses.replace(spec, name="unet"), replace=True)


# -- class names onto palettes ---------------------------------------------------------------------


def test_voc_names_map_onto_coco_panoptic_through_the_aliases() -> None:
    spec = registry.get_spec("fcn_resnet50")
    coco = builtin_palette("coco-panoptic")
    lut = registry.palette_lut(spec.class_names, coco)
    mapped = {name: int(lut[i]) for i, name in enumerate(spec.class_names)}
    expected = {
        "aeroplane": "airplane", "diningtable": "dining table", "motorbike": "motorcycle",
        "pottedplant": "potted plant", "sofa": "couch", "tvmonitor": "tv", "person": "person", "cat": "cat",
    }  # fmt: skip
    for voc_name, coco_name in expected.items():
        assert mapped[voc_name] == coco.by_name(coco_name).id
    assert mapped["__background__"] == VOID
    assert lut[VOID] == VOID and lut.dtype == np.uint16


def test_torchvision_voc_names_map_onto_the_voc_palette_one_to_one() -> None:
    lut = registry.palette_lut(
        registry.get_spec("deeplabv3_mobilenet_v3_large").class_names, builtin_palette("voc")
    )
    assert lut[:21].tolist() == list(range(21))


def test_coco_model_indices_are_coco_ids_and_aliases_work_backwards() -> None:
    names = registry.get_spec("maskrcnn").class_names
    lut = registry.palette_lut(names, builtin_palette("coco-panoptic"))
    assert all(
        lut[i] == (i if name not in ("N/A", "__background__") else VOID) for i, name in enumerate(names)
    )
    voc_lut = registry.palette_lut(names, builtin_palette("voc"))
    assert voc_lut[names.index("airplane")] == builtin_palette("voc").by_name("aeroplane").id
    assert voc_lut[names.index("couch")] == builtin_palette("voc").by_name("sofa").id
    custom = registry.palette_lut(["tvmonitor"], builtin_palette("coco-panoptic"), aliases={})
    assert custom[0] == VOID  # aliases are editable


# -- checkpoints -----------------------------------------------------------------------------------


def test_fine_tuned_checkpoint_round_trip(tmp_path: Path, cleanup: list[str]) -> None:
    torch.manual_seed(0)
    spec = registry.get_spec("unet").fine_tuned("shapes-unet", ["background", "disc", "square"])
    assert (spec.base, spec.weights, spec.palette) == ("unet", (), None)
    model = spec.build()
    path = registry.save_checkpoint(tmp_path / "shapes.pt", model, spec)
    registered = registry.register_checkpoint(path)
    cleanup.append(registered.name)
    assert registry.get_spec("shapes-unet") is registered
    assert registered.class_names == ("background", "disc", "square") and registered.base == "unet"
    source = registered.weights[0]
    assert (
        isinstance(source, WeightSource)
        and source.file_name == "shapes.pt"
        and len(source.sha256 or "") == 64
    )
    assert registry.local_weights(registered) == path.resolve()

    loaded = registry.loaded_model(registered)
    assert loaded.class_ids == (0, 1, 2) and loaded.source == path.resolve()
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[name], tensor), name


def test_register_checkpoint_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not a segstudio checkpoint"):
        registry.register_checkpoint(path)


def test_loaded_model_of_a_random_init_model_maps_classes_onto_its_palette() -> None:
    loaded = registry.loaded_model(registry.get_spec("fcn32s"))
    assert loaded.class_ids == tuple(range(21)) and loaded.source is None
    assert loaded.task == "semantic" and not loaded.module.training


def test_spec_is_a_plain_frozen_record() -> None:
    spec = registry.get_spec("fcn8s")
    assert isinstance(spec, ModelSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    assert set(spec.to_dict()) >= {"name", "task", "classes", "palette", "weights", "mean", "std", "output"}


def test_class_map_overrides_change_the_lut() -> None:
    spec = registry.get_spec("fcn_resnet50")
    voc = builtin_palette("voc")
    plain = registry.palette_lut(spec.class_names, voc)
    edited = registry.palette_lut(spec.class_names, voc, overrides={"sofa": "chair", "cat": None})
    sofa, cat, dog = (spec.class_names.index(n) for n in ("sofa", "cat", "dog"))
    assert plain[sofa] == voc.by_name("sofa").id and edited[sofa] == voc.by_name("chair").id
    assert plain[cat] == voc.by_name("cat").id and edited[cat] == VOID
    assert edited[dog] == plain[dog]  # the rest still match by name
    assert edited[VOID] == VOID
