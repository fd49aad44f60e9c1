"""The live depth stream's background half: read frames, classify body parts, propose joints.

Two loops, so a slow classifier drops frames and never stalls the source or the GUI:

* a reader thread reads the source at its rate (``fps``) into a one-slot mailbox. A *live* source
  (a camera) is read all the time and each frame overwrites the one the classifier has not taken
  yet, so older frames are skipped and the classifier always gets the newest. A *playback* source
  (synthetic, recorded folder) makes its frames when read, so the reader stays one frame ahead
  instead: generating frames nobody classifies would only steal the classifier's CPU (and GIL);
* the ``DepthWorker`` QThread takes the newest frame, classifies it, proposes joints and puts a
  ``DepthResult`` (plain numpy arrays) into a second one-slot mailbox. ``frame_ready`` is emitted
  only when that slot was empty and an unshown result is replaced by a newer one, so a busy GUI
  thread never works through a queue of stale frames.

Widgets are never touched here; the GUI thread turns results into QImages (``depth_view``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

if TYPE_CHECKING:  # the depth package is imported with the first frame, not at start-up
    from segstudio.depth.model import BodyPartModel
    from segstudio.depth.sources import DepthFrame, DepthSource

NEAR_MM, FAR_MM = 500, 4500
"""The depth window shown: readings outside it are clamped to the colour map's ends."""
NO_READING_INDEX = 0
"""Colour-map index of pixels without a depth reading (drawn black)."""

T = TypeVar("T")


class Mailbox(Generic[T]):
    """One slot, newest wins: ``put`` replaces what nobody took yet (that item is dropped)."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._ready = threading.Condition()

    def put(self, item: T) -> bool:
        """Store ``item``; True when the slot was empty (the taker needs a nudge)."""
        with self._ready:
            was_empty = self._item is None
            self._item = item
            self._ready.notify_all()
            return was_empty

    def wait_empty(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the slot to be taken; True when it is empty."""
        with self._ready:
            if self._item is not None:
                self._ready.wait(timeout)
            return self._item is None

    def take(self, timeout: float = 0.0) -> T | None:
        """The newest item (emptying the slot), waiting up to ``timeout`` seconds for one."""
        with self._ready:
            if self._item is None and timeout > 0:
                self._ready.wait(timeout)
            item, self._item = self._item, None
            self._ready.notify_all()
            return item


def depth_index(depth_mm: np.ndarray, near_mm: int = NEAR_MM, far_mm: int = FAR_MM) -> np.ndarray:
    """uint8 colour-map indices: ``near_mm..far_mm`` windowed to 1..255, no reading (0) to 0."""
    scaled = (depth_mm.astype(np.float32) - near_mm) * (254.0 / (far_mm - near_mm)) + 1.0
    index = np.clip(scaled, 1, 255).astype(np.uint8)
    index[depth_mm == 0] = NO_READING_INDEX
    return index


@dataclass(frozen=True, eq=False)
class DepthResult:
    """One classified frame: the depth (uint16 mm) and its colour-map ``index``, the predicted
    ``parts`` (uint8, ``BACKGROUND`` off the body), the best joint per joint (``joints`` (J, 2)
    pixel (u, v), ``confidence`` (J,)), the classifier time and, with ground truth, the mean
    class accuracy of the frame."""

    depth: np.ndarray
    index: np.ndarray
    parts: np.ndarray
    joints: np.ndarray
    confidence: np.ndarray
    classify_ms: float
    timestamp: float
    accuracy: float | None = None
    player: np.ndarray | None = None
    """The source's person mask the classifier was limited to (None: the depth range rule)."""


def classify(model: BodyPartModel, frame: DepthFrame) -> DepthResult:
    """Everything the view shows of ``frame``; runs on the worker thread."""
    from segstudio.depth.evaluation import mean_class_accuracy, part_confusion
    from segstudio.depth.joints import propose_joints

    start = time.perf_counter()
    prediction = model.predict(frame.depth, mask=frame.player)
    classify_ms = (time.perf_counter() - start) * 1000.0
    _, image, confidence = propose_joints(frame.depth, prediction.pixels, prediction.proba).best()
    accuracy = None
    if frame.parts is not None:
        accuracy = mean_class_accuracy(part_confusion(frame.parts, prediction.parts))
    return DepthResult(
        frame.depth,
        depth_index(frame.depth),
        prediction.parts,
        image,
        confidence,
        classify_ms,
        frame.timestamp,
        accuracy,
        frame.player,
    )


class DepthWorker(QThread):
    """Streams ``source`` through the body-part model until ``stop()``; see the module notes.

    ``live``: a camera (read all the time, newest frame wins) rather than a playback source (read
    one frame ahead). ``model_loader`` runs on this thread when no ``model`` is given (loading
    stays off the GUI thread); the loaded model is kept in ``model`` for the next worker.
    """

    frame_ready = Signal()
    failed = Signal(str)
    ended = Signal()

    def __init__(
        self,
        source: DepthSource,
        model_loader: Callable[[], BodyPartModel],
        model: BodyPartModel | None = None,
        live: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.source, self.model, self.live = source, model, live
        self._load_model = model_loader
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._frames: Mailbox[DepthFrame] = Mailbox()
        self._results: Mailbox[DepthResult] = Mailbox()
        self._reader_done = threading.Event()

    # -- GUI thread ---------------------------------------------------------------------------------

    def take_result(self) -> DepthResult | None:
        """The newest result not shown yet (older ones were dropped), or None."""
        return self._results.take()

    def set_paused(self, paused: bool) -> None:
        """Paused: no frames are read or classified (the stream waits, nothing is queued)."""
        (self._paused.set if paused else self._paused.clear)()

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Ask both loops to end and wait for them; True when the thread has finished."""
        self._stop.set()
        return self.wait(timeout_ms)

    # -- worker threads -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            if self.model is None:
                self.model = self._load_model()
            self.source.open()
        except Exception as error:  # a missing library, device, folder or model file
            self.failed.emit(str(error))
            return
        reader = threading.Thread(target=self._read_frames, name="depth-reader", daemon=True)
        reader.start()
        try:
            self._classify_frames(self.model)
        except Exception as error:
            self.failed.emit(f"classifying a frame failed: {error}")
        finally:
            self._stop.set()
            reader.join()
            self.source.close()

    def _classify_frames(self, model: BodyPartModel) -> None:
        while not self._stop.is_set():
            frame = self._frames.take(timeout=0.05)
            if frame is None:
                if self._reader_done.is_set():
                    self.ended.emit()
                    return
                continue
            if self._paused.is_set():
                continue
            if self._results.put(classify(model, frame)):
                self.frame_ready.emit()

    def _read_frames(self) -> None:
        """Read at the source's rate; a slow read (or classifier) never makes it burst to catch up."""
        period = 1.0 / self.source.fps if self.source.fps > 0 else 0.0
        due = time.perf_counter()
        try:
            while not self._stop.is_set():
                if self._paused.is_set():
                    time.sleep(0.02)
                    due = time.perf_counter()
                    continue
                if not self.live and not self._frames.wait_empty(0.05):
                    continue
                frame = self.source.read()
                if frame is None:
                    return
                self._frames.put(frame)
                due = max(due + period, time.perf_counter())
                self._stop.wait(max(0.0, due - time.perf_counter()))
        except Exception as error:
            self.failed.emit(f"reading a frame failed: {error}")
        finally:
            self._reader_done.set()
