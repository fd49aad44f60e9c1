"""segstudio: a desktop studio for segmentation labels."""

from importlib.metadata import PackageNotFoundError, version

try:  # the installed distribution's version (pyproject.toml's), wheel, editable or bundle alike
    __version__ = version("segstudio")
except PackageNotFoundError:  # a bare source tree on sys.path, never installed
    __version__ = "0+unknown"
