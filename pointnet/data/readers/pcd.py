"""Read PCD point clouds (PCL's format, v0.7, as PCL, ROS and Open3D write it) into an ``(N, 3|6)`` array.

All three encodings: ``DATA ascii`` (one point per line), ``binary`` (packed little-endian records) and
``binary_compressed`` (two uint32 sizes, then one LZF stream of the fields stored column-major: every
point's first field, then every point's second ...). The points are the ``x y z`` fields, plus the normals
when ``normal_x normal_y normal_z`` are all present; every other field (intensity, rgb, label, ``_``
padding, histograms with ``COUNT`` > 1) only moves the byte offsets. Points with a NaN or inf value (the
holes of an organised scan) are dropped. The reader is strict: a header that contradicts itself or its
data raises :class:`MeshError` naming the problem, and sizes are checked against the file before anything
is allocated, so a corrupt header never costs gigabytes.
"""
from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointnet.data.errors import MeshError

HEADER_LIMIT = 65536  # bytes searched for the DATA line that ends the header
HEADER_KEYS = ("VERSION", "FIELDS", "SIZE", "TYPE", "COUNT", "WIDTH", "HEIGHT", "VIEWPOINT", "POINTS", "DATA")
ENCODINGS = ("ascii", "binary", "binary_compressed")
XYZ = ("x", "y", "z")
NORMALS = ("normal_x", "normal_y", "normal_z")
LZF_MAX_RATIO = 88  # a 3-byte LZF back reference yields at most 264 bytes: no stream expands further
_TYPES = {("F", 2): "<f2", ("F", 4): "<f4", ("F", 8): "<f8",
          **{(kind, size): f"<{kind.lower()}{size}" for kind in "IU" for size in (1, 2, 4, 8)}}


@dataclass(frozen=True)
class Field:
    """One ``FIELDS`` entry: its name, the numpy type of one value, and values per point (``COUNT``)."""

    name: str
    dtype: np.dtype
    count: int

    @property
    def size(self) -> int:
        return self.dtype.itemsize * self.count


@dataclass(frozen=True)
class Header:
    """What a PCD header says about the data after it, which starts at byte ``start`` of the file."""

    fields: tuple[Field, ...]
    points: int
    encoding: str
    start: int

    @property
    def point_size(self) -> int:
        return sum(field.size for field in self.fields)

    def index(self, name: str) -> int:
        return [field.name for field in self.fields].index(name)

    def wanted(self) -> tuple[str, ...]:
        """The fields that become columns: ``x y z``, and the normals when all three are present."""
        names = {field.name for field in self.fields}
        return XYZ + NORMALS if names.issuperset(NORMALS) else XYZ


def read_pcd(path: str | os.PathLike) -> np.ndarray:
    """The finite points of the PCD file ``path``: ``(N, 3)`` xyz or ``(N, 6)`` with normals, float64.

    Raises:
        MeshError: a malformed header, data that does not match it, or no point without NaN/inf.
    """
    data = Path(path).read_bytes()
    header = parse_header(data)
    body = memoryview(data)[header.start:]
    points = _DECODERS[header.encoding](header, body)
    finite = np.isfinite(points).all(axis=1)
    if len(points) and not finite.any():
        raise MeshError(f"no finite point: all {len(points)} points hold NaN or inf")
    return points[finite]


def parse_header(data: bytes) -> Header:
    """The header at the start of ``data``, checked field by field (see :func:`_header`)."""
    entries: dict[str, list[str]] = {}
    position = 0
    while "DATA" not in entries:
        end = data.find(b"\n", position, HEADER_LIMIT)
        if end < 0:
            if position >= len(data) or len(data) > HEADER_LIMIT:
                raise MeshError(f"not a PCD file: no DATA line in the first {min(len(data), HEADER_LIMIT)} bytes")
            end = len(data)  # a last header line without its newline (an empty ascii cloud)
        line = data[position:end].decode("latin-1").strip()
        position = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        key = key.upper()
        if key not in HEADER_KEYS:
            raise MeshError(f"not a PCD header line: {line[:60]!r}")
        if key in entries:
            raise MeshError(f"the PCD header has two {key} lines")
        entries[key] = values
    return _header(entries, min(position, len(data)))


