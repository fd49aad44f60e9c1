"""COCO panoptic datasets: read, write and evaluate (annotation JSON + a folder of RGB PNGs).

Format (cocodataset/panopticapi): ``images``, ``annotations`` (one per image: ``image_id``,
``file_name`` of its PNG, ``segments_info``) and ``categories`` (``id``, ``name``,
``supercategory``, ``isthing``, ``color``). PNG pixels carry ``id = R + 256*G + 256**2*B``.
The PNG folder defaults to the JSON path without ``.json``, as in the panoptic API.

Every error names the file it is about, so a broken dataset can be fixed without guessing:
``DatasetError`` (a ValueError, as for every format) for JSON and consistency problems,
``ImageReadError`` (an OSError) for PNGs that are missing or not 8-bit RGB. Segment ids
round-trip as ``segstudio.core.panoptic`` documents.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, TypeVar

import numpy as np

from segstudio.core.jobs import ProgressCallback
from segstudio.core.labels import LabelMap
from segstudio.core.palette import Palette
from segstudio.core.panoptic import labels_to_panoptic_rgb, panoptic_to_labels, rgb_to_ids
from segstudio.core.pq import PQStat, pq_image, pq_of_pair_counts, pq_results
from segstudio.io import png_native
from segstudio.io.atomic import atomic_directory
from segstudio.io.datasets import (
    COCO_ANNOTATIONS_DIR,
    DatasetError,
    Decoded,
    LabelStream,
    LazyRecord,
    categories_palette,
    coco_categories,
    label_file_path,
    read_json,
    write_coco_json,
    write_records,
)
from segstudio.io.images import ImageReadError, write_png
from segstudio.io.json_stream import check_json_object, json_items
from segstudio.io.panoptic_eval_entries import annotation_fits, check_annotation, check_category
from segstudio.io.parallel import OrderedPool, PoolFactory, map_in_batches, prestart
from segstudio.io.png import RGB, decode_png, png_header, read_png_file, rgb_rows
from segstudio.io.png_native import RgbRows
from segstudio.io.safe_files import contained_path

JSON_NAME = "panoptic.json"
PNG_DIR = "panoptic"
Result = TypeVar("Result")


@dataclass
class PanopticRecord:
    """One image of a dataset: its ``images`` entry (kept exactly as read) and its labels."""

    image: dict[str, Any]
    labels: LabelMap


@dataclass
class PanopticDataset:
    """A whole COCO panoptic file: its categories as a palette, records in ``images`` order."""

    palette: Palette
    records: list[PanopticRecord]
    info: dict[str, Any] | None = None
    licenses: list[Any] = field(default_factory=list)


# -- PNG -----------------------------------------------------------------------------------------


def read_panoptic_png(path: str | Path) -> np.ndarray:
    """The uint32 segment-id map of a COCO panoptic PNG; ImageReadError for anything but 8-bit RGB."""
    return _panoptic_ids(*_panoptic_file(Path(path)))


class _PanopticFile(NamedTuple):
    """A panoptic PNG's bytes, read and checked up to its pixels."""

    path: Path
    data: bytes
    rows: RgbRows | None
    """Its inflated rows where the compiled path takes them."""


def _panoptic_file(path: Path) -> _PanopticFile:
    """A panoptic PNG read and checked (ImageReadError naming it: unreadable, torn, bit-flipped,
    not 8-bit RGB) with its inflated rows where the compiled path takes them."""
    data = read_png_file(path)
    rows = png_native.plain_rgb_rows(data)  # a plain file's chunks walked in C, the GIL released
    if rows is not None:
        return _PanopticFile(path, data, rows)
    header = png_header(data, path)
    if (header.colour_type, header.bit_depth) != (RGB, 8):
        raise ImageReadError(
            f"{path}: {header.kind} PNG; panoptic PNGs must be 8-bit RGB (id = R + 256G + 65536B)"
        )
    return _PanopticFile(path, data, rgb_rows(data, path))


