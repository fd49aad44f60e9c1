"""labelme's own rasterisation, when labelme is installed (a dev-only reference, never a dependency).

labelme's package ``__init__`` pulls in Qt bindings and onnxruntime; ``labelme/utils/shape.py``
needs only numpy and Pillow (and a type name from ``labelme._label_file``). So it is loaded by
path from the installed distribution when the package itself cannot be imported; this runs
labelme's code unchanged (``pip install --no-deps labelme`` is enough).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any


def labelme_shape_module() -> Any | None:
    """labelme's ``labelme.utils.shape`` module, or None when labelme is not installed."""
    try:
        return importlib.import_module("labelme.utils.shape")
    except Exception:  # noqa: BLE001 - any missing optional dependency of labelme's package
        pass
    spec = importlib.util.find_spec("labelme")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "utils" / "shape.py"
    if not path.is_file():
        return None
    label_file = types.ModuleType("labelme._label_file")
    label_file.ShapeDict = dict  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in ("labelme", "labelme._label_file")}
    sys.modules.setdefault("labelme", types.ModuleType("labelme"))
    sys.modules["labelme._label_file"] = label_file
    try:
        module_spec = importlib.util.spec_from_file_location("labelme_reference_shape", path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
