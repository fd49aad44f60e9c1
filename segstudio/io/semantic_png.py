"""Semantic label PNGs: one class value per pixel, a void value (255) for unlabelled.

The common layout of VOC SegmentationClass, ADE20K and most segmentation training code. Two
kinds of file carry the values: grey PNGs (8 or 16 bit) and indexed (palette, "P-mode") PNGs,
whose pixels are indices into a colour table: VOC's files are indexed, index 255 the void
border drawn (224, 224, 192).

Values are read exactly, never resampled or colour-converted. OpenCV expands an indexed PNG to
BGR colours, which loses the indices; so an indexed file is handed to OpenCV relabelled as the
grey PNG it is byte for byte (same samples, filters and interlacing; colour type 3 -> 0, PLTE
dropped), which gives the indices back. Indexed PNGs are written here with zlib + struct, since
OpenCV cannot write a colour table.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np

from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.palette import Palette, voc_color_map
from segstudio.io.atomic import atomic_directory, atomic_write_bytes
from segstudio.io.dataset_errors import (
    DatasetError,
    LabelDataset,
    Record,
    checked_records,
    label_file_path,
    unique_output,
)
from segstudio.io.images import ImageReadError, image_size

SEMANTIC_VOID = 255
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_GREY, _INDEXED = 0, 3


# -- PNG bytes -----------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _chunks(data: bytes, path: Path) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk up to IEND, CRCs checked; ImageReadError when malformed."""
    chunks = []
    offset = len(PNG_SIGNATURE)
    while True:
        if offset + 8 > len(data):
            raise ImageReadError(f"{path}: truncated PNG (no IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8 : offset + 8 + length]
        crc = data[offset + 8 + length : offset + 12 + length]
        if len(body) < length or len(crc) < 4:
            raise ImageReadError(f"{path}: truncated PNG ({kind.decode('latin-1')} chunk cut short)")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body):
            raise ImageReadError(f"{path}: corrupt PNG (bad CRC in {kind.decode('latin-1')} chunk)")
        chunks.append((kind, body))
        offset += 12 + length
        if kind == b"IEND":
            return chunks


def _indexed_as_grey(data: bytes, path: Path) -> bytes | None:
    """The same PNG declared 8-bit grey when it is indexed (pixels = indices); None otherwise."""
    if len(data) < 33 or data[12:16] != b"IHDR" or data[25] != _INDEXED:
        return None
    chunks = _chunks(data, path)
    header = chunks[0][1]
    if chunks[0][0] != b"IHDR" or len(header) != 13:
        raise ImageReadError(f"{path}: corrupt PNG (first chunk is not a 13-byte IHDR)")
    if header[8] != 8:
        raise ImageReadError(
            f"{path}: {header[8]}-bit indexed PNG; only 8-bit indexed label PNGs are supported"
        )
    grey_header = header[:9] + bytes([_GREY]) + header[10:]
    idat = b"".join(_chunk(kind, body) for kind, body in chunks if kind == b"IDAT")
    return PNG_SIGNATURE + _chunk(b"IHDR", grey_header) + idat + _chunk(b"IEND", b"")


