"""The scribble classifier's prediction filed as a model's: the same prediction file, tagged with
a :class:`PredictionSource` whose model is ``scribble-classifier`` and whose "weights" are a digest
of the scribbles it learnt from, so reopening the image shows it and the index says where it came
from (a model's pre-label run never takes it for its own).

The file is written on the worker thread (at 12 MP it takes a good part of a second); only the
index row is left to the GUI thread, which owns the project (``Project.record_predictions``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from segstudio.core.features import FeatureCache
from segstudio.core.scribble_run import ScribbleRequest, ScribbleResult, classify_scribbles
from segstudio.io.prediction_files import ImageTask, PredictionSource, write_prediction

SCRIBBLE_MODEL = "scribble-classifier"


def scribble_source(values: np.ndarray) -> PredictionSource:
    """The source of a prediction learnt from these scribbles (the classifier's convention)."""
    digest = hashlib.sha256(np.ascontiguousarray(values).data).hexdigest()
    return PredictionSource(SCRIBBLE_MODEL, f"sha256:{digest}")


def is_scribble_source(source: PredictionSource | None) -> bool:
    return source is not None and source.model == SCRIBBLE_MODEL


def classify_and_file(
    request: ScribbleRequest,
    cache: FeatureCache,
    check: Callable[[], None],
    root: Path,
    task: ImageTask,
) -> tuple[ScribbleResult, PredictionSource]:
    """Classify the scribbles and write the prediction file; a run stopped first writes nothing."""
    result = classify_scribbles(request, cache, check)
    check()
    source = scribble_source(request.values)
    write_prediction(root, task, result.to_labels(), source)
    return result, source
