"""Zip archives of a few in-memory members, deflated and inflated through ``io/deflate``.

Label files are zips of ``.npy`` members (``io/label_file``). ``zipfile`` compresses and checks
CRCs with Python's zlib, most of an import's or export's time per image; here the members are
deflated with ISA-L and written as a standard zip (what ``zipfile``, ``np.load`` and ``unzip``
read), and reading inflates and checks every member's CRC-32 the same fast way. ``zipfile``
still parses the directory, so anything it accepts is read, and anything else it refuses.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Collection, Mapping, Sequence

from segstudio.io import deflate

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_VERSION = 20  # 2.0: deflate
_LARGEST = 0x7FFFFFFF  # beyond this a member needs zip64: left to zipfile
FAST_ZLIB_LEVEL = 1
"""The zlib level that the fast path stands for (callers ask for "1" as they would of zlib)."""


def pack_members(
    members: Mapping[str, Sequence[bytes | memoryview]],
    date: tuple[int, ...],
    compresslevel: int = FAST_ZLIB_LEVEL,
) -> bytes:
    """A zip of ``members`` (name -> the pieces of its bytes, in order) dated ``date`` (zip's
    ``(year, month, day, hour, minute, second)``). At ``compresslevel`` 1 members are deflated
    fast (``io/deflate``); higher levels (smaller files, when asked) use zipfile's zlib."""
    if compresslevel > FAST_ZLIB_LEVEL or any(
        sum(len(piece) for piece in pieces) > _LARGEST for pieces in members.values()
    ):
        return _pack_with_zipfile(members, date, compresslevel)
    year, month, day, hour, minute, second = date
    dos_date = (year - 1980) << 9 | month << 5 | day
    dos_time = hour << 11 | minute << 5 | second // 2
    out, directory = io.BytesIO(), io.BytesIO()
    for name, pieces in members.items():
        encoded = name.encode("ascii")
        packed, crc, size = deflate.compress_pieces(pieces, wbits=deflate.RAW)
        offset = out.tell()
        fields = (zipfile.ZIP_DEFLATED, dos_time, dos_date, crc, len(packed), size, len(encoded))
        out.write(_LOCAL.pack(b"PK\x03\x04", _VERSION, 0, *fields, 0))
        out.write(encoded)
        out.write(packed)
        directory.write(_CENTRAL.pack(b"PK\x01\x02", _VERSION, _VERSION, 0, *fields, 0, 0, 0, 0, 0, offset))
        directory.write(encoded)
    start = out.tell()
    out.write(directory.getbuffer())
    count = len(members)
    out.write(_END.pack(b"PK\x05\x06", 0, 0, count, count, len(directory.getbuffer()), start, 0))
    return out.getvalue()


def _pack_with_zipfile(
    members: Mapping[str, Sequence[bytes | memoryview]], date: tuple[int, ...], compresslevel: int
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name, pieces in members.items():
            data = b"".join(pieces)
            archive.writestr(zipfile.ZipInfo(name, date), data, zipfile.ZIP_DEFLATED, compresslevel)
    return buffer.getvalue()


def read_members(data: bytes, names: Collection[str] | None = None) -> dict[str, bytes]:
    """The members of the zip ``data`` by name (only ``names`` when given: those present),
    CRC-checked; ``zipfile.BadZipFile`` (or one of ``deflate.ERRORS``) when the archive is torn
    or corrupt."""
    view = memoryview(data)
    members = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if names is not None and info.filename not in names:
                continue
            if info.compress_type not in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED) or info.flag_bits & 1:
                members[info.filename] = archive.read(info)  # anything unusual: zipfile's own path
                continue
            header = view[info.header_offset : info.header_offset + _LOCAL.size]
            if len(header) < _LOCAL.size or bytes(header[:4]) != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"bad local header of member {info.filename!r}")
            name_length, extra_length = _LOCAL.unpack(header)[-2:]
            start = info.header_offset + _LOCAL.size + name_length + extra_length
            raw = view[start : start + info.compress_size]
            if len(raw) < info.compress_size:
                raise zipfile.BadZipFile(f"member {info.filename!r} is cut short")
            if info.compress_type == zipfile.ZIP_DEFLATED:
                content = deflate.decompress(raw, deflate.RAW, info.file_size)
            else:
                content = bytes(raw)
            if len(content) != info.file_size or deflate.crc32(content) != info.CRC:
                raise zipfile.BadZipFile(f"bad CRC-32 or size of member {info.filename!r}")
            members[info.filename] = content
    return members