def _panoptic_ids(path: Path, data: bytes, rows: RgbRows | None) -> np.ndarray:
    ids = None if rows is None else png_native.rgb_ids(rows)  # one compiled pass
    return ids if ids is not None else rgb_to_ids(decode_png(data, path))


# -- JSON ----------------------------------------------------------------------------------------


def _annotation(entry: Any, index: int, path: Path) -> tuple[Any, str, list[Mapping[str, Any]]]:
    """(image_id, PNG file name, segments_info) of one annotation, checked."""
    where = f"{path}: annotation #{index}"
    if not isinstance(entry, Mapping):
        raise DatasetError(f"{where}: expected an object")
    for key in ("image_id", "file_name", "segments_info"):
        if key not in entry:
            raise DatasetError(f"{where}: missing field {key!r}")
    segments = entry["segments_info"]
    if not isinstance(segments, list):
        raise DatasetError(f"{where}: segments_info must be a list")
    for n, segment in enumerate(segments):
        if not isinstance(segment, Mapping) or "id" not in segment or "category_id" not in segment:
            raise DatasetError(f"{where}: segments_info #{n} needs 'id' and 'category_id'")
    return entry["image_id"], str(entry["file_name"]), segments


def default_png_dir(json_path: str | Path) -> Path:
    """The panoptic API's default PNG folder: the JSON path without ``.json``."""
    return Path(json_path).with_suffix("")


# -- read ----------------------------------------------------------------------------------------


def read_coco_panoptic(
    json_path: str | Path, png_dir: str | Path | None = None, *, allow_absolute: bool = False
) -> PanopticDataset:
    """Read a COCO panoptic dataset into label maps, checking PNGs against ``segments_info``.

    Thing segments keep their segment id as instance id; see ``segstudio.core.panoptic``. PNG
    file names may not lead out of ``png_dir`` (absolute ones elsewhere only with ``allow_absolute``).
    """
    json_path = Path(json_path)
    stream = scan_coco_panoptic(json_path, png_dir, allow_absolute=allow_absolute)
    records = [PanopticRecord(record.image, record.load().labels) for record in stream.records]
    info = next(json_items(json_path, "info"), None)
    licenses = next(json_items(json_path, "licenses"), None)
    return PanopticDataset(
        stream.palette,
        records,
        info if isinstance(info, dict) else None,
        licenses if isinstance(licenses, list) else [],
    )


def scan_coco_panoptic(
    json_path: str | Path, png_dir: str | Path | None = None, *, allow_absolute: bool = False
) -> LabelStream:
    """The JSON of a COCO panoptic dataset checked, and per image a record that reads its PNG
    (see :func:`read_coco_panoptic`).

    The file is streamed (``io.json_stream``): its categories are read, then every image and
    annotation is checked in one pass that keeps only image ids; the records are a second pass,
    made as they are taken, so memory does not grow with the dataset. Annotations are matched to
    images as they come: in the usual layout (both lists in the same order) nothing waits.
    """
    json_path = Path(json_path)
    png_dir = default_png_dir(json_path) if png_dir is None else Path(png_dir)
    check_json_object(json_path)
    # pydantic is imported when a file is checked, not at start-up (0.2 s the app need not pay)
    from segstudio.io.schemas import validate_entry
    from segstudio.io.schemas.coco import Category

    categories = []
    for n, entry in enumerate(json_items(json_path, "categories.item")):
        validate_entry(Category, entry, json_path, DatasetError, ("categories", n))
        categories.append(entry)
    palette = categories_palette(
        coco_categories({"categories": categories}, json_path),
        json_path.stem,
        json_path,
        things_by_default=False,
    )
    records = PanopticRecords(json_path, png_dir, palette, allow_absolute)
    records.check()
    return LabelStream(records, palette, [])


