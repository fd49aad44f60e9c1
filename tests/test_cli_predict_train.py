"""``segstudio predict`` and ``segstudio train`` through ``cli.main``: outputs, errors, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from segstudio import cli
from segstudio.core.palette import builtin_palette
from segstudio.io.coco_panoptic import read_coco_panoptic
from segstudio.io.images import write_png
from segstudio.io.semantic_png import read_label_values
from segstudio.models import registry
from segstudio.models.shapes_dataset import make_shapes_project


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only these two commands, a private torch hub cache, and the registry and threads restored."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("segstudio.commands.predict", "segstudio.commands.train"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    before, threads = {s.name for s in registry.list_specs()}, torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    for spec in registry.list_specs():
        if spec.name not in before:
            registry.unregister(spec.name)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for name, shape in (("a.png", (48, 64, 3)), ("b.png", (40, 40, 3))):
        paths.append(tmp_path / "photos" / name)
        write_png(paths[-1], rng.integers(0, 256, shape, dtype=np.uint8))
    return paths


@pytest.fixture
def random_unet(tmp_path: Path) -> Path:
    """A random-init state dict for the registry's ``unet`` (VOC classes), saved like published weights."""
    path = tmp_path / "unet-random.pth"
    torch.manual_seed(0)
    torch.save(registry.get_spec("unet").build().state_dict(), path)
    return path