def _header(entries: dict[str, list[str]], start: int) -> Header:
    """The :class:`Header` of a PCD's ``KEY values`` lines: FIELDS, SIZE and TYPE are required, COUNT
    defaults to ones, and ``x y z`` (and normals, when used) must each be one field of one value."""
    for key in ("FIELDS", "SIZE", "TYPE"):
        if key not in entries:
            raise MeshError(f"the PCD header has no {key} line")
    names = entries["FIELDS"]
    if not names:
        raise MeshError("FIELDS names no field")
    sizes = _whole_numbers("SIZE", entries["SIZE"], len(names))
    types = _listed("TYPE", entries["TYPE"], len(names))
    counts = _whole_numbers("COUNT", entries.get("COUNT", ["1"] * len(names)), len(names))
    fields = tuple(_field(*entry) for entry in zip(names, types, sizes, counts, strict=True))
    header = Header(fields, _point_count(entries), _encoding(entries["DATA"]), start)
    for name in header.wanted():
        if name not in names:
            raise MeshError(f"no field {name}: FIELDS are {' '.join(names)[:80]}")
        if names.count(name) > 1:
            raise MeshError(f"{names.count(name)} fields are named {name}")
        if fields[header.index(name)].count != 1:
            raise MeshError(f"field {name} has COUNT {fields[header.index(name)].count}; a coordinate is one value")
    return header


def _listed(key: str, values: list[str], expected: int) -> list[str]:
    if len(values) != expected:
        raise MeshError(f"{key} lists {len(values)} values for {expected} FIELDS")
    return values


def _whole_numbers(key: str, values: list[str], expected: int | None = None) -> list[int]:
    if expected is not None:
        _listed(key, values, expected)
    for value in values:
        if not (value.isascii() and value.isdigit()):
            raise MeshError(f"{key} value {value[:20]!r} is not a whole number")
    return [int(value) for value in values]


def _field(name: str, kind: str, size: int, count: int) -> Field:
    dtype = _TYPES.get((kind.upper(), size))
    if dtype is None:
        raise MeshError(f"field {name}: TYPE {kind} with SIZE {size} is not a PCD type (F 2/4/8, I or U 1/2/4/8)")
    if count < 1:
        raise MeshError(f"field {name} has COUNT 0")
    return Field(name, np.dtype(dtype), count)


def _point_count(entries: dict[str, list[str]]) -> int:
    """``POINTS``, which must equal ``WIDTH`` x ``HEIGHT`` when those are given (the organised grid)."""
    single = {key: _whole_numbers(key, entries[key]) for key in ("POINTS", "WIDTH", "HEIGHT") if key in entries}
    for key, values in single.items():
        if len(values) != 1:
            raise MeshError(f"{key} holds {len(values)} values, not one")
    points, width, height = (single.get(key, [None])[0] for key in ("POINTS", "WIDTH", "HEIGHT"))
    if width is not None:
        grid = width * (1 if height is None else height)
        if points is not None and points != grid:
            raise MeshError(f"WIDTH {width} x HEIGHT {height} is {grid} points, but POINTS says {points}")
        return grid
    if points is None:
        raise MeshError("the PCD header has neither POINTS nor WIDTH")
    return points


def _encoding(values: list[str]) -> str:
    if len(values) != 1 or values[0].lower() not in ENCODINGS:
        raise MeshError(f"unknown DATA {' '.join(values)[:40]!r}; PCD data is {', '.join(ENCODINGS)}")
    return values[0].lower()


def _decode_ascii(header: Header, body: memoryview) -> np.ndarray:
    text = bytes(body).decode("latin-1")
    columns = sum(field.count for field in header.fields)
    try:
        values = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2) if text.strip() else np.empty((0, columns))
    except ValueError as error:  # numpy's advice after a ';' (use `usecols`) is for callers, not file owners
        raise MeshError(f"ascii data: {str(error).split(';')[0]}") from None
    if values.shape != (header.points, columns):
        raise MeshError(f"ascii data holds {values.shape[0]} rows of {values.shape[1]} values, but the header "
                        f"says {header.points} points of {columns}")
    starts = np.cumsum([0] + [field.count for field in header.fields])
    return values[:, [starts[header.index(name)] for name in header.wanted()]]