class PanopticRecords:
    """The records of a checked COCO panoptic file, read from it each time they are iterated."""

    def __init__(self, json_path: Path, png_dir: Path, palette: Palette, allow_absolute: bool) -> None:
        self.json_path = json_path
        self.png_dir = png_dir
        self.palette = palette
        self.allow_absolute = allow_absolute
        self._thing_ids = frozenset(palette.thing_ids)
        self._count: int | None = None

    def check(self) -> None:
        """Read the whole file once, raising DatasetError at the first problem; counts the images."""
        self._count = sum(1 for _ in self._matched(check=True))

    def __len__(self) -> int:
        if self._count is None:
            self.check()
        assert self._count is not None
        return self._count

    def __iter__(self) -> Iterator[LazyRecord]:
        for image, file_name, segments in self._matched(check=False):
            png_path = contained_path(
                self.png_dir, file_name, self.json_path, DatasetError, self.allow_absolute
            )
            size = (image.get("height"), image.get("width"))
            where = PanopticSource(self.json_path, png_path, image["id"], size)
            yield LazyRecord(image, partial(_panoptic_labels, where, segments, self._thing_ids))

    def _matched(self, check: bool) -> Iterator[tuple[dict[str, Any], str, list[Mapping[str, Any]]]]:
        """(image entry, PNG file name, segments_info) per image, in ``images`` order; with
        ``check``, every entry is validated and every rule of the format enforced."""
        from segstudio.io.schemas import validate_entry
        from segstudio.io.schemas.coco import Image, PanopticAnnotation

        path = self.json_path
        annotations = enumerate(json_items(path, "annotations.item"))
        waiting: dict[Any, tuple[str, list[Mapping[str, Any]]]] = {}
        matched: set[Any] = set()
        for n, image in enumerate(json_items(path, "images.item")):
            if check:
                validate_entry(Image, image, path, DatasetError, ("images", n))
            if not isinstance(image, Mapping) or "id" not in image:
                raise DatasetError(f"{path}: image #{n} needs an 'id'")
            image_id = image["id"]
            while image_id not in waiting:
                if image_id in matched:
                    raise DatasetError(f"{path}: image id {image_id!r} appears twice in 'images'")
                m, entry = next(annotations, (None, None))
                if m is None:
                    raise DatasetError(f"{path}: image id {image_id!r} has no annotation")
                if check:
                    validate_entry(PanopticAnnotation, entry, path, DatasetError, ("annotations", m))
                annotated_id, file_name, segments = _annotation(entry, m, path)
                if annotated_id in waiting or annotated_id in matched:
                    raise DatasetError(f"{path}: image id {annotated_id!r} has two annotations")
                if check:
                    self._check_annotation(file_name, segments)
                waiting[annotated_id] = (file_name, segments)
            file_name, segments = waiting.pop(image_id)
            matched.add(image_id)
            yield dict(image), file_name, segments
        for m, entry in annotations:  # the rest must not be orphans (nor duplicates)
            if check:
                validate_entry(PanopticAnnotation, entry, path, DatasetError, ("annotations", m))
            annotated_id = _annotation(entry, m, path)[0]
            if annotated_id in waiting or annotated_id in matched:
                raise DatasetError(f"{path}: image id {annotated_id!r} has two annotations")
            waiting[annotated_id] = ("", [])
        if waiting:
            orphan = next(iter(waiting))
            raise DatasetError(f"{path}: annotation for image id {orphan!r} has no entry in 'images'")

    def _check_annotation(self, file_name: str, segments: list[Mapping[str, Any]]) -> None:
        contained_path(self.png_dir, file_name, self.json_path, DatasetError, self.allow_absolute)
        for segment in segments:
            if segment["category_id"] not in self.palette:
                raise DatasetError(
                    f"{self.json_path}: segment {segment['id']} of {file_name} has unknown category_id "
                    f"{segment['category_id']}"
                )


class PanopticSource(NamedTuple):
    """Where one image's panoptic labels come from, for decoding and for error messages."""

    json_path: Path
    png_path: Path
    image_id: Any
    size: tuple[Any, Any]
    """(height, width) of the ``images`` entry; None where the entry leaves them out."""


