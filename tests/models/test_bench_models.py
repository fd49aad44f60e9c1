"""``bench models`` runs the real runner and reports throughput (small settings; speed is not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from segstudio.benchmarks.models import run_models_bench


def test_models_bench_reports_throughput_on_the_device() -> None:
    result = run_models_bench(repeats=1, model_name="unet-small", size=64)
    assert result["model"] == "unet-small" and result["image_size"] == 64
    assert result["images_per_s_float32"] > 0
    if torch.cuda.is_available():
        assert result["images_per_s_bfloat16"] > 0 and 0.5 < result["bfloat16_label_agreement"] <= 1
    else:
        assert result["device"] == "cpu" and "images_per_s_bfloat16" not in result


def test_bench_models_is_a_command_printing_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "segstudio", "bench", "models", "--json", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SEGSTUDIO_DEVICE": "cpu"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model"] == "deeplabv3_resnet50" and result["images_per_s_float32"] > 0
