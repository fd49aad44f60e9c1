"""The structure of every dataset file, checked before a reader uses a value (issue 14).

One module per format declares what its JSON must hold (pydantic models in strict mode: an id
is an integer, not ``3937500.7``, ``"3"``, ``true`` or ``null``; ``iscrowd`` is 0/1 or a bool,
never ``"no"``). :func:`validate` runs a model over parsed JSON and turns the first problem into
one line naming the file and the place (``annotations[3].segments_info[0].id``), so no type
error can reach arithmetic or indexing further down. Fields the models do not name are kept and
ignored, as the formats' own tools do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, TypeAdapter, ValidationError

from segstudio.io.safe_files import printable

Number = StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)]
"""A finite JSON number."""


class Entry(BaseModel):
    """A JSON object whose fields beyond those declared are kept and not checked."""

    model_config = ConfigDict(extra="allow", strict=True)


def location(loc: tuple[int | str, ...]) -> str:
    """``("annotations", 3, "id")`` -> ``annotations[3].id``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _is_union_tag(part):
            text += f".{part}" if text else part
    return text


def validate(
    schema: type[BaseModel] | TypeAdapter[Any], data: Any, path: Path, error_type: type[ValueError]
) -> None:
    """Raise ``error_type`` naming ``path`` and the first wrong field unless ``data`` fits ``schema``.

    A model's lists of entries (a COCO file's ``images``, ``annotations``) are checked one entry at
    a time, after the rest of the document: validating a whole file at once builds a model of
    every entry, three times the parsed JSON in memory (a 5,000-image panoptic file: +63 MB), where
    the import streams.
    """
    if isinstance(schema, TypeAdapter) or not isinstance(data, dict):
        _check(schema, data, path, error_type)
        return
    lists = _entry_lists(schema)
    _check(
        schema,
        {k: [] if k in lists and isinstance(v, list) else v for k, v in data.items()},
        path,
        error_type,
    )
    for name, entry_model in lists.items():
        items = data.get(name)
        if isinstance(items, list):
            for n, item in enumerate(items):
                _check(entry_model, item, path, error_type, (name, n))


def validate_entry(
    model: type[BaseModel], entry: Any, path: Path, error_type: type[ValueError], where: tuple[int | str, ...]
) -> None:
    """One entry of a file's list (``where``: ``("annotations", 3)``) checked as :func:`validate`
    checks it, for readers that stream a file's entries (``io.json_stream``)."""
    _check(model, entry, path, error_type, where)


def _entry_lists(schema: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The fields of ``schema`` that are lists of models, with their entry model."""
    lists = {}
    for name, field in schema.model_fields.items():
        if get_origin(field.annotation) is list:
            (entry,) = get_args(field.annotation)
            if isinstance(entry, type) and issubclass(entry, BaseModel):
                lists[name] = entry
    return lists


def _check(
    schema: type[BaseModel] | TypeAdapter[Any],
    data: Any,
    path: Path,
    error_type: type[ValueError],
    prefix: tuple[int | str, ...] = (),
) -> None:
    try:
        if isinstance(schema, TypeAdapter):
            schema.validate_python(data)
        else:
            schema.model_validate(data)
    except ValidationError as error:
        # in a union (polygons or RLE), the member that got furthest says what is wrong
        first = max(error.errors(include_url=False), key=lambda e: len(e["loc"]))
        where = location(prefix + tuple(first["loc"]))
        field = f"{where}: " if where else ""
        if first["type"] == "missing":
            raise error_type(f"{path}: {field}required field is missing") from None
        shown = printable(repr(first.get("input")))
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        message = first["msg"][0].lower() + first["msg"][1:]
        raise error_type(f"{path}: {field}{message}, got {shown}") from None


def _is_union_tag(part: str) -> bool:
    """pydantic names the union member it tried (``int``, ``list[...]``, ``Rle``) in locations."""
    return part in ("int", "str", "bool", "float", "none") or "[" in part or part[:1].isupper() or "-" in part