def _panoptic_labels(
    source: PanopticSource, segments: list[Mapping[str, Any]], thing_ids: frozenset[int]
) -> Decoded:
    """One image's label map from its PNG and ``segments_info``, checked against its entry."""
    ids = read_panoptic_png(source.png_path)
    if None not in source.size and source.size != ids.shape:
        height, width = source.size
        raise DatasetError(
            f"{source.png_path}: PNG is {ids.shape[1]}x{ids.shape[0]} but image {source.image_id!r} is "
            f"{width}x{height} in {source.json_path.name}"
        )
    try:
        return Decoded(panoptic_to_labels(ids, segments, thing_ids), [])
    except ValueError as error:
        raise DatasetError(f"{source.png_path}: {error}") from error


# -- write ---------------------------------------------------------------------------------------


def write_coco_panoptic(
    out_dir: str | Path,
    images: Iterable[tuple[Mapping[str, Any], LabelMap]],
    palette: Palette,
    *,
    info: Mapping[str, Any] | None = None,
    licenses: Sequence[Any] = (),
    overwrite: bool = False,
) -> Path:
    """Export ``(images entry, labels)`` pairs as ``out_dir/annotations/panoptic.json`` + PNGs.

    The folder appears complete or not at all. Image entries are kept as given (``width`` and
    ``height`` added when missing, refused when they disagree with the labels); stuff takes its
    category colour as segment id, things their instance id. Returns the JSON's path.
    """
    out_dir = Path(out_dir)
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        write_coco_panoptic_into(staging, images, palette, info=info, licenses=licenses)
    return out_dir / COCO_ANNOTATIONS_DIR / JSON_NAME


def write_coco_panoptic_into(
    folder: Path,
    images: Iterable[tuple[Mapping[str, Any], LabelMap]],
    palette: Palette,
    *,
    info: Mapping[str, Any] | None = None,
    licenses: Sequence[Any] = (),
) -> Path:
    """Write the dataset into an existing (staging) ``folder``; see :func:`write_coco_panoptic`."""
    write_records(folder, images, PanopticWriter(palette, info, licenses))
    return folder / COCO_ANNOTATIONS_DIR / JSON_NAME


class PanopticWriter:
    """COCO panoptic as a :class:`~segstudio.io.datasets.DatasetWriter`: a PNG per image, then the JSON."""

    def __init__(
        self, palette: Palette, info: Mapping[str, Any] | None = None, licenses: Sequence[Any] = ()
    ) -> None:
        self.palette = palette
        self.info = info
        self.licenses = licenses
        self._colors = {c.id: c.color for c in palette}
        self._thing_ids = palette.thing_ids

    def name_of(self, file_name: str) -> PurePosixPath:
        return label_file_path(file_name, ".png")

    def write_image(self, folder: Path, entry: dict[str, Any], labels: LabelMap, name: Any) -> dict[str, Any]:
        rgb, segments_info = labels_to_panoptic_rgb(labels, self._thing_ids, self._colors)
        write_png(folder / COCO_ANNOTATIONS_DIR / PNG_DIR / name, rgb, durable=False)
        return {"image_id": entry["id"], "file_name": str(name), "segments_info": segments_info}

    def finish(self, folder: Path, entries: list[dict[str, Any]], results: list[Any]) -> None:
        (folder / COCO_ANNOTATIONS_DIR / PNG_DIR).mkdir(parents=True, exist_ok=True)
        json_path = folder / COCO_ANNOTATIONS_DIR / JSON_NAME
        write_coco_json(json_path, entries, results, self.palette, self.info, self.licenses)


# -- evaluate ------------------------------------------------------------------------------------