def test_predict_writes_semantic_pngs_with_progress(
    images: list[Path], random_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "labels"
    argv = ["predict", "--model", "unet", "--weights", str(random_unet), "--out", str(out)]
    assert cli.main([*argv, *map(str, images)]) == 0
    captured = capsys.readouterr()
    assert "2/2 b.png" in captured.err and str(out) in captured.out
    voc = set(builtin_palette("voc").ids) | {255}
    for image in images:
        values = read_label_values(out / image.name)
        assert values.shape == (48, 64) if image.name == "a.png" else (40, 40)
        assert set(np.unique(values)) <= voc


def test_predict_coco_panoptic_from_a_folder(images: list[Path], random_unet: Path, tmp_path: Path) -> None:
    out = tmp_path / "coco"
    argv = ["predict", str(images[0].parent), "--model", "unet", "--weights", str(random_unet)]
    assert cli.main([*argv, "--out", str(out), "--format", "coco-panoptic"]) == 0
    dataset = read_coco_panoptic(out / "annotations" / "panoptic.json")
    assert [r.image["file_name"] for r in dataset.records] == ["a.png", "b.png"]
    assert dataset.records[0].labels.shape == (48, 64)


class ColourNet(torch.nn.Module):
    """Pointwise: the logits are the RGB channels, so a pixel's class is its dominant colour."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 10


def test_predict_makes_each_blob_of_a_thing_class_an_object(tmp_path: Path) -> None:
    names = ("cat", "background", "dog")  # red, green, blue; cat and dog are VOC things
    registry.register(
        registry.ModelSpec(
            "colour", "semantic", names, lambda n: ColourNet(), "voc", mean=(0, 0, 0), std=(1, 1, 1)
        )
    )
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 1] = 200
    rgb[5:15, 5:15] = rgb[25:35, 40:55] = (200, 0, 0)  # two cats apart on a green background
    photo = tmp_path / "photos" / "two-cats.png"
    write_png(photo, rgb)
    out = tmp_path / "coco"
    argv = ["predict", "--model", "colour", "--out", str(out), "--format", "coco-panoptic", str(photo)]
    assert cli.main(argv) == 0
    data = json.loads((out / "annotations" / "panoptic.json").read_text(encoding="utf-8"))
    cat = builtin_palette("voc").by_name("cat").id
    segments = data["annotations"][0]["segments_info"]
    assert sorted(s["area"] for s in segments if s["category_id"] == cat) == [100, 150]
    labels = read_coco_panoptic(out / "annotations" / "panoptic.json").records[0].labels
    assert labels.instance[10, 10] != labels.instance[30, 45] and labels.instance[10, 10] > 0
    assert not labels.instance[labels.category == 0].any()  # background is stuff


def test_missing_weights_name_the_file_to_place(
    images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = registry.get_spec("fcn_resnet50")
    out = tmp_path / "never"
    assert cli.main(["predict", "--model", "fcn_resnet50", "--out", str(out), str(images[0])]) != 0
    error = capsys.readouterr().err.strip()
    hub = tmp_path / "torch-home" / "hub" / "checkpoints"
    assert "\n" not in error and spec.weights[0].file_name in error and str(hub) in error
    assert "--weights" in error and not out.exists()


def test_predict_class_map_edits_the_classes(
    images: list[Path], random_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from segstudio.io.class_map import ClassMap, write_class_map

    names = registry.get_spec("unet").class_names
    class_map = tmp_path / "unet.json"
    write_class_map(class_map, ClassMap("unet", {name: "cat" for name in names}))
    out = tmp_path / "labels"
    argv = ["predict", "--model", "unet", "--weights", str(random_unet), "--out", str(out)]
    assert cli.main([*argv, "--class-map", str(class_map), str(images[0])]) == 0
    cat = builtin_palette("voc").by_name("cat").id
    assert set(np.unique(read_label_values(out / images[0].name))) == {cat}
    write_class_map(class_map, ClassMap("unet", {names[0]: "unicorn"}))
    assert cli.main([*argv, "--overwrite", "--class-map", str(class_map), str(images[0])]) != 0
    error = capsys.readouterr().err
    assert str(class_map) in error and "'unicorn'" in error
    write_class_map(class_map, ClassMap("deeplabv3_resnet50", {names[0]: "cat"}))  # another model's map
    assert cli.main([*argv, "--overwrite", "--class-map", str(class_map), str(images[0])]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and str(class_map) in error
    assert "'deeplabv3_resnet50'" in error and "'unet'" in error


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--model", "no-such-model"], 1, "unknown model 'no-such-model'"),
        (["--model", "unet", "--weights", "/nonexistent/w.pth"], 2, "weights file not found"),
        (["--model", "missing.pt"], 2, "checkpoint file not found"),
        (["--model", "unet", "--class-map", "/nonexistent/m.json"], 2, "class-map file not found"),
    ],
)
def test_predict_refuses_bad_models(
    images: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    assert cli.main(["predict", *argv, "--out", str(tmp_path / "o"), str(images[0])]) == code
    assert message in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_predict_refuses_missing_images_and_existing_output(
    images: list[Path], random_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["predict", "--model", "unet", "--weights", str(random_unet)]
    assert cli.main([*base, "--out", str(tmp_path / "o"), str(tmp_path / "nope.png")]) == 2
    assert "nope.png: no such image" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert cli.main([*base, "--out", str(tmp_path / "taken"), str(images[0])]) == 2
    assert "already exists" in capsys.readouterr().err


def test_train_then_predict_with_the_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_shapes_project(tmp_path / "shapes", n=5, seed=2)
    checkpoint = tmp_path / "models" / "shapes-unet.pt"
    argv = ["train", str(project.root), "--model", "unet", "--out", str(checkpoint), "--epochs", "1"]
    assert cli.main([*argv, "--val-fraction", "0.2", "--augment", "hflip,rot90,colour", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["model"] == "shapes-unet" and summary["base"] == "unet" and summary["val_images"] == 1
    assert summary["class_ids"] == [0, 1, 2] and 0 <= summary["val_miou"] <= 1
    assert "epoch 1" in captured.err and checkpoint.is_file()

    out = tmp_path / "predicted"
    photo = project.image_path(project.image_ids()[0])
    assert cli.main(["predict", "--model", str(checkpoint), "--out", str(out), str(photo)]) == 0
    assert set(np.unique(read_label_values(out / photo.name))) <= {0, 1, 2, 255}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--augment", "twirl"], "unknown augmentation"),
        (["--out", "unet.pt"], "built-in model"),
    ],
)
def test_train_refuses_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    project = make_shapes_project(tmp_path / "shapes", n=2, seed=0)
    argv = ["train", str(project.root), "--model", "unet", "--out", str(tmp_path / "x.pt"), *extra]
    argv = [a if a != "unet.pt" else str(tmp_path / "unet.pt") for a in argv]
    assert cli.main(argv) != 0
    assert message in capsys.readouterr().err
