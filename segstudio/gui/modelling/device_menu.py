"""Models > Device: where models run (automatic, CUDA, Apple MPS, CPU), kept in the user's settings.

The GUI never imports torch, so it cannot know which devices exist: every choice is offered and
the backend says what it got. An unusable choice (CUDA on a computer without one, a setting
brought from another computer) falls back to the automatic choice with a message, never an
error. The preference reaches the backend through :class:`LazyBackend`, on the worker thread,
at the next model job; a running job finishes where it started.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from segstudio.core.model_records import DEVICE_CHOICES
from segstudio.gui.modelling.model_backend import LazyBackend
from segstudio.gui.threads.job_client import Handlers, JobClient
from segstudio.gui.threads.worker import Job, JobContext, Priority

SETTINGS_KEY = "models/device"
DEVICE_KIND = "device"
AUTO = "auto"


class DeviceMenu(QObject):
    """The Device submenu of ``menu``; ``described`` tells where models run after a change."""

    described = Signal(str)
    status = Signal(str)

    def __init__(
        self,
        menu: QMenu,
        jobs: JobClient,
        backend: LazyBackend,
        settings: QSettings | None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.jobs, self.backend, self.settings = jobs, backend, settings
        saved = str(settings.value(SETTINGS_KEY, AUTO)) if settings is not None else AUTO
        self.preference = saved if saved in dict(DEVICE_CHOICES) else AUTO
        self.submenu = menu.addMenu("&Device")
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        for value, text in DEVICE_CHOICES:
            action = QAction(text, self.submenu)
            action.setCheckable(True)
            action.setChecked(value == self.preference)
            action.triggered.connect(lambda checked=False, value=value: self.choose(value))
            self.group.addAction(action)
            self.submenu.addAction(action)
            self.actions[value] = action
        backend.set_device(self._backend_value(self.preference))

    @staticmethod
    def _backend_value(preference: str) -> str | None:
        return None if preference == AUTO else preference

    def choose(self, preference: str) -> int | None:
        """Run models on ``preference`` from the next job; returns the id of the job that asks
        the backend where that is (None when the window has no models)."""
        self.preference = preference
        self.actions[preference].setChecked(True)
        if self.settings is not None:
            self.settings.setValue(SETTINGS_KEY, preference)
            self.settings.sync()
        self.backend.set_device(self._backend_value(preference))
        if not self.backend.available:
            return None
        backend = self.backend

        def run(context: JobContext) -> str:
            return backend.get().device_info(context.message)

        job = Job(DEVICE_KIND, "current", run, Priority.INTERACTIVE, "Choosing the device")
        handlers = Handlers(
            done=self._described,
            failed=lambda text: self.status.emit(f"Device: {text}"),
            message=self.status.emit,
        )
        return self.jobs.submit(job, handlers)

    def _described(self, text: str) -> None:
        self.described.emit(text)
        self.status.emit(f"Models run on {text}")