def _decode_binary(header: Header, body: memoryview) -> np.ndarray:
    _check_size("binary data holds", len(body), header)
    offsets = np.cumsum([0] + [field.size for field in header.fields])
    wanted = [header.index(name) for name in header.wanted()]
    record = np.dtype({"names": list(header.wanted()), "formats": [header.fields[i].dtype for i in wanted],
                       "offsets": [int(offsets[i]) for i in wanted], "itemsize": header.point_size})
    records = np.frombuffer(body, dtype=record, count=header.points)
    return np.stack([records[name].astype(np.float64) for name in header.wanted()], axis=1)


def _decode_compressed(header: Header, body: memoryview) -> np.ndarray:
    if len(body) < 8:
        raise MeshError(f"binary_compressed data holds {len(body)} bytes, less than its two 4-byte sizes")
    compressed, unpacked = struct.unpack("<II", body[:8])
    _check_size("binary_compressed data unpacks to", unpacked, header)
    if len(body) - 8 != compressed:
        raise MeshError(f"binary_compressed data holds {len(body) - 8} bytes after its sizes, but says {compressed}")
    if unpacked > LZF_MAX_RATIO * compressed:
        raise MeshError(f"{compressed} LZF bytes cannot unpack to {unpacked} (LZF expands at most "
                        f"{LZF_MAX_RATIO}-fold)")
    raw = lzf_decompress(body[8:], unpacked)
    starts = np.cumsum([0] + [field.size * header.points for field in header.fields])
    columns = [np.frombuffer(raw, dtype=header.fields[i].dtype, count=header.points, offset=int(starts[i]))
               for i in map(header.index, header.wanted())]
    return np.stack(columns, axis=1).astype(np.float64)


def _check_size(what: str, size: int, header: Header) -> None:
    if size != header.points * header.point_size:
        raise MeshError(f"{what} {size} bytes, but the header's {header.points} points of {header.point_size} "
                        f"bytes need {header.points * header.point_size}")


_DECODERS = {"ascii": _decode_ascii, "binary": _decode_binary, "binary_compressed": _decode_compressed}


def lzf_decompress(stream: bytes | memoryview, size: int) -> bytes:
    """The ``size`` bytes an LZF ``stream`` (liblzf's format, which PCL uses) unpacks to.

    Each token is a control byte: below 32 a run of ``control + 1`` literal bytes follows; otherwise the
    top 3 bits (7: plus the next byte) give a length - 2, and the low 5 bits and the next byte a distance - 1
    back into the output, from where that many bytes are copied (overlapping copies repeat the pattern).

    Raises:
        MeshError: the stream ends inside a token, refers before the start, or unpacks to another size.
    """
    stream = bytes(stream)
    out = bytearray(size)
    i = o = 0
    while i < len(stream):
        control = stream[i]
        i += 1
        if control < 32:
            length = control + 1
            if i + length > len(stream) or o + length > size:
                raise MeshError(f"bad LZF stream: a literal run at byte {i - 1} overruns the stream or the output")
            out[o:o + length] = stream[i:i + length]
            i += length
        else:
            length = control >> 5
            if length == 7:
                length += stream[i] if i < len(stream) else 0
                i += 1
            if i >= len(stream):
                raise MeshError("bad LZF stream: it ends inside a back reference")
            source = o - ((control & 0x1F) << 8) - stream[i] - 1
            i += 1
            length += 2
            if source < 0 or o + length > size:
                raise MeshError(f"bad LZF stream: a back reference at byte {i} reaches outside the output")
            out[o:o + length] = _copied(out, source, o, length)
        o += length
    if o != size:
        raise MeshError(f"bad LZF stream: it unpacks to {o} bytes, not {size}")
    return bytes(out)


def _copied(out: bytearray, source: int, end: int, length: int) -> bytearray:
    """The ``length`` bytes a byte-by-byte copy from ``out[source]`` to ``out[end]`` onwards writes: when the
    two overlap, the ``end - source`` bytes before ``end`` repeat."""
    if source + length <= end:
        return out[source:source + length]
    window = out[source:end]
    return (window * (length // len(window) + 1))[:length]
