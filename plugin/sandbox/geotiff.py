"""A small, valid GeoTIFF (EPSG:4326, RGB uint8, one uncompressed strip) written with the standard library."""

from __future__ import annotations

import random
import struct
from typing import Sequence

_SHORT, _LONG, _DOUBLE = 3, 4, 12
_SIZES = {_SHORT: 2, _LONG: 4, _DOUBLE: 8}
_FORMATS = {_SHORT: "H", _LONG: "I", _DOUBLE: "d"}


def make_geotiff(bbox: Sequence[float], size: int = 64, seed: int = 0, cloud_cover: float = 0.0) -> bytes:
    """GeoTIFF covering ``bbox`` = (min_lon, min_lat, max_lon, max_lat) with a seeded synthetic picture.

    ``cloud_cover`` (0–100) paints that share of pixels white-ish, matching the capture's metadata.
    """
    min_x, min_y, max_x, max_y = (float(v) for v in bbox)
    if not (max_x > min_x and max_y > min_y):
        raise ValueError("bbox must have a positive width and height")
    width = height = int(size)
    rng = random.Random(seed)  # nosec B311  # synthetic pixels, replayable from the seed
    cloud_share = max(0.0, min(100.0, float(cloud_cover))) / 100.0
    pixels = bytearray()
    for row in range(height):
        for col in range(width):
            if rng.random() < cloud_share:
                value = 230 + rng.randrange(20)
                pixels += bytes((value, value, value))
            else:
                pixels += bytes(
                    (
                        (col * 4 + rng.randrange(16)) % 256,
                        (row * 4 + rng.randrange(16)) % 256,
                        (96 + rng.randrange(32)) % 256,
                    )
                )
    scale_x = (max_x - min_x) / width
    scale_y = (max_y - min_y) / height
    geokeys = [
        1,
        1,
        0,
        3,  # version 1.1.0, 3 keys
        1024,
        0,
        1,
        2,  # GTModelType = Geographic
        1025,
        0,
        1,
        1,  # GTRasterType = PixelIsArea
        2048,
        0,
        1,
        4326,
    ]  # GeographicType = WGS 84
    entries = [
        (256, _SHORT, [width]),
        (257, _SHORT, [height]),
        (258, _SHORT, [8, 8, 8]),
        (259, _SHORT, [1]),  # no compression
        (262, _SHORT, [2]),  # RGB
        (273, _LONG, [0]),  # strip offset, patched below
        (277, _SHORT, [3]),
        (278, _SHORT, [height]),
        (279, _LONG, [len(pixels)]),
        (284, _SHORT, [1]),  # chunky
        (339, _SHORT, [1, 1, 1]),  # unsigned integers
        (33550, _DOUBLE, [scale_x, scale_y, 0.0]),
        (33922, _DOUBLE, [0.0, 0.0, 0.0, min_x, max_y, 0.0]),
        (34735, _SHORT, geokeys),
    ]
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    extra_offset = ifd_offset + ifd_size
    extra = bytearray()
    packed_entries = []
    for tag, kind, values in entries:
        raw = struct.pack("<" + _FORMATS[kind] * len(values), *values)
        if len(raw) <= 4:
            packed_entries.append((tag, kind, len(values), raw.ljust(4, b"\0"), None))
        else:
            if (extra_offset + len(extra)) % 2:
                extra += b"\0"
            packed_entries.append((tag, kind, len(values), None, extra_offset + len(extra)))
            extra += raw
    data_offset = extra_offset + len(extra)
    out = bytearray(b"II*\0" + struct.pack("<I", ifd_offset))
    out += struct.pack("<H", len(entries))
    for tag, kind, count, inline, offset in packed_entries:
        if tag == 273:
            inline = struct.pack("<I", data_offset)
        value = inline if inline is not None else struct.pack("<I", offset)
        out += struct.pack("<HHI", tag, kind, count) + value
    out += struct.pack("<I", 0)
    out += extra
    out += pixels
    return bytes(out)
