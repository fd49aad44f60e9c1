"""``segstudio bench depthview`` runs the real depth dock offscreen and reports its rates (no speed
asserted: the goal lives in the benchmark)."""

from __future__ import annotations

import json

from segstudio.benchmarks import depthview
from segstudio.commands.bench import BENCHMARKS


def test_depthview_bench_is_a_bench_command() -> None:
    assert BENCHMARKS["depthview"] == "segstudio.benchmarks.depthview:run_depthview_bench"


def test_depthview_bench_paints_frames_from_both_sources(qapp, monkeypatch) -> None:
    monkeypatch.setattr(depthview, "SECONDS", 1.5)
    monkeypatch.setattr(depthview, "WARMUP_S", 0.5)
    monkeypatch.setattr(depthview, "LOOP_FRAMES", 3)
    result = depthview.run_depthview_bench(repeats=3)
    assert json.loads(json.dumps(result)) == result
    assert result["frame"] == "640x480" and result["body_pixels"] > 1000
    assert result["classify_ms"] > 0 and result["classify_fps"] > 0
    assert result["app_fps"] > 0 and result["app_synthetic_fps"] > 0  # frames were painted
    assert abs(result["app_vs_classify"] - result["app_fps"] / result["classify_fps"]) < 0.05
