"""Semantic label PNGs: one class value per pixel, a void value (255) for unlabelled.

The common layout of VOC SegmentationClass, ADE20K and most segmentation training code. Two
kinds of file carry the values: grey PNGs (1 to 16 bit) and indexed (palette, "P-mode") PNGs,
whose pixels are indices into a colour table: VOC's files are indexed, index 255 the void
border drawn (224, 224, 192).

Values are read exactly, never resampled or colour-converted. libpng (``io.png``) expands an
indexed PNG to colours, which loses the indices; so an indexed file is decoded relabelled as the
grey PNG it is byte for byte (same samples, filters and interlacing; colour type 3 -> 0, PLTE
dropped), which gives the indices back. libpng scales 1/2/4-bit grey samples up to 8 bits; they
are scaled back. PNGs, indexed ones with their colour table, are written by ``io.png_encode``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from segstudio.core.labels import VOID, LabelMap, Provenance
from segstudio.core.palette import Palette, voc_color_map
from segstudio.io.atomic import atomic_directory, atomic_write_bytes
from segstudio.io.datasets import (
    DatasetError,
    Decoded,
    LabelDataset,
    LabelStream,
    LazyRecord,
    label_file_path,
    loaded,
    write_records,
)
from segstudio.io.images import ImageReadError, image_size
from segstudio.io.png import (
    CHANNELS,
    GREY,
    INDEXED,
    decode_png,
    indexed_as_grey,
    png_header,
    read_png_file,
)
from segstudio.io.png_encode import encode_png
from segstudio.io.safe_files import check_regular_file

SEMANTIC_VOID = 255
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


# -- label PNGs --------------------------------------------------------------------------------


def read_label_values(path: str | Path) -> np.ndarray:
    """The exact sample values of a one-channel PNG: grey (uint8, or uint16 when 16-bit) or indexed.

    Raises ImageReadError naming the file when it cannot be read or holds colour pixels.
    """
    path = Path(path)
    data = read_png_file(path)
    header = png_header(data, path)
    if header.colour_type == INDEXED:
        if header.bit_depth not in (1, 2, 4, 8):
            raise ImageReadError(f"{path}: corrupt PNG ({header.bit_depth}-bit indexed)")
        data = indexed_as_grey(data, path)
    elif header.colour_type != GREY:
        raise ImageReadError(
            f"{path}: {header.kind} PNG; a label PNG must have one channel of class values "
            f"(greyscale or indexed), found {CHANNELS.get(header.colour_type, '?')} channels"
        )
    values = decode_png(data, path)
    if values.ndim != 2:
        raise ImageReadError(f"{path}: corrupt or truncated PNG")
    if header.bit_depth < 8:  # libpng spreads 1/2/4-bit samples over 0..255: 255 // (2**b - 1) each
        values //= 255 // ((1 << header.bit_depth) - 1)
    return values


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
    reserved = (values == VOID) & (values != void)
    if reserved.any():
        y, x = np.argwhere(reserved)[0]
        raise ImageReadError(
            f"{path}: pixel ({x}, {y}) has value {VOID}, which cannot be a class id (segstudio keeps it "
            "for unlabelled); give it as the void value, or relabel it"
        )
    category = values.astype(np.uint16)
    category[values == void] = VOID
    return LabelMap.from_arrays(category, provenance=Provenance.HUMAN)


def _label_png_bytes(labels: LabelMap, void: int, palette: Palette | None, where: object) -> bytes:
    """Encoded 8-bit label PNG; ValueError starting with ``where`` when the ids do not fit."""
    if not 0 <= void <= 255:
        raise ValueError(f"{where}: void value {void} does not fit an 8-bit PNG")
    category = labels.category
    present = np.flatnonzero(np.bincount(category.ravel(), minlength=VOID + 1)[:VOID])
    bad = [int(c) for c in present if c > 255 or c == void]
    if bad:
        raise ValueError(
            f"{where}: class id {bad[0]} cannot be written to an 8-bit label PNG "
            f"(class ids must be 0..255 and differ from the void value {void})"
        )
    values = np.where(category == VOID, void, category).astype(np.uint8)
    return encode_png(values, where, palette=None if palette is None else indexed_colors(palette, void))


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
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            continue  # not skipped when not a regular file: reading it then says what it is
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
    Records are in mask-name order; ``id`` is the stem. :func:`scan_semantic_dataset` without
    decoding.
    """
    return loaded(scan_semantic_dataset(masks_dir, images_dir, palette, void))


