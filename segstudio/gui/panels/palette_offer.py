"""A new project's classes: inferred from the data where it says, asked once without blocking.

A folder of images opened for the first time becomes a project with the palette its data points
to (``io.palette_guess``: Cityscapes file names, a COCO file's categories, the values of label
PNGs named after the photos), else the palette last used (kept in the user's settings; the
built-in sample palette before any), never simply VOC. The status bar says which and why, and
the Classes dock offers, once, to use another palette: the chosen one is preselected, so
ignoring the offer keeps it. Reopening the folder finds its project and asks nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from segstudio.core.palette import BUILTIN_PALETTES, Palette, PaletteError, builtin_palette
from segstudio.gui.document.projects import creates_project, project_roots
from segstudio.io.palette_guess import guess_palette
from segstudio.io.project import Project

if TYPE_CHECKING:
    from segstudio.gui.document.session import Session
    from segstudio.gui.panels.palette_panel import PalettePanel

LAST_USED_KEY = "palette/last-used"
"""User setting: the palette of the last project worked on (its JSON form)."""


class LastUsedPalette(QObject):
    """Remembers the palette of the project in use, for the next new project."""

    def __init__(self, settings: QSettings | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._palette: Palette | None = None
        """Without settings (tests, embedded use): remembered for this window only."""

    def remember(self, palette: Palette) -> None:
        self._palette = palette
        if self.settings is not None and len(palette):
            self.settings.setValue(LAST_USED_KEY, json.dumps(palette.to_dict()))

    def palette(self) -> Palette | None:
        """The last used palette, or None before any (an unreadable setting counts as none)."""
        if self.settings is None:
            return self._palette
        text = self.settings.value(LAST_USED_KEY, "", type=str)
        if not text:
            return self._palette
        try:
            return Palette.from_dict(json.loads(text))
        except (ValueError, PaletteError):
            return self._palette


class PaletteOffer(QFrame):
    """ "This new project uses … — Use another?": a combo of the current and built-in palettes."""

    chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.choices = QComboBox()
        self.choices.installEventFilter(self)
        self.use = QPushButton("Use")
        self.use.setToolTip("Give the new project these classes")
        self.use.clicked.connect(self._use)
        keep = QPushButton("Keep")
        keep.setToolTip("Keep the classes it has (the dock's Load button changes them later)")
        keep.clicked.connect(self.hide)
        row = QHBoxLayout()
        row.addWidget(self.choices, 1)
        row.addWidget(self.use)
        row.addWidget(keep)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.text)
        layout.addLayout(row)
        self._palettes: list[Palette] = []
        self.hide()

    def offer(self, current: Palette, why: str) -> None:
        """Ask once which classes a new project has; ``current`` (inferred from the data, else the
        last used, else the default) preselected, ``why`` it was chosen."""
        self._palettes = [
            current,
            *(builtin_palette(name) for name in BUILTIN_PALETTES if name != current.name),
        ]
        self.choices.clear()
        self.choices.addItem(f"{current.name} ({len(current)} classes, {why.split(':')[0]})")
        for palette in self._palettes[1:]:
            self.choices.addItem(f"{palette.name} ({len(palette)} classes)")
        self.text.setText(f"New project: its classes are {current.name!r} ({why}). Use others?")
        self.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        """Letters typed into the focused combo search it: the window's one-key shortcuts (A, D
        and the tools' letters) do not take them."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            plain = not event.modifiers() & ~Qt.KeyboardModifier.ShiftModifier
            if plain and event.text().isprintable() and event.text().strip():
                event.accept()
                return True
        return super().eventFilter(watched, event)

    def _use(self) -> None:
        palette = self._palettes[self.choices.currentIndex()]
        self.hide()
        self.chosen.emit(palette)


class NewProjectPalette(QObject):
    """Gives a new image folder's project the palette its data says (else the last used), says
    so, then offers others once."""

    explained = Signal(str)
    """Which classes a new project got and why, for the status bar."""

    def __init__(
        self,
        settings: QSettings | None,
        session: Session,
        panel: PalettePanel,
        data_dir: Path,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.last_used = LastUsedPalette(settings, self)
        self.panel, self.data_dir = panel, data_dir
        self._fresh: tuple[Path, ...] = ()
        """Where the project about to be created lives (empty: the next opening makes none)."""
        self._why = ""
        """Why the project about to be created gets its palette."""
        session.project_opened.connect(self._opened)
        panel.palette_edited.connect(self.last_used.remember)

    def palette_for(self, path: Path) -> Palette | None:
        """The palette a project made by opening ``path`` gets: the one its data says, else the
        last used (that of the project open now, if any), else None (the sample palette). An
        existing project keeps its own (None: nothing is looked at)."""
        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        if not creates_project(path, self.data_dir):
            self._fresh = ()
            return None
        self._fresh = tuple(r.resolve() for r in project_roots(folder, self.data_dir))
        guess = guess_palette(folder)
        if guess is not None:
            self._why = f"inferred from the data: {guess.reason}"
            return guess.palette
        remembered = self.last_used.palette()
        self._why = "last used" if remembered is not None else "the default"
        return remembered

    def _opened(self, project: Project) -> None:
        fresh, self._fresh = self._fresh, ()
        if project.root.resolve() in fresh:
            palette = project.palette
            self.panel.offer.offer(palette, self._why)
            self.explained.emit(f"New project: classes {palette.name!r} ({len(palette)}), {self._why}")
        else:
            self.panel.offer.hide()
        self.last_used.remember(project.palette)
