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


def test_torch_errors_become_one_short_line_without_unsafe_advice(tmp_path: Path, spec, capsys) -> None:
    """torch's multi-line messages (one even suggests ``weights_only=False``) reach the user as one
    line saying what was refused, through the real command line."""
    import torch

    from segstudio.cli import main

    holds_code = tmp_path / "optimizer.pt"
    torch.save({"opt": torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)}, holds_code)
    with pytest.raises(WeightsError) as refused:
        load_checkpoint(holds_code)
    message = str(refused.value)
    assert "\n" not in message and "weights_only" not in message and len(message) < 400
    assert "torch.optim.sgd.SGD" in message and "optimizer.pt" in message

    misfit = tmp_path / "misfit.pt"
    state = spec.build().state_dict()
    first = next(iter(state))
    state[first] = torch.zeros(3, 1, 1, 1)
    torch.save(state, misfit)
    with pytest.raises(WeightsError, match=f"misfit.pt: does not fit the model .*{first}") as misfit_error:
        registry.loaded_model(spec, misfit)
    assert "\n" not in str(misfit_error.value)

    image = Path(__file__).parents[1] / "data" / "coco-panoptic-sample" / "000000439180.jpg"
    code = main(
        [
            "predict",
            str(image),
            "--model",
            "fcn8s",
            "--weights",
            str(holds_code),
            "--out",
            str(tmp_path / "o.png"),
        ]
    )
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "optimizer.pt" in err and "weights_only" not in err
