"""The scribbles as the classifier takes them, and their pixels per class, kept up box by box.

Every training run needs the scribbles in the classifier's convention (``ScribbleMap.values()``: a
fresh array the worker and the file writer may read) and the scribbled pixels per class (fewer
than two classes train nothing). On a 12 MP image recounting the whole map cost the GUI thread
~12 ms on a quiet machine and several times that under load, each pause in scribbling; a stroke
changes a few thousand pixels. So the last values handed out are kept (from the file, or zeros,
when the image opens): the next ones are a copy of them with only the boxes changed since
rewritten, and the counts follow those boxes.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from segstudio.core.box import Box
from segstudio.core.labels import CATEGORY_DTYPE
from segstudio.core.scribbles import ScribbleMap, value_counts


class ScribbleTally:
    """Values and per-class counts of one :class:`ScribbleMap`, given the boxes that changed."""

    def __init__(self) -> None:
        self._scribbles: ScribbleMap | None = None
        self._values: np.ndarray | None = None
        self._counts: Counter[int] = Counter()
        self._changed: list[Box] = []
        """Boxes changed since the last values, each kept apart: two strokes far apart on a 12 MP
        image have a union box of millions of pixels."""

    def follow(
        self,
        scribbles: ScribbleMap | None,
        loaded: np.ndarray | None = None,
        counted: Counter[int] | None = None,
    ) -> None:
        """Tally another map, as just opened: empty, or holding the ``loaded`` values (read from its
        file, a fresh array the tally keeps; ``counted``: their ``value_counts``, when the loader
        counted them off the GUI thread, ~60 ms at 12 MP under load). So the first run after
        opening copies and counts nothing whole (an empty map's values are zeros the system hands
        out untouched)."""
        self._scribbles, self._changed = scribbles, []
        if scribbles is None:
            self._values, self._counts = None, Counter()
        elif loaded is None:
            self._values, self._counts = np.zeros(scribbles.shape, CATEGORY_DTYPE), Counter()
        else:
            self._values = np.asarray(loaded, CATEGORY_DTYPE)
            self._counts = Counter(counted) if counted is not None else value_counts(self._values)

    def changed(self, box: Box) -> None:
        """The map changed inside ``box`` (a stroke, an undo, a redo, a clear)."""
        if not box.is_empty:
            self._changed.append(box)

    def values(self) -> np.ndarray:
        """A fresh copy of the scribbles in the classifier's convention (never changed afterwards)."""
        scribbles = self._scribbles
        if scribbles is None or self._values is None:
            raise RuntimeError("no scribble map to tally")
        if self._changed:
            values = self._values.copy()
            for box in self._changed:  # one after another: overlapping boxes are counted right
                window = box.clip(scribbles.shape).slices
                self._counts.subtract(value_counts(values[window]))
                np.add(scribbles.category[window], CATEGORY_DTYPE(1), out=values[window])  # VOID + 1 = 0
                self._counts.update(value_counts(values[window]))
            self._values = values
        self._changed = []
        return self._values

    def counts(self) -> dict[int, int]:
        """Scribbled pixels per class id, as of the last :meth:`values`."""
        return {value - 1: count for value, count in sorted(self._counts.items()) if count > 0}
