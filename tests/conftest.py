"""Test set-up: Qt offscreen unless told otherwise, the real data in tests/data, and a guard that fails
any test which opens a file beside the checkout (a fresh clone has nothing there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from checkout_guard import CheckoutGuard

# Offscreen by default; run with SEGSTUDIO_TEST_HEADED=1 (and a display) to watch GUI tests.
if not os.environ.get("SEGSTUDIO_TEST_HEADED"):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"
COCO_PANOPTIC_SAMPLE = TEST_DATA / "coco-panoptic-sample"


@pytest.fixture(scope="session")
def coco_panoptic_sample() -> Path:
    """The real COCO panoptic sample (two val2017 images with official ground truth)."""
    if not COCO_PANOPTIC_SAMPLE.is_dir():
        raise FileNotFoundError(f"{COCO_PANOPTIC_SAMPLE}: the repository's test data is missing")
    return COCO_PANOPTIC_SAMPLE


_GUARD = CheckoutGuard(REPO_ROOT)
_GUARD.install()


@pytest.fixture(autouse=True)
def _stays_inside_the_checkout() -> Iterator[None]:
    """Fails the test that read a file beside the checkout (see ``checkout_guard``)."""
    _GUARD.take_escapes()
    yield
    escapes = _GUARD.take_escapes()
    if escapes:
        pytest.fail(f"read outside the checkout (a fresh clone has none of it): {sorted(set(escapes))[:5]}")


@pytest.fixture(scope="session")
def prelabel_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-image shapes project, half unlabelled (``prelabel_project``); tests work on copies."""
    from prelabel_project import make_template

    return make_template(tmp_path_factory.mktemp("template") / "project")


@pytest.fixture(scope="session")
def prelabel_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model's checkpoint with seeded weights, for the pre-label tests."""
    from prelabel_project import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("models") / "shapes-net.pt")


@pytest.fixture(scope="session")
def sam_network():  # type: ignore[no-untyped-def]
    """SAM 2.1 tiny built from the sam2 package's own config with seeded random weights, at a 256-px
    input (the same architecture as the published 1024 one, 16 times fewer pixels to encode)."""
    from sam_fixtures import small_sam

    return small_sam()


@pytest.fixture(scope="session")
def sam_checkpoint(tmp_path_factory: pytest.TempPathFactory, sam_network) -> Path:  # type: ignore[no-untyped-def]
    """``sam_network``'s weights saved as the official checkpoints are (``{"model": state_dict}``)."""
    from sam_fixtures import save_sam_checkpoint

    return save_sam_checkpoint(sam_network, tmp_path_factory.mktemp("sam") / "sam2.1_hiera_tiny.pt")
