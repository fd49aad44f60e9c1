"""Bundled resources (sample images, icons); shipped as the package ``segstudio.resources``."""
