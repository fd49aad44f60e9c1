"""Large JSON files read one list entry at a time (ijson, with its C backend where installed).

A dataset's annotation file can hold hundreds of thousands of entries: COCO train's panoptic
JSON is ~0.9 GB once parsed into Python objects. Read through :func:`json_items`, memory holds
one entry; each list read is one pass over the file (~25 MB/s with the C backend, about the
speed of ``json.load``). Errors name the file: a syntax error is reported as ``read_json``
reports it (line and column), a file that is not a JSON object says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson

from segstudio.io.datasets import DatasetError, read_json
from segstudio.io.safe_files import check_regular_file

_WHITESPACE = b" \t\r\n"
_BUFFER = 1 << 16


def check_json_object(path: Path, error_type: type[ValueError] = DatasetError) -> None:
    """``error_type`` naming ``path`` unless it is a readable file whose JSON starts with ``{``
    (streamed lists are looked for in a top-level object; any other top level would hold none)."""
    check_regular_file(path, error_type)
    try:
        with path.open("rb") as file:
            head = file.read(_BUFFER).lstrip(_WHITESPACE).removeprefix(b"\xef\xbb\xbf").lstrip(_WHITESPACE)
    except OSError as error:
        raise error_type(f"{path}: cannot read ({error.strerror or error})") from error
    if not head.startswith(b"{"):
        if head and head[:1] in b'["-0123456789tfn':
            raise error_type(f"{path}: expected a JSON object at the top level")
        _syntax_error(path, error_type, "empty file" if not head else "not JSON")


def json_items(path: Path, prefix: str, error_type: type[ValueError] = DatasetError) -> Iterator[Any]:
    """Each value at ijson ``prefix`` of the file (``"annotations.item"``: the entries of the
    top-level ``annotations`` list, none when it is absent), numbers as ``json`` gives them
    (int or float, never Decimal). A syntax error anywhere in the file raises ``error_type``."""
    try:
        with path.open("rb") as file:
            yield from ijson.items(file, prefix, use_float=True, buf_size=_BUFFER)
    except ijson.JSONError as error:
        _syntax_error(path, error_type, str(error))
    except OSError as error:
        raise error_type(f"{path}: cannot read ({error.strerror or error})") from error


def _syntax_error(path: Path, error_type: type[ValueError], reason: str) -> None:
    """Raise the error ``read_json`` gives for this file (line and column), else one naming ``reason``.

    The whole file is parsed once more for this, on the error path only."""
    read_json(path, error_type)
    first = reason.strip().splitlines()[0] if reason.strip() else "syntax error"
    raise error_type(f"{path}: not valid JSON ({first})")
