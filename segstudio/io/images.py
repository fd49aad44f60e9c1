"""Read photos (RGB) and depth maps (16-bit millimetres); write PNGs atomically.

Bytes are read with ``np.fromfile`` and decoded with ``cv2.imdecode`` so non-ASCII paths work on
every platform. OpenCV works in BGR; everything here takes and returns RGB, converting at the
boundary only, so callers never see (or save) BGR by mistake.

EXIF orientation is applied by this module, not by OpenCV: it is read from a JPEG's ``Exif`` APP1
segment or a PNG's ``eXIf`` chunk, and the same value drives ``read_rgb`` and the cheap
``image_size``, so the recorded size of an image always matches its decoded pixels whatever the
OpenCV version. Other formats (TIFF, WebP, BMP, ...) are read as stored. Depth maps are read as
stored too: sensors write them unrotated, aligned with their raw colour frame.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import BinaryIO, NamedTuple

import cv2
import numpy as np

from segstudio.io.atomic import atomic_write_bytes
from segstudio.io.png_encode import encode_png
from segstudio.io.safe_files import check_pixels, check_regular_file, quiet_native_stderr

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
_EXIF_PREFIX = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}  # TEM, RST0-7, SOI: no length field
_JPEG_SOS = 0xDA
HEADER_BYTES = 1 << 20
"""Bytes searched for a size before decoding (a JPEG's SOF follows its Exif and other segments)."""


class ImageReadError(OSError):
    """An image file cannot be used; the message names the file and the problem."""


class ImageSize(NamedTuple):
    """Displayed size of an image, in ``array.shape`` order."""

    height: int
    width: int


# -- reading bytes -----------------------------------------------------------------------------


def _read_file(path: Path) -> np.ndarray:
    """The file's bytes as a uint8 array, or ImageReadError saying why not (only regular files)."""
    check_regular_file(path, ImageReadError)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a folder, not an image file") from None
    except PermissionError:
        if path.is_dir():  # Windows reports folders as permission errors
            raise ImageReadError(f"{path}: is a folder, not an image file") from None
        raise ImageReadError(f"{path}: permission denied") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read ({error.strerror or error})") from error
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    return data


def _decode(path: Path, data: np.ndarray, flags: int) -> np.ndarray:
    """Decoded pixels; a PNG or JPEG header over the pixel limit is refused before decoding."""
    header = _header(io.BytesIO(data[:HEADER_BYTES].tobytes()))
    if header is not None:
        check_pixels(header[0], header[1], path, ImageReadError)
    try:
        with quiet_native_stderr():
            image = cv2.imdecode(data, flags)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise ImageReadError(f"{path}: not an image, or the file is corrupt or truncated")
    return image


# -- headers: size and EXIF orientation without decoding pixels ---------------------------------


def _tiff_orientation(tiff: bytes) -> int:
    """The Orientation tag (1..8) of an EXIF/TIFF block; 1 when absent or unreadable."""
    if tiff.startswith(_EXIF_PREFIX):
        tiff = tiff[len(_EXIF_PREFIX) :]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    if struct.unpack_from(order + "H", tiff, 2)[0] != 42:
        return 1
    ifd = struct.unpack_from(order + "I", tiff, 4)[0]
    if ifd + 2 > len(tiff):
        return 1
    count = struct.unpack_from(order + "H", tiff, ifd)[0]
    for index in range(count):
        entry = ifd + 2 + 12 * index
        if entry + 12 > len(tiff):
            break
        tag, kind = struct.unpack_from(order + "HH", tiff, entry)
        if tag == _ORIENTATION_TAG:
            value = struct.unpack_from(order + "H", tiff, entry + 8)[0] if kind == 3 else 1
            return value if 1 <= value <= 8 else 1
    return 1


def _png_header(stream: BinaryIO) -> tuple[int, int, int] | None:
    """(height, width, orientation) from IHDR and any eXIf chunk; None if malformed."""
    size = None
    orientation = 1
    stream.seek(len(_PNG_SIGNATURE))
    while True:
        head = stream.read(8)
        if len(head) < 8:
            break
        length, kind = struct.unpack(">I4s", head)
        if kind == b"IHDR" and length >= 8:
            width, height = struct.unpack(">II", stream.read(8))
            size = (height, width)
            stream.seek(length - 8, os.SEEK_CUR)
        elif kind == b"eXIf":
            orientation = _tiff_orientation(stream.read(length))
        elif kind == b"IEND":
            break
        else:
            stream.seek(length, os.SEEK_CUR)
        stream.seek(4, os.SEEK_CUR)  # CRC
    if size is None or 0 in size:
        return None
    return size[0], size[1], orientation


def _jpeg_header(stream: BinaryIO) -> tuple[int, int, int] | None:
    """(height, width, orientation) from the SOF and Exif segments; None if malformed."""
    size = None
    orientation = None
    stream.seek(len(_JPEG_SOI))
    while True:
        byte = stream.read(1)
        if byte != b"\xff":
            return None
        marker = 0xFF
        while marker == 0xFF:  # fill bytes
            read = stream.read(1)
            if not read:
                return None
            marker = read[0]
        if marker in _JPEG_STANDALONE:
            continue
        if marker == _JPEG_SOS:
            break
        raw_length = stream.read(2)
        if len(raw_length) < 2 or struct.unpack(">H", raw_length)[0] < 2:
            return None
        length = struct.unpack(">H", raw_length)[0] - 2
        if marker == 0xE1 and orientation is None:
            segment = stream.read(length)
            if segment.startswith(_EXIF_PREFIX):
                orientation = _tiff_orientation(segment)
        elif marker in _JPEG_SOF and length >= 5:
            _precision, height, width = struct.unpack(">BHH", stream.read(5))
            size = (height, width)
            stream.seek(length - 5, os.SEEK_CUR)
        else:
            stream.seek(length, os.SEEK_CUR)
    if size is None or 0 in size:  # height 0 means "given later by DNL": decode to know
        return None
    return size[0], size[1], orientation or 1


def _header(stream: BinaryIO) -> tuple[int, int, int] | None:
    """(stored height, stored width, EXIF orientation) of a PNG or JPEG; None for other formats."""
    start = stream.read(len(_PNG_SIGNATURE))
    try:
        if start == _PNG_SIGNATURE:
            return _png_header(stream)
        if start.startswith(_JPEG_SOI):
            return _jpeg_header(stream)
    except (struct.error, OSError, ValueError):
        return None
    return None


def _orientation(data: np.ndarray) -> int:
    header = _header(io.BytesIO(data.tobytes()))
    return header[2] if header else 1


def _apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels into displayed pixels, as EXIF orientation 1..8 prescribes."""
    if orientation in (5, 6, 7, 8):
        image = cv2.transpose(image)
    flip = {2: 1, 3: -1, 4: 0, 6: 1, 7: -1, 8: 0}.get(orientation)
    if flip is not None:
        image = cv2.flip(image, flip)
    return image


# -- public API ----------------------------------------------------------------------------------


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a photo as (H, W, 3) uint8 RGB, EXIF orientation applied (alpha dropped, grey expanded)."""
    path = Path(path)
    data = _read_file(path)
    bgr = _decode(path, data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(_apply_orientation(rgb, _orientation(data)))


def read_depth(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a depth map as (H, W) uint16 millimetres; 8-bit or colour files are refused.

    8 bits cannot hold a millimetre range, and a colour file is usually a visualisation of depth,
    not depth: accepting either would silently give wrong distances.
    """
    path = Path(path)
    depth = _decode(path, _read_file(path), cv2.IMREAD_UNCHANGED)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[:, :, 0]
    if depth.ndim != 2:
        raise ImageReadError(
            f"{path}: depth must be a single-channel image, found {depth.shape[2]} channels "
            "(a colour picture of depth is not depth)"
        )
    if depth.dtype == np.uint8:
        raise ImageReadError(f"{path}: 8-bit image; depth must be 16-bit millimetres (e.g. a 16-bit PNG)")
    if depth.dtype != np.uint16:
        raise ImageReadError(
            f"{path}: unsupported depth sample type {depth.dtype}; expected uint16 millimetres"
        )
    return depth


def image_size(path: str | os.PathLike[str]) -> ImageSize:
    """Displayed (height, width) of an image; reads only the header of PNG and JPEG files.

    The size matches ``read_rgb(path).shape[:2]`` (EXIF rotation included). Other formats are
    decoded in full. A header can be intact while the pixels are not: reading may still fail later.
    """
    path = Path(path)
    check_regular_file(path, ImageReadError)
    try:
        with open(path, "rb") as stream:
            header = _header(stream)
    except OSError:
        header = None  # let read_rgb report the problem with its usual message
    if header is None:
        return ImageSize(*read_rgb(path).shape[:2])
    height, width, orientation = header
    check_pixels(height, width, path, ImageReadError)
    if orientation in (5, 6, 7, 8):
        height, width = width, height
    return ImageSize(height, width)


def write_png(path: str | os.PathLike[str], array: np.ndarray, *, durable: bool = True) -> None:
    """Write an array as a lossless PNG, atomically (``durable``: see ``atomic_write_bytes``).

    Accepts uint8 or uint16 grey (H, W), RGB (H, W, 3) or RGBA (H, W, 4), colour in RGB order.
    Other dtypes are refused rather than silently narrowed. Rows are stored unfiltered and
    deflated fast (``io/png_encode``): label maps, the usual content, come out small.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] == 2:
        raise ValueError(f"{path}: expected (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    atomic_write_bytes(path, encode_png(array, path), durable=durable)
