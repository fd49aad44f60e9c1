"""The live Kinect-style depth dock: colour-mapped depth, body-part overlay, skeleton, capture.

The ``DepthWorker`` thread reads and classifies; this side only wraps its arrays as QImages and
paints them, so the GUI stays responsive however slow the classifier is. The stream (and the
model load) starts when the dock is first shown and stops when it is hidden or the window closes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, qRgb
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from segstudio.core.labels import LabelMap, Provenance
from segstudio.depth.parts import PARTS_PALETTE, to_category_map
from segstudio.gui.canvas.overlay import color_table
from segstudio.gui.canvas.qimage import ArrayImage, indexed_image
from segstudio.gui.depthview.depth_worker import NO_READING_INDEX, DepthResult, DepthWorker
from segstudio.io.images import write_png
from segstudio.io.project import Project, ProjectError

if TYPE_CHECKING:  # the renderer, sources and model are imported when a stream starts
    from segstudio.depth.model import BodyPartModel
    from segstudio.depth.sources import DepthSource

CAPTURE_FOLDER = "captures"
DEFAULT_OPACITY = 0.6
FPS_WINDOW_S = 2.0
MIN_JOINT_CONFIDENCE = 0.002
HELD_MESSAGE = "Shown at start-up, the stream waits for you: click the picture or choose a source"
HELD_TEXT = "Click to start the stream"
WAITING_TEXT = "Waiting for frames…"
"""Joints drawn only above this mean-shift density: weaker proposals mostly sit on the floor."""
SOURCE_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("Synthetic body", "synthetic"),
    ("Recorded folder…", None),
    ("RealSense camera", "realsense"),
    ("Kinect (libfreenect)", "kinect"),
    ("OpenNI2 camera", "openni"),
)
"""Source picker entries: label and ``source_from_spec`` spec (None: ask for a folder)."""


def _depth_colors() -> np.ndarray:
    """(256, 3) uint8 RGB colour map: near is warm, far is cool, no reading is black."""
    ramp = np.arange(255, -1, -1, dtype=np.uint8)[:, None]
    colors = cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO)[:, 0, ::-1].copy()
    colors[NO_READING_INDEX] = 0
    return colors


DEPTH_COLORS = _depth_colors()
DEPTH_TABLE = [qRgb(*map(int, rgb)) for rgb in DEPTH_COLORS]


def _bundled_model() -> BodyPartModel:
    from segstudio.depth.model import BodyPartModel, bundled_model_path

    return BodyPartModel.load(bundled_model_path())


def _is_camera(spec: str | None) -> bool:
    from segstudio.depth.sources import CAMERAS

    return spec in CAMERAS


def parts_match(palette_ids_names: dict[int, str]) -> bool:
    """True when a project palette holds every body part under its id and name."""
    return all(palette_ids_names.get(part.id) == part.name for part in PARTS_PALETTE)


class DepthCanvas(QWidget):
    """Paints the depth image, the part overlay and the skeleton, scaled to fit, aspect kept."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.depth_image: ArrayImage | None = None
        self.parts_image: ArrayImage | None = None
        self.joints = np.zeros((0, 2))
        self.confidence = np.zeros(0)
        self.opacity = DEFAULT_OPACITY
        self.placeholder = WAITING_TEXT
        """Said while no frame is shown."""
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(320, 240)

    def show_result(self, result: DepthResult) -> None:
        self.depth_image = indexed_image(result.index, DEPTH_TABLE)
        self.parts_image = indexed_image(result.parts, color_table(PARTS_PALETTE, self.opacity))
        self.joints, self.confidence = result.joints, result.confidence
        self.update()

    def set_opacity(self, opacity: float) -> None:
        """Only the overlay's colour table changes; the pixels stay."""
        self.opacity = opacity
        if self.parts_image is not None:
            self.parts_image.image.setColorTable(color_table(PARTS_PALETTE, opacity))
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(20, 20, 20))
        if self.depth_image is None or self.parts_image is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        height, width = self.depth_image.array.shape
        scale = min(self.width() / width, self.height() / height)
        target = QRectF(
            (self.width() - width * scale) / 2,
            (self.height() - height * scale) / 2,
            width * scale,
            height * scale,
        )
        painter.drawImage(target, self.depth_image.image)
        painter.drawImage(target, self.parts_image.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(target.topLeft())
        painter.scale(scale, scale)
        self._draw_skeleton(painter)

    def _draw_skeleton(self, painter: QPainter) -> None:
        found = (self.confidence >= MIN_JOINT_CONFIDENCE) & np.isfinite(self.joints).all(axis=1)
        pen = QPen(QColor(255, 255, 255), 2.5)
        pen.setCosmetic(True)
        painter.setPen(pen)
        from segstudio.depth.joints import SKELETON_EDGES

        points = [QPointF(float(u), float(v)) for u, v in np.nan_to_num(self.joints)]
        for a, b in SKELETON_EDGES:
            if a < len(points) and b < len(points) and found[a] and found[b]:
                painter.drawLine(points[a], points[b])
        painter.setBrush(QColor(255, 255, 255))
        for point, ok in zip(points, found, strict=True):
            if ok:
                painter.drawEllipse(point, 4.0, 4.0)


class DepthView(QWidget):
    """The dock's contents: source picker, pause, capture, overlay opacity, fps and accuracy."""

    captured = Signal(str)
    """Image id of a frame just added to the project."""

    def __init__(
        self,
        project: Callable[[], Project | None],
        model_loader: Callable[[], BodyPartModel] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._project = project
        self._load_model = model_loader or _bundled_model
        self._model: BodyPartModel | None = None
        self._spec = "synthetic"
        self.held = False
        """Shown by a restored layout, not by the user: showing it starts no stream yet."""
        self._wanted = False
        """The dock is in view: the stream runs unless held."""
        self.worker: DepthWorker | None = None
        self.shown: DepthResult | None = None
        self.frames_shown = 0
        self._shown_at: deque[float] = deque()
        self._build()

    def _build(self) -> None:
        self.canvas = DepthCanvas(self)
        self.source_box = QComboBox()
        for text, spec in SOURCE_CHOICES:
            self.source_box.addItem(text, spec)
        self.source_box.activated.connect(self._source_chosen)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the picture; the stream stops reading while paused")
        self.pause_button.toggled.connect(self.set_paused)
        self.capture_button = QPushButton("Capture frame")
        self.capture_button.setToolTip(
            "Add the shown frame (depth, image and predicted parts) to the project"
        )
        self.capture_button.clicked.connect(self.capture)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(DEFAULT_OPACITY * 100))
        self.opacity_slider.setToolTip("Opacity of the body-part overlay")
        self.opacity_slider.valueChanged.connect(lambda value: self.canvas.set_opacity(value / 100))
        self.fps_label = QLabel("– fps")
        self.accuracy_label = QLabel("")
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(self.source_box, 1)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.capture_button)
        overlay_row = QHBoxLayout()
        overlay_row.addWidget(QLabel("Parts"))
        overlay_row.addWidget(self.opacity_slider, 1)
        readouts = QHBoxLayout()
        readouts.addWidget(self.fps_label)
        readouts.addStretch(1)
        readouts.addWidget(self.accuracy_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(overlay_row)
        layout.addLayout(readouts)
        layout.addWidget(self.message_label)

    # -- the stream ---------------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def set_streaming(self, on: bool) -> None:
        """Start (loading the model the first time) or stop the stream; the dock's visibility."""
        self._wanted = on
        if on and self.held:
            self._show_message(HELD_MESSAGE)
        elif on and not self.streaming:
            self.open_spec(self._spec)
        elif not on:
            self.stop()

    def hold(self) -> None:
        """Start no stream when shown (start-up with a remembered layout) until :meth:`release`."""
        self.held = True
        self.canvas.placeholder = HELD_TEXT
        self.canvas.update()

    def release(self) -> None:
        """The user turned to the dock: stream if it is in view."""
        if self.held:
            self.held = False
            self.canvas.placeholder = WAITING_TEXT
            self.canvas.update()
            self._show_message("")
            self.set_streaming(self._wanted)

    def open_spec(self, spec: str) -> bool:
        """Switch to the source ``spec`` (see ``source_from_spec``); errors show in the dock."""
        from segstudio.depth.sources import source_from_spec

        try:
            source = source_from_spec(spec)
        except (OSError, ValueError) as error:
            self._show_message(str(error))
            return False
        self.stop()
        self._spec = spec
        self.start_source(source)
        return True

    def start_source(self, source: DepthSource) -> None:
        """Stream ``source`` (stopping the one before; the source picker goes through here)."""
        self.stop()
        self.held, self.canvas.placeholder = False, WAITING_TEXT  # a source chosen by the user
        self._show_message("")
        self._shown_at.clear()
        worker = DepthWorker(source, self._load_model, self._model, _is_camera(self._spec), self)
        worker.frame_ready.connect(self._frame_ready)
        worker.failed.connect(self._failed)
        worker.ended.connect(lambda: self._show_message("End of the recording"))
        worker.set_paused(self.pause_button.isChecked())
        self.worker = worker
        worker.start()

    def stop(self) -> None:
        """End the worker thread and wait for it (no 'QThread destroyed while running')."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        worker.stop()
        self._model = self._model or worker.model
        worker.deleteLater()

    def set_paused(self, paused: bool) -> None:
        """Freeze the shown frame; the worker reads nothing meanwhile (no CPU, no stale queue)."""
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)  # re-enters through toggled
            return
        self.pause_button.setText("Resume" if paused else "Pause")
        if self.worker is not None:
            self.worker.set_paused(paused)
        self._shown_at.clear()

    def _source_chosen(self, row: int) -> None:
        spec = self.source_box.itemData(row)
        if spec is None:
            folder = QFileDialog.getExistingDirectory(self, "Open a recorded depth folder")
            if not folder:
                return
            spec = folder
        self.open_spec(spec)

    def _failed(self, message: str) -> None:
        if self.sender() is not self.worker:  # a stopped source's last words
            return
        self._show_message(message)
        row = self.source_box.findData(self._spec)
        if _is_camera(self._spec) and row >= 0:  # grey the camera out, keep the reason at hand
            item = self.source_box.model().item(row)
            item.setEnabled(False)
            item.setToolTip(message)

    def _frame_ready(self) -> None:
        worker = self.worker
        if worker is None or self.sender() is not worker:
            return
        result = worker.take_result()
        if result is None or self.pause_button.isChecked():
            return
        self.shown = result
        self.frames_shown += 1
        self.canvas.show_result(result)
        self._update_readouts(result)

    def fps(self) -> float:
        """Frames shown per second over the last couple of seconds."""
        times = self._shown_at
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def _update_readouts(self, result: DepthResult) -> None:
        now = time.monotonic()
        self._shown_at.append(now)
        while self._shown_at and now - self._shown_at[0] > FPS_WINDOW_S:
            self._shown_at.popleft()
        self.fps_label.setText(f"{self.fps():.1f} fps  classifier {result.classify_ms:.0f} ms")
        if result.accuracy is None or not np.isfinite(result.accuracy):
            self.accuracy_label.setText("")
        else:
            self.accuracy_label.setText(f"mean class accuracy {result.accuracy:.0%}")

    def _show_message(self, message: str) -> None:
        self.message_label.setText(message)

    # -- capture ------------------------------------------------------------------------------------

    def capture(self) -> str | None:
        """Add the shown frame to the open project; returns its image id.

        Writes the depth (16-bit PNG) and the colour-mapped depth (RGB PNG, the image to label)
        into ``captures/``. The predicted parts become the image's prediction only when the
        project's palette holds the body parts (ids and names); otherwise the message says so.
        """
        project, result = self._project(), self.shown
        if project is None or result is None:
            self._show_message("Open a project and wait for a frame to capture")
            return None
        folder = project.root / CAPTURE_FOLDER
        stem = time.strftime("capture-%Y%m%d-%H%M%S") + f"-{self.frames_shown:05d}"
        image_path, depth_path = folder / f"{stem}.png", folder / f"{stem}-depth.png"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_png(depth_path, result.depth)
            write_png(image_path, DEPTH_COLORS[result.index])
            entry = project.add_image(image_path, depth=depth_path)
            with_parts = parts_match({c.id: c.name for c in project.palette})
            if with_parts:
                category = to_category_map(result.parts)
                project.save_prediction(entry.id, LabelMap.from_arrays(category, None, Provenance.MODEL))
        except (ProjectError, OSError, ValueError) as error:
            self._show_message(f"Capture failed: {error}")
            return None
        note = "" if with_parts else " (no part prediction: the project's classes are not the body parts)"
        self._show_message(f"Captured {entry.id}{note}")
        self.captured.emit(entry.id)
        return entry.id
