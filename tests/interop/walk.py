"""Walk a ZIP front to back as a streaming reader does, reporting every structure."""

from __future__ import annotations

import struct
import zlib
from typing import Any

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")


def _extras(data: bytes) -> dict[int, bytes]:
    fields = {}
    while len(data) >= 4:
        tag, size = struct.unpack("<HH", data[:4])
        fields[tag] = data[4 : 4 + size]
        data = data[4 + size :]
    return fields


def walk(data: bytes) -> dict[str, Any]:
    """Parse ``data`` in order: local headers, data, descriptors, directory, end records.

    Raises AssertionError on anything a strict streaming reader would reject
    (a descriptor whose width does not match the local header, sizes or CRCs
    that disagree, stored data with a descriptor).
    """
    pos = 0
    locals_: list[dict[str, Any]] = []
    while data[pos : pos + 4] == b"PK\x03\x04":
        (_, version, flags, method, _t, _d, crc, csize, size, nlen, xlen) = _LOCAL.unpack_from(
            data, pos
        )
        name = data[pos + 30 : pos + 30 + nlen].decode("utf-8" if flags & 0x800 else "cp437")
        extra = _extras(data[pos + 30 + nlen : pos + 30 + nlen + xlen])
        start = pos + 30 + nlen + xlen
        zip64 = 0x0001 in extra
        entry: dict[str, Any] = {
            "name": name,
            "version": version,
            "flags": flags,
            "method": method,
            "zip64": zip64,
            "offset": pos,
        }
        if zip64:
            assert csize == size == 0xFFFFFFFF, name
            size, csize = struct.unpack("<QQ", extra[0x0001])
        if flags & 0x08:
            assert method == 8, f"{name}: stored data with a data descriptor"
            assert crc == csize == size == 0, name
            inflater = zlib.decompressobj(-15)
            content = inflater.decompress(data[start:])
            assert inflater.eof, name
            end = len(data) - len(inflater.unused_data)
            width = 24 if zip64 else 16
            sig, crc, csize, size = struct.unpack(
                "<IIQQ" if zip64 else "<IIII", data[end : end + width]
            )
            assert sig == 0x08074B50, name
            assert csize == end - start, name
            pos = end + width
            entry["descriptor"] = width
        else:
            stored = data[start : start + csize]
            content = stored if method == 0 else zlib.decompress(stored, -15)
            pos = start + csize
            entry["descriptor"] = 0
        assert len(content) == size, name
        assert zlib.crc32(content) == crc, name
        entry.update(size=size, compressed=csize, crc=crc, content=content)
        locals_.append(entry)
    central: list[dict[str, Any]] = []
    directory = pos
    while data[pos : pos + 4] == b"PK\x01\x02":
        fields = _CENTRAL.unpack_from(data, pos)
        nlen, xlen, clen = fields[10], fields[11], fields[12]
        central.append(
            {
                "version_needed": fields[2],
                "flags": fields[3],
                "crc": fields[7],
                "compressed": fields[8],
                "size": fields[9],
                "offset": fields[16],
                "extra": _extras(data[pos + 46 + nlen : pos + 46 + nlen + xlen]),
            }
        )
        pos += 46 + nlen + xlen + clen
    zip64_end = data[pos : pos + 4] == b"PK\x06\x06"
    if zip64_end:
        pos += 56 + 20
    assert data[pos : pos + 4] == b"PK\x05\x06"
    (_, _, _, _, count, dir_size, dir_offset, _) = _END.unpack_from(data, pos)
    assert count == min(len(central), 0xFFFF)
    if not zip64_end:
        assert (dir_offset, dir_size) == (directory, pos - directory)
    for local, entry in zip(locals_, central, strict=True):
        assert local["version"] == entry["version_needed"], local["name"]
        assert local["flags"] == entry["flags"], local["name"]
    return {"locals": locals_, "central": central, "zip64_end": zip64_end}