def scan_semantic_dataset(
    masks_dir: str | Path, images_dir: str | Path, palette: Palette, void: int = SEMANTIC_VOID
) -> LabelStream:
    """The records of :func:`read_semantic_dataset`, masks decoded (and checked) only when loaded;
    the photos' sizes are read now, from their headers."""
    masks_dir, images_dir = Path(masks_dir), Path(images_dir)
    if not masks_dir.is_dir():
        raise DatasetError(f"{masks_dir}: mask folder not found")
    masks = sorted(p for p in masks_dir.iterdir() if p.suffix.lower() == ".png")
    for mask in masks:  # a folder, pipe or dangling link named like a mask is an error, not skipped
        check_regular_file(mask, DatasetError)
    if not masks:
        raise DatasetError(f"{masks_dir}: no PNG masks found")
    images = _images_by_stem(images_dir)
    unmatched = [m.name for m in masks if m.stem not in images]
    if unmatched:
        raise DatasetError(f"{images_dir}: no image for masks {_few(unmatched)} (matched by file stem)")
    known = tuple(palette.ids)
    records: list[LazyRecord] = []
    for mask in masks:
        image = images[mask.stem]
        try:
            height, width = image_size(image)
        except ImageReadError as error:
            raise DatasetError(str(error)) from error
        entry = {"id": mask.stem, "file_name": image.name, "height": height, "width": width}
        load = partial(_mask_labels, mask, image.name, (height, width), void, known, palette.name)
        records.append(LazyRecord(entry, load))
    return LabelStream(records, palette, [])


def _mask_labels(
    mask: Path, image_name: str, size: tuple[int, int], void: int, known: tuple[int, ...], palette_name: str
) -> Decoded:
    """One mask decoded and checked against its photo's size and the palette."""
    try:
        labels = read_semantic_png(mask, void)
    except ImageReadError as error:
        raise DatasetError(str(error)) from error
    if size != labels.shape:
        raise DatasetError(
            f"{mask}: mask is {labels.shape[1]}x{labels.shape[0]} but {image_name} is {size[1]}x{size[0]}"
        )
    present = set(np.flatnonzero(np.bincount(labels.category.ravel(), minlength=VOID + 1)[:VOID]).tolist())
    unknown = sorted(present - set(known))
    if unknown:
        raise DatasetError(f"{mask}: values {unknown} are not classes of palette {palette_name!r}")
    return Decoded(labels, [])


class SemanticWriter:
    """Semantic PNGs as a :class:`~segstudio.io.datasets.DatasetWriter`: one label PNG per image."""

    def __init__(self, palette: Palette, indexed: bool = True, void: int = SEMANTIC_VOID) -> None:
        self.palette = palette
        self.indexed = indexed
        self.void = void

    def name_of(self, file_name: str) -> PurePosixPath:
        return label_file_path(file_name, ".png")

    def write_image(self, folder: Path, entry: dict[str, Any], labels: LabelMap, name: Any) -> None:
        where = f"image {entry['id']!r} ({entry['file_name']!r})"
        data = _label_png_bytes(labels, self.void, self.palette if self.indexed else None, where)
        atomic_write_bytes(folder / name, data, durable=False)

    def finish(self, folder: Path, entries: list[dict[str, Any]], results: list[Any]) -> None:
        """Nothing beyond the PNGs."""


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
        write_records(staging, records, SemanticWriter(palette, indexed, void))
    return out_dir
