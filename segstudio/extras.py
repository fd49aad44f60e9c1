"""The optional parts of segstudio (the ``models`` extra) and how a user gets them when missing.

One wording for the app's Models dock and every model command; the standalone bundle leaves torch
out on purpose, so there the way is a pip install of segstudio rather than of torch into the bundle.
"""

from __future__ import annotations

import sys

MODELS_PIP = "pip install 'segstudio[models]'"


def models_missing(error: ImportError) -> str:
    """One line: what the models need, that it is missing here, and how to get it."""
    if getattr(sys, "frozen", False):
        return (
            "the models need PyTorch, which this standalone build leaves out (several GB); everything "
            "else works here. To pre-label and train with models, install segstudio with pip in a "
            f"Python 3.11+ environment: {MODELS_PIP}"
        )
    return f"the models need PyTorch and torchvision, missing here ({error}); install them with: {MODELS_PIP}"
