"""Where the app keeps its preferences (recent projects, shortcuts): one INI file per user.

An INI file (not the registry or a plist) so that ``QSettings.setPath`` can point it anywhere,
which is how the tests keep their hands off the user's real settings. Windows built without
settings (benchmarks, embedding) keep their preferences in memory only.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

ORGANIZATION = "segstudio"
APPLICATION = "segstudio"


def user_settings() -> QSettings:
    """The user's settings file (``QSettings.setPath`` for IniFormat/UserScope decides where)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def string_list(value: object) -> list[str]:
    """A list of strings read back from QSettings, which gives a one-item list as a bare string."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return []
