"""The scribble classifier's prediction filed as a model's: the same prediction file, tagged with
a :class:`PredictionSource` whose model is ``scribble-classifier`` and whose "weights" are a digest
of the scribbles it learnt from, so reopening the image shows it and the index says where it came
from (a model's pre-label run never takes it for its own).

All of the filing runs on the worker thread, in the classifier's job (``Project.save_prediction``:
a model's record dropped, the file written, the source recorded and an unlabelled image marked
pre-labelled): at 12 MP the file takes a good part of a second and each index commit an fsync,
which the GUI thread must not wait for. The project's connection is shared one thread at a time
(``io/project_store``), so the GUI thread may read the index meanwhile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from segstudio.core.features import FeatureCache
from segstudio.core.scribble_run import ScribbleRequest, ScribbleResult, classify_scribbles
from segstudio.io.prediction_files import PredictionSource
from segstudio.io.project import Project, ProjectError

SCRIBBLE_MODEL = "scribble-classifier"


def scribble_source(values: np.ndarray) -> PredictionSource:
    """The source of a prediction learnt from these scribbles (the classifier's convention)."""
    digest = hashlib.sha256(np.ascontiguousarray(values).data).hexdigest()
    return PredictionSource(SCRIBBLE_MODEL, f"sha256:{digest}")


def is_scribble_source(source: PredictionSource | None) -> bool:
    return source is not None and source.model == SCRIBBLE_MODEL


@dataclass(frozen=True)
class FiledScribbles:
    """A finished full-resolution run: its result, the source it was filed under, and why it could
    not be filed (None when it was): the result is shown either way."""

    result: ScribbleResult
    source: PredictionSource
    problem: str | None = None


def classify_and_file(
    request: ScribbleRequest, cache: FeatureCache, check: Callable[[], None], project: Project
) -> FiledScribbles:
    """Classify the scribbles and file the prediction in ``project``; a run stopped first writes nothing."""
    result = classify_scribbles(request, cache, check)
    check()
    source = scribble_source(request.values)
    try:
        project.save_prediction(request.image_id, result.to_labels(), source)
    except (ProjectError, OSError) as error:  # both name the file
        return FiledScribbles(result, source, str(error))
    return FiledScribbles(result, source)
