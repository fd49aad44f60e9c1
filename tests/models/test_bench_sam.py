"""``bench sam`` times the real SAM 2.1 tiny at its 1024 input (a smoke run; speed is not asserted)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from segstudio.benchmarks.sam import run_sam_bench
from segstudio.cli import build_parser


def test_sam_bench_reports_embedding_and_per_click_times(
    qapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # qapp: the bench's worker needs a Qt application; a QApplication serves later GUI tests too
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no published weights: random ones
    monkeypatch.setenv("SEGSTUDIO_DEVICE", "cpu")
    result = run_sam_bench(repeats=1)
    assert result["model"] == "sam2.1-tiny" and result["image_size"] == 1024 and result["device"] == "cpu"
    assert result["weights"].startswith("random") and result["embeddings_timed"] == 1
    assert result["embedding_ms"] > result["prompt_ms"] > 0 and result["clicks_timed"] == 5
    assert result["prompt_cpu_ms"] > 0
    assert result["sam2_prompt_ms"] > 0 and result["prompt_speedup"] > 0  # sam2's own, interleaved
    threads = {str(result["threads"]), str(os.cpu_count())}  # the app's, and every core
    assert set(result["prompt_threads_ms"]) == set(result["click_stall_ms"]) == threads
    # prompt_ms: the clicks as the app runs them, each on the thread count the app chose for it
    assert set(result["click_threads"]) <= threads and sum(result["click_threads"].values()) == 5
    assert all(ms > 0 for ms in result["prompt_threads_ms"].values())
    assert all(ms >= 0 for ms in result["click_stall_ms"].values())
    assert result["embed_max_stall_ms"] >= 0
    assert result["mask_12mp_ms"] > 0 and result["sam2_mask_12mp_ms"] > 0
    assert 1.0 < result["decoder_gflop"] < result["sam2_decoder_gflop"] < 6.0  # regrouped: less work
    assert build_parser().parse_args(["bench", "sam", "--json"]).name == "sam"
