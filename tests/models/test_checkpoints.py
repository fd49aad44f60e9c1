"""Checkpoints of fine-tuned models: atomic, with their metadata; loading checks the file first."""

from __future__ import annotations

from pathlib import Path

import pytest

from segstudio.core.palette import builtin_palette
from segstudio.models import registry
from segstudio.models.service import ModelService, project_class_ids
from segstudio.models.weights import WeightsError, WeightsMissing, load_checkpoint


@pytest.fixture
def spec() -> registry.ModelSpec:
    return registry.get_spec("unet-small").fine_tuned("ckpt-test", ["background", "disc", "square"])


def test_save_checkpoint_keeps_metadata_and_leaves_no_temporary_file(tmp_path: Path, spec) -> None:
    path = registry.save_checkpoint(
        tmp_path / "ckpt-test.pt", spec.build(), spec, class_ids=[0, 5, 9], training={"epochs": 3}
    )
    data = load_checkpoint(path)
    assert data["architecture"] == "unet-small" and data["class_ids"] == [0, 5, 9]
    assert data["training"] == {"epochs": 3} and data["palette"] is None and len(data["mean"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-test.pt"]


def test_loaded_model_takes_class_ids_output_and_num_things(tmp_path: Path, spec) -> None:
    path = registry.save_checkpoint(tmp_path / "ckpt-test.pt", spec.build(), spec, class_ids=[0, 5, 9])
    stored = registry.loaded_model(spec, path)
    assert stored.class_ids == (0, 5, 9) and stored.output == "logits" and stored.num_things == 0
    assert registry.loaded_model(spec, path, class_ids=[1, 2, 3]).class_ids == (1, 2, 3)


def test_a_missing_or_broken_weights_file_is_named_before_building(tmp_path: Path, spec, monkeypatch) -> None:
    built: list[int] = []
    monkeypatch.setattr(registry.ModelSpec, "build", lambda self, n=None: built.append(1))
    with pytest.raises(WeightsMissing, match="nothere.pt"):
        registry.loaded_model(spec, tmp_path / "nothere.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"junk")
    with pytest.raises(WeightsError, match="broken.pt"):
        registry.loaded_model(spec, broken)
    assert built == []


def test_service_maps_model_classes_onto_the_palette_by_name(spec) -> None:
    voc, coco = builtin_palette("voc"), builtin_palette("coco-panoptic")
    unet = registry.get_spec("unet-small")
    assert project_class_ids(unet, voc) == list(range(21))
    on_coco = project_class_ids(unet, coco)  # VOC names onto COCO categories, through the aliases
    assert on_coco[8] == coco.by_name("cat").id and on_coco[18] == coco.by_name("couch").id
    with pytest.raises(ValueError, match="no class of the palette 'cityscapes'"):
        project_class_ids(spec, builtin_palette("cityscapes"))  # background/disc/square: none there


def test_service_lists_project_checkpoints_and_names_bad_ones(tmp_path: Path, spec) -> None:
    models = tmp_path / "models"
    models.mkdir()
    registry.save_checkpoint(models / "ckpt-test.pt", spec.build(), spec, class_ids=[0, 1, 2])
    (models / "junk.pt").write_bytes(b"junk")
    try:
        listing = ModelService("cpu").list_models(tmp_path)
        names = [m.name for m in listing.models]
        assert "ckpt-test" in names and len(listing.problems) == 1 and "junk.pt" in listing.problems[0]
        info = listing.models[names.index("ckpt-test")]
        assert info.base == "unet-small" and info.weights_present and not info.trainable
    finally:
        registry.unregister("ckpt-test")