def evaluate_panoptic_files(
    gt_json: str | Path,
    pred_json: str | Path,
    gt_dir: str | Path | None = None,
    pred_dir: str | Path | None = None,
    warnings: list[str] | None = None,
    *,
    jobs: int = 1,
    progress: ProgressCallback | None = None,
    pool: PoolFactory = OrderedPool,
) -> dict[str, Any]:
    """PQ/SQ/RQ of a prediction file against ground truth, as the COCO panoptic API computes them.

    Returns ``{"All"|"Things"|"Stuff": {pq, sq, rq, n}, "per_class": {"<id>": {pq, sq, rq, tp,
    fp, fn, name}}}``. Like the API, categories (and which are things) come from the ground truth
    as written, and every ground-truth image needs a prediction; extra predicted images are ignored.
    Ground-truth areas that disagree with their PNG are reported in ``warnings``, naming the file.
    Images are scored by ``jobs`` threads where the compiled loops are built, else processes
    (``io.parallel``; see :func:`scoring_pool`), and their sums added in image order, so the
    numbers do not depend on ``jobs`` (nor on ``pool``, which may put them on a cluster);
    ``progress(done, total)`` comes per image.

    Both files are streamed (``io.json_stream``) once: entries are checked as they are read and
    each pair is scored as it comes. A problem of either file is still the error raised before
    any image's: a pair's error waits until both files are read to their end (checked, not
    scored), so the first error does not depend on ``jobs``. With ``progress``, a counting pass
    comes first (the total). Memory holds the categories, the image pairs in flight and the ids
    of the images matched, never the annotations of the whole dataset (see :func:`image_pairs`).
    """
    lazy = pool is OrderedPool and png_native.available()  # threads: the categories may come later
    if pool is OrderedPool:
        pool = scoring_pool(jobs)
    gt_json, pred_json = Path(gt_json), Path(pred_json)
    gt_dir = default_png_dir(gt_json) if gt_dir is None else Path(gt_dir)
    pred_dir = default_png_dir(pred_json) if pred_dir is None else Path(pred_dir)
    for path in (gt_json, pred_json):
        check_json_object(path)
    categories = _CategoriesRead(gt_json)
    try:
        # the workers' context: on threads the reader itself, else (processes, a cluster) the
        # categories, read before the pool starts (its context is pickled)
        context = partial(_same, categories) if lazy else partial(_KnownCategories, categories.isthing())
        stat = _scored_pairs(gt_json, pred_json, gt_dir, pred_dir, warnings, jobs, progress, pool, context)
    except Exception:
        categories.isthing()  # a problem of the categories comes first, as when they were read first
        raise
    results = pq_results(stat, categories.isthing())
    for category_id, values in results["per_class"].items():
        values["name"] = str(categories.entries()[int(category_id)].get("name", category_id))
    return results


class _CategoriesRead:
    """The ground truth's categories read and checked on a thread of their own, while the first
    pairs are read and counted (a pass over the whole file, ~25 ms per 500 images, before which
    no pair was scored). As a pool thread's context, matching waits for them; a problem of
    theirs is raised wherever they are asked for."""

    def __init__(self, gt_json: Path) -> None:
        self._done = threading.Event()
        self._entries: dict[Any, Mapping[str, Any]] = {}
        self._isthing: dict[int, bool] = {}
        self._error: Exception | None = None
        threading.Thread(target=self._read, args=(gt_json,), name="segstudio-categories", daemon=True).start()

    def _read(self, gt_json: Path) -> None:
        try:
            self._entries = {entry["id"]: entry for entry in _ground_truth_categories(gt_json)}
            self._isthing = {key: entry.get("isthing", 0) == 1 for key, entry in self._entries.items()}
        except Exception as error:  # raised to whoever asks
            self._error = error
        finally:
            self._done.set()

    def entries(self) -> dict[Any, Mapping[str, Any]]:
        """Category id -> its entry, in the file's order (waits for them)."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._entries

    def isthing(self) -> dict[int, bool]:
        """Category id -> whether it is a thing (waits for them)."""
        self.entries()
        return self._isthing


class _KnownCategories(NamedTuple):
    """The categories as a worker process's context: read before the pool started."""

    known: dict[int, bool]

    def isthing(self) -> dict[int, bool]:
        return self.known