def read_label_values(path: str | Path) -> np.ndarray:
    """The exact sample values of a one-channel PNG: grey (uint8/uint16) or 8-bit indexed (uint8).

    Raises ImageReadError naming the file when it cannot be read or holds colour pixels.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read label PNG ({error.strerror or error})") from error
    if not data.startswith(PNG_SIGNATURE):
        raise ImageReadError(f"{path}: not a PNG file")
    data = _indexed_as_grey(data, path) or data
    try:
        values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        values = None
    if values is None:
        raise ImageReadError(f"{path}: corrupt or truncated PNG")
    if values.ndim != 2:
        raise ImageReadError(
            f"{path}: label PNG must have one channel of class values, found {values.shape[2]} channels"
        )
    return values


def encode_indexed_png(values: np.ndarray, colors: np.ndarray) -> bytes:
    """An 8-bit indexed PNG of ``values`` (H, W uint8) with colour table ``colors`` (N <= 256, 3)."""
    height, width = values.shape
    rows = np.zeros((height, width + 1), np.uint8)  # each row starts with filter type 0 (none)
    rows[:, 1:] = values
    header = struct.pack(">IIBBBBB", width, height, 8, _INDEXED, 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", np.ascontiguousarray(colors, np.uint8).tobytes()),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)),
            _chunk(b"IEND", b""),
        )
    )


def indexed_colors(palette: Palette, void: int = SEMANTIC_VOID) -> np.ndarray:
    """A 256-entry colour table: palette colours at their ids, the void colour at ``void``.

    Unused entries take the VOC colour map, so a VOC export has VOC's own table.
    """
    table = voc_color_map(256)
    for c in palette:
        if c.id < 256:
            table[c.id] = c.color
    table[void] = palette.void_color
    return table


# -- one file ------------------------------------------------------------------------------------


def read_semantic_png(path: str | Path, void: int = SEMANTIC_VOID) -> LabelMap:
    """Read a grey (8/16-bit) or indexed (8-bit) PNG of class values; ``void`` pixels become VOID."""
    values = read_label_values(path)
    category = values.astype(np.uint16)
    category[values == void] = VOID
    return LabelMap.from_arrays(category, provenance=Provenance.HUMAN)


def _label_png_bytes(labels: LabelMap, void: int, palette: Palette | None, where: object) -> bytes:
    """Encoded 8-bit label PNG; ValueError starting with ``where`` when the ids do not fit."""
    if not 0 <= void <= 255:
        raise ValueError(f"{where}: void value {void} does not fit an 8-bit PNG")
    category = labels.category
    present = np.unique(category[category != VOID])
    bad = [int(c) for c in present if c > 255 or c == void]
    if bad:
        raise ValueError(
            f"{where}: class id {bad[0]} cannot be written to an 8-bit label PNG "
            f"(class ids must be 0..255 and differ from the void value {void})"
        )
    values = np.where(category == VOID, void, category).astype(np.uint8)
    if palette is not None:
        return encode_indexed_png(values, indexed_colors(palette, void))
    ok, encoded = cv2.imencode(".png", values)
    if not ok:
        raise OSError(f"{where}: PNG encoding failed")
    return encoded.tobytes()


def write_semantic_png(
    path: str | Path, labels: LabelMap, void: int = SEMANTIC_VOID, palette: Palette | None = None
) -> None:
    """Write class values as an 8-bit PNG (VOID -> ``void``), atomically.

    Grey by default; with a ``palette``, an indexed PNG whose colour table is the palette's (what
    VOC files are). Class ids above 255, or equal to ``void``, do not fit and are refused.
    """
    atomic_write_bytes(path, _label_png_bytes(labels, void, palette, path))


# -- folders -------------------------------------------------------------------------------------


def _images_by_stem(images_dir: Path) -> dict[str, Path]:
    if not images_dir.is_dir():
        raise DatasetError(f"{images_dir}: image folder not found")
    found: dict[str, Path] = {}
    for image in sorted(images_dir.iterdir()):
        if image.suffix.lower() not in IMAGE_SUFFIXES or not image.is_file():
            continue
        if image.stem in found:
            raise DatasetError(
                f"{image}: same name as {found[image.stem].name}; cannot tell which has the mask"
            )
        found[image.stem] = image
    return found


def _few(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def read_semantic_dataset(
    masks_dir: str | Path, images_dir: str | Path, palette: Palette, void: int = SEMANTIC_VOID
) -> LabelDataset:
    """Read every ``<stem>.png`` of ``masks_dir`` and pair it with ``images_dir/<stem>.<ext>``.

    A mask without an image, a size mismatch, or a value outside the palette is an error naming
    the file. Images without a mask are not part of the dataset (VOC's JPEGImages holds many).
    Records are in mask-name order; ``id`` is the stem.
    """
    masks_dir, images_dir = Path(masks_dir), Path(images_dir)
    if not masks_dir.is_dir():
        raise DatasetError(f"{masks_dir}: mask folder not found")
    masks = sorted(p for p in masks_dir.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    if not masks:
        raise DatasetError(f"{masks_dir}: no PNG masks found")
    images = _images_by_stem(images_dir)
    unmatched = [m.name for m in masks if m.stem not in images]
    if unmatched:
        raise DatasetError(f"{images_dir}: no image for masks {_few(unmatched)} (matched by file stem)")
    known = set(palette.ids)
    records: list[Record] = []
    for mask in masks:
        image = images[mask.stem]
        try:
            labels = read_semantic_png(mask, void)
            size = tuple(image_size(image))
        except ImageReadError as error:
            raise DatasetError(str(error)) from error
        if size != labels.shape:
            raise DatasetError(
                f"{mask}: mask is {labels.shape[1]}x{labels.shape[0]} but {image.name} is {size[1]}x{size[0]}"
            )
        present = {int(v) for v in np.unique(labels.category)} - {VOID}
        unknown = sorted(present - known)
        if unknown:
            raise DatasetError(f"{mask}: values {unknown} are not classes of palette {palette.name!r}")
        height, width = labels.shape
        entry = {"id": mask.stem, "file_name": image.name, "height": height, "width": width}
        records.append((entry, labels))
    return LabelDataset(records, palette, [])


def write_semantic_dataset(
    out_dir: str | Path,
    records: Iterable[tuple[Mapping[str, Any], LabelMap]],
    palette: Palette,
    indexed: bool = True,
    void: int = SEMANTIC_VOID,
    overwrite: bool = False,
) -> Path:
    """Write one ``<stem>.png`` per image (subfolders of ``file_name`` kept); all or nothing.

    Indexed PNGs carry the palette's colours (VOC style); ``indexed=False`` writes grey PNGs.
    Returns ``out_dir``.
    """
    out_dir = Path(out_dir)
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        taken: set[PurePosixPath] = set()
        for entry, labels in checked_records(records, palette):
            name = label_file_path(entry["file_name"], ".png")
            unique_output(name, taken, entry)
            where = f"image {entry['id']!r} ({entry['file_name']!r})"
            data = _label_png_bytes(labels, void, palette if indexed else None, where)
            atomic_write_bytes(staging / name, data)
    return out_dir
