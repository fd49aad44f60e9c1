"""Models > Click-to-segment model: which SAM 2.1 model the click-to-segment tool and "Refine with
SAM" use (tiny ... large), and whether image embeddings are kept on disk between sessions (off by
default; ``models.sam_cache``, in the user's cache folder), both kept in the user's settings.

A change takes effect at the next prompt: the open image's prompts are cleared (their mask came
from the other model) and the new model embeds the image again. Missing weights are not checked
here (the GUI never imports the model half): the first prompt says which file to place where, as
the other models do, and the Models dock offers the download.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from segstudio.core.prompts import SAM_MODELS
from segstudio.gui.modelling.sam_jobs import DEFAULT_MODEL, SamJobs

SETTINGS_KEY = "sam/model"
DISK_CACHE_KEY = "sam/disk_cache"
CACHE_FOLDER = "sam-embeddings"


def default_cache_folder() -> Path:
    """The user's cache folder for embeddings (``QStandardPaths.CacheLocation``)."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)) / CACHE_FOLDER


class SamModelMenu(QObject):
    """The submenu of ``menu`` choosing ``sam.model``; ``changed`` (e.g. the tool's clear) runs after
    a change."""

    def __init__(
        self,
        menu: QMenu,
        sam: SamJobs,
        settings: QSettings | None,
        changed: Callable[[], None] = lambda: None,
        parent: QObject | None = None,
        cache_folder: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.sam, self.settings, self._changed = sam, settings, changed
        names = [name for name, _ in SAM_MODELS]
        saved = str(settings.value(SETTINGS_KEY, DEFAULT_MODEL)) if settings is not None else DEFAULT_MODEL
        self.submenu = menu.addMenu("Click-to-segment &model")
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        for name, text in SAM_MODELS:
            action = QAction(text, self.submenu)
            action.setCheckable(True)
            action.setStatusTip(f"Click to segment and Refine with SAM use {name}")
            action.triggered.connect(lambda checked=False, name=name: self.choose(name))
            self.group.addAction(action)
            self.submenu.addAction(action)
            self.actions[name] = action
        self._set(saved if saved in names else DEFAULT_MODEL)
        self.submenu.addSeparator()
        self.disk_cache = QAction("Keep embeddings on &disk", self.submenu)
        self.disk_cache.setCheckable(True)
        self.disk_cache.setStatusTip(
            "Keep each image's SAM embedding in the user's cache folder (up to about 1 GB), so it "
            "is not computed again in a later session"
        )
        self.disk_cache.toggled.connect(self._disk_cache_toggled)
        self.submenu.addAction(self.disk_cache)
        self._cache_folder = cache_folder
        keep = settings is not None and settings.value(DISK_CACHE_KEY, False, type=bool)
        self.disk_cache.setChecked(bool(keep))

    def choose(self, name: str) -> None:
        """Use ``name`` from the next prompt on, and remember it."""
        if name == self.sam.model:
            return
        self.sam.cancel()
        self._set(name)
        if self.settings is not None:
            self.settings.setValue(SETTINGS_KEY, name)
            self.settings.sync()
        self._changed()

    def _set(self, name: str) -> None:
        self.sam.model = name
        self.actions[name].setChecked(True)

    def _disk_cache_toggled(self, keep: bool) -> None:
        self.sam.disk_cache = (self._cache_folder or default_cache_folder()) if keep else None
        if self.settings is not None:
            self.settings.setValue(DISK_CACHE_KEY, keep)
            self.settings.sync()
