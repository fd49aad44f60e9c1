"""Fuzzing every importer and ``eval`` with mutated real files (issue 14), each in a child process.

``tests/fuzz_cli.py`` runs the cases under a memory limit; here each target gets a time bound.
A signal (exit < 0), a hang (timeout), a memory bomb (MemoryError past the limit) or any case
that ends in a traceback or in an error line naming no file fails the test, with the cases shown.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_cli import TARGETS

FUZZ = Path(__file__).resolve().parent / "fuzz_cli.py"
CASES = 30
TIMEOUT_S = 90  # a few seconds of work each; the bound is for a hang, on a busy machine


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_mutated_inputs_end_in_success_or_one_line_naming_a_file(
    target: str, coco_panoptic_sample: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "SEGSTUDIO_MAX_PIXELS": "20000000"}
    command = [sys.executable, str(FUZZ), target, "14", str(CASES), str(coco_panoptic_sample), str(tmp_path)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired as error:
        last = (error.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        pytest.fail(f"{target}: no answer in {TIMEOUT_S} s (a hang?) at {last}")
    assert run.returncode >= 0, f"{target}: killed by signal {-run.returncode} after {run.stderr[-200:]}"
    assert run.returncode == 0 and f"ok {CASES}" in run.stdout, run.stdout[-4000:] + run.stderr[-2000:]
