"""SAM embeddings on disk: reused by a new predictor (a later session), bounded, and a damaged or
foreign file ignored with a note. SAM 2.1 tiny's architecture, seeded random weights, 256-px input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from segstudio.core.prompts import PromptPoint, Prompts
from segstudio.models.sam import SamPredictor
from segstudio.models.sam_cache import EmbeddingStore

PROMPTS = Prompts((PromptPoint(30, 30), PromptPoint(120, 70, positive=False)))


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (96, 160, 3), dtype=np.uint8)


def _predictor(
    network: torch.nn.Module, folder: Path, notes: list[str], max_bytes: int = 1 << 30
) -> SamPredictor:
    predictor = SamPredictor(network, "weights-a")
    predictor.store = EmbeddingStore(folder, max_bytes, note=notes.append)
    return predictor


def test_a_later_session_loads_the_embedding_and_gets_the_same_mask(
    sam_network: torch.nn.Module, tmp_path: Path
) -> None:
    notes: list[str] = []
    first = _predictor(sam_network, tmp_path, notes)
    key = first.embed(_image(1))
    mask = first.predict(key, PROMPTS).mask
    (saved,) = tmp_path.glob("*.sam.pt")
    assert saved == first.store.path(key) and first.embeddings_computed == 1

    later = _predictor(sam_network, tmp_path, notes)  # a new session: an empty memory cache
    assert later.embed(_image(1)) == key
    assert later.embeddings_computed == 0 and later.embeddings_loaded == 1
    assert np.array_equal(later.predict(key, PROMPTS).mask, mask)
    other = SamPredictor(sam_network, "weights-b")  # other weights: another key, not this file
    other.store = EmbeddingStore(tmp_path, note=notes.append)
    other.embed(_image(1))
    assert other.embeddings_computed == 1 and not notes


def test_a_damaged_or_foreign_file_is_ignored_with_a_note(
    sam_network: torch.nn.Module, tmp_path: Path
) -> None:
    notes: list[str] = []
    predictor = _predictor(sam_network, tmp_path, notes)
    key_one, key_two = predictor.key(_image(1)), predictor.key(_image(2))
    predictor.embed(_image(1))
    path_one = predictor.store.path(key_one)
    path_one.write_bytes(path_one.read_bytes()[:1000])  # cut short

    later = _predictor(sam_network, tmp_path, notes)
    later.embed(_image(1))
    assert later.embeddings_computed == 1 and later.embeddings_loaded == 0
    assert len(notes) == 1 and path_one.name in notes[0] and "unreadable" in notes[0]
    assert path_one.exists()  # written again, whole

    path_one.rename(later.store.path(key_two))  # image one's embedding under image two's name
    again = _predictor(sam_network, tmp_path, notes)
    again.embed(_image(2))
    assert again.embeddings_computed == 1 and "another image's embedding" in notes[-1]
    fresh = SamPredictor(sam_network, "no store")
    assert np.array_equal(
        again.predict(key_two, PROMPTS).mask, fresh.predict(fresh.embed(_image(2)), PROMPTS).mask
    )


def test_the_folder_keeps_within_its_bound_dropping_the_least_recently_used(
    sam_network: torch.nn.Module, tmp_path: Path
) -> None:
    notes: list[str] = []
    probe = _predictor(sam_network, tmp_path / "probe", notes)
    probe.embed(_image(0))
    (one,) = (tmp_path / "probe").glob("*.sam.pt")
    size = one.stat().st_size
    predictor = _predictor(sam_network, tmp_path / "cache", notes, max_bytes=int(size * 2.5))
    keys = [predictor.embed(_image(seed)) for seed in (1, 2)]
    predictor.store.load(keys[0])  # image one used again: image two is now the oldest
    predictor.embed(_image(3))
    kept = {path.name for path in (tmp_path / "cache").glob("*.sam.pt")}
    assert kept == {predictor.store.path(k).name for k in (keys[0], predictor.key(_image(3)))}
    assert not notes
    with pytest.raises(FileNotFoundError):
        predictor.store.path(keys[1]).stat()
