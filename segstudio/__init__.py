"""segstudio: a desktop studio for segmentation labels."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed metadata when first asked for: importlib.metadata
    costs start-up tens of milliseconds that the window does not need."""
    if name != "__version__":
        raise AttributeError(f"module 'segstudio' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:  # the installed distribution's version (pyproject.toml's), wheel, editable or bundle alike
        found = version("segstudio")
    except PackageNotFoundError:  # a bare source tree on sys.path, never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