def _scored_pairs(
    gt_json: Path,
    pred_json: Path,
    gt_dir: Path,
    pred_dir: Path,
    warnings: list[str] | None,
    jobs: int,
    progress: ProgressCallback | None,
    pool: PoolFactory,
    make_context: Callable[[], _CategoriesRead | _KnownCategories],
) -> PQStat:
    """The PQ sums of every pair, added in image order (see :func:`evaluate_panoptic_files`);
    ``make_context`` gives the workers the categories (``isthing()``)."""
    for folder in (gt_dir, pred_dir):
        if not folder.is_dir():
            raise DatasetError(f"{folder}: PNG folder not found")
    total = 0
    checked = progress is None  # else a counting pass checks the files, the scoring pass need not
    if not checked:
        total = sum(1 for _ in image_pairs(gt_json, pred_json, gt_dir, pred_dir))
    source = image_pairs(gt_json, pred_json, gt_dir, pred_dir, check=checked)
    in_flight: deque[_ImagePair] = deque()

    def pairs() -> Iterator[_ImagePair]:
        for pair in source:
            in_flight.append(pair)
            yield pair

    stat = PQStat()
    failure: list[Exception] = []
    with pool(jobs, make_context) as workers:
        scored = _until_error(map_in_batches(workers, _pair_stat, pairs(), PAIRS_PER_TASK), failure)
        for done, (image_stat, image_warnings) in enumerate(scored, 1):
            pair = in_flight.popleft()
            stat += image_stat
            if warnings is not None:
                where = f"{gt_json}: image {pair.image_id!r} ({pair.gt_file})"
                warnings += [f"{where}: {w}" for w in image_warnings]
            if progress is not None:
                progress(done, total)
    if failure:
        for _ in source:  # the rest of both files checked: their first problem comes before a pair's
            pass
        raise failure[0]
    return stat


def _same(value: Result) -> Result:
    """``partial(_same, value)``: a context factory that gives ``value`` itself."""
    return value


def _until_error(results: Iterator[Result], failure: list[Exception]) -> Iterator[Result]:
    """``results`` up to the first error raised while taking them, which is put in ``failure``
    (raised by the caller once the files are checked to their end)."""
    try:
        yield from results
    except Exception as error:  # a pair's problem, a worker lost, or one of the files' (from the source)
        failure.append(error)


def scoring_pool(jobs: int) -> PoolFactory:
    """The local pool that scores image pairs: threads of this process where
    ``segstudio._native`` is built (its PNG decoding and pair counting release the GIL: most of a
    pair's work runs in parallel, and there is no fork server, no worker start, no pickling),
    else processes (numpy's pure path holds the GIL too much), whose fork server starts now,
    while the JSONs are read and checked."""
    if png_native.available():
        return partial(OrderedPool, threads=True)
    prestart(jobs)
    return OrderedPool


def _ground_truth_categories(gt_json: Path) -> list[Mapping[str, Any]]:
    """The ground truth's ``categories``, each entry checked (the whole file when there are none,
    so that a missing or malformed list is named as the schema names it)."""
    # pydantic is imported only for an entry that does not plainly fit (0.2 CPU-s)
    categories = []
    for n, entry in enumerate(json_items(gt_json, "categories.item")):
        check_category(entry, gt_json, DatasetError, n)
        categories.append(entry)
    if not categories:
        _check_whole("PanopticGroundTruth", gt_json)
    return coco_categories({"categories": categories}, gt_json)


def _check_whole(schema: str, path: Path) -> None:
    """The whole file read and checked against ``schemas.coco``'s ``schema``: only where streaming
    found nothing to say why."""
    from segstudio.io.schemas import coco, validate

    validate(getattr(coco, schema), read_json(path), path, DatasetError)


def _annotations(path: Path, schema: str, check: bool) -> Iterator[tuple[Any, str, list[Mapping[str, Any]]]]:
    """(image_id, PNG file name, segments_info) of each annotation of ``path``, streamed; with
    ``check``, each entry validated, and the whole file checked against ``schema`` when there are
    none (so that a missing or malformed list is named)."""
    count = 0
    for count, entry in enumerate(json_items(path, "annotations.item"), 1):
        if check and annotation_fits(entry):  # plainly valid: what _annotation checks is there
            yield entry["image_id"], entry["file_name"], entry["segments_info"]
            continue
        if check:
            check_annotation(entry, path, DatasetError, count - 1)
        yield _annotation(entry, count - 1, path)
    if check and not count:
        _check_whole(schema, path)


