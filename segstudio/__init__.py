"""segstudio: a desktop studio for segmentation labels."""

__version__ = "0.1.0"
