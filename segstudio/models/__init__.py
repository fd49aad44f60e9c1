"""Segmentation models and the plain-Python runner. torch lives here and only here; never Qt."""