def image_pairs(
    gt_json: Path, pred_json: Path, gt_dir: Path, pred_dir: Path, *, check: bool = True
) -> Iterator[_ImagePair]:
    """Each ground-truth annotation with its prediction, in ground-truth order, both files streamed
    (``check``: every entry validated too; a second pass over checked files may leave it out).

    Predictions are read as far as the one needed: in the usual layout (the same order in both
    files) none waits; one read ahead of its turn waits in memory. What is kept for the rest of
    the pass is the set of image ids matched, to refuse an image annotated twice. The predictions
    left after the last ground-truth image are still read, so the whole file is checked.
    """
    predictions = _annotations(pred_json, "PanopticFile", check)
    waiting: dict[Any, tuple[str, list[Mapping[str, Any]]]] = {}
    matched: set[Any] = set()

    def take(image_id: Any, file_name: str, segments: list[Mapping[str, Any]]) -> None:
        if image_id in waiting or image_id in matched:
            raise DatasetError(f"{pred_json}: image id {image_id!r} has two annotations")
        waiting[image_id] = (file_name, segments)

    for image_id, gt_file, gt_segments in _annotations(gt_json, "PanopticGroundTruth", check):
        if image_id in matched:
            raise DatasetError(f"{gt_json}: image id {image_id!r} has two annotations")
        while image_id not in waiting:
            prediction = next(predictions, None)
            if prediction is None:
                raise DatasetError(f"{pred_json}: no prediction for image id {image_id!r}")
            take(*prediction)
        pred_file, pred_segments = waiting.pop(image_id)
        matched.add(image_id)
        gt_png = contained_path(gt_dir, gt_file, gt_json, DatasetError)
        pred_png = contained_path(pred_dir, pred_file, pred_json, DatasetError)
        yield _ImagePair(image_id, gt_file, gt_png, gt_segments, pred_png, pred_segments)
    for prediction in predictions:  # extra images are ignored, as by the API, but checked
        take(prediction[0], "", [])


PAIRS_PER_TASK = 8
"""Image pairs a worker scores per hand-over (``parallel.map_in_batches``)."""


class _ImagePair(NamedTuple):
    """One image to score: its ground-truth and predicted PNG and ``segments_info``."""

    image_id: Any
    gt_file: str
    gt_png: Path
    gt_segments: list[Mapping[str, Any]]
    pred_png: Path
    pred_segments: list[Mapping[str, Any]]


def _pair_stat(categories: _CategoriesRead | _KnownCategories, pair: _ImagePair) -> tuple[PQStat, list[str]]:
    """The PQ sums of one image and its warnings (runs on a pool thread or in a worker process).

    Where both PNGs take the compiled path, their overlaps are counted straight from their rows
    (``png_native.pair_answer``, the GIL released throughout) and matched by
    ``pq_of_pair_counts`` (in C for plain entries); otherwise each is decoded to its id map and
    scored by ``pq_image``, whose numbers and errors are the same."""
    gt = _panoptic_file(pair.gt_png)
    gt_ids = None if gt.rows is not None else _panoptic_ids(*gt)  # its errors first, as before
    pred = _panoptic_file(pair.pred_png)
    counted = None
    if gt.rows is not None and pred.rows is not None:
        counted = png_native.pair_answer(gt.rows, pred.rows)
    if counted is None:
        gt_ids = _panoptic_ids(*gt) if gt_ids is None else gt_ids
        pred_ids = _panoptic_ids(*pred)
    isthing = categories.isthing()  # on a pool thread: waits while they are still being read
    warnings: list[str] = []
    try:
        if counted is not None:
            stat = pq_of_pair_counts(*counted, pair.gt_segments, pair.pred_segments, isthing, warnings)
        else:
            stat = pq_image(gt_ids, pair.gt_segments, pred_ids, pair.pred_segments, isthing, warnings)
    except ValueError as error:
        raise DatasetError(
            f"{pair.pred_png}: {error} (image id {pair.image_id!r}, ground truth {pair.gt_png})"
        ) from error
    return stat, warnings
