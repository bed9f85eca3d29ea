"""Draw Harbour's app icons: the Teams colour (192x192) and outline (32x32)
icons and the Slack app icon (512x512).

    python manifest/icons.py

The mark (an H over a wave) is defined as a shape in a unit square and drawn
pixel by pixel, with Python alone (zlib writes the PNG), so the icons are made
again exactly, offline, with nothing to install. What the stores check:

- Teams colour: 192x192, the mark on a solid background (full bleed).
- Teams outline: 32x32, white on fully transparent, no padding: the mark
  reaches every edge, and every pixel is white or transparent (no grey edge).
- Slack: a square PNG of at least 512x512.
tests/test_review_checklist.py checks all of that on the files.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLUE = (0x1D, 0x4E, 0x89)
"""Harbour's accent colour (the Teams manifest's accentColor, Slack's background_color)."""
WHITE = (255, 255, 255)

Shape = Callable[[float, float], bool]


def mark(u: float, v: float) -> bool:
    """The mark in the unit square, (0, 0) top left: an H whose posts start at
    the top edge, over a wave that runs from the left edge to the right one and
    touches the bottom."""
    post = 0.14 <= u <= 0.36 or 0.64 <= u <= 0.86
    if v <= 0.66 and (post or (0.28 <= v <= 0.42 and 0.14 <= u <= 0.86)):
        return True
    crest = 0.86 + 0.07 * math.sin(2 * math.pi * (1.5 * u + 0.25))
    return abs(v - crest) <= 0.075


def _coverage(
    shape: Shape, size: int, x: int, y: int, box: tuple[float, float], samples: int
) -> float:
    """The share of pixel (x, y) the shape covers, the mark drawn in the square
    from `box[0]` to `box[1]` (fractions of the icon's side)."""
    start, end = box
    span = end - start
    hits = 0
    for sy in range(samples):
        for sx in range(samples):
            u = ((x + (sx + 0.5) / samples) / size - start) / span
            v = ((y + (sy + 0.5) / samples) / size - start) / span
            hits += 0.0 <= u <= 1.0 and 0.0 <= v <= 1.0 and shape(u, v)
    return hits / samples**2


def on_background(size: int, margin: float) -> bytes:
    """RGBA rows: the white mark, smoothed, on solid blue."""
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type 0: rows as they are
        for x in range(size):
            a = _coverage(mark, size, x, y, (margin, 1 - margin), 4)
            rgb = (round(b + (w - b) * a) for b, w in zip(BLUE, WHITE, strict=True))
            rows.extend((*rgb, 255))
    return bytes(rows)


def outline(size: int) -> bytes:
    """RGBA rows: the mark in opaque white on transparent, edge to edge, each
    pixel either white or transparent (Teams shows the outline icon tinted)."""
    rows = bytearray()
    for y in range(size):
        rows.append(0)
        for x in range(size):
            inside = _coverage(mark, size, x, y, (0.0, 1.0), 1) == 1.0
            rows.extend((255, 255, 255, 255) if inside else (0, 0, 0, 0))
    return bytes(rows)


def png(size: int, rows: bytes) -> bytes:
    """An 8-bit RGBA PNG of unfiltered rows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    icons = {
        HERE / "teams" / "color.png": png(192, on_background(192, 0.2)),
        HERE / "teams" / "outline.png": png(32, outline(32)),
        HERE / "slack" / "assets" / "icon-512.png": png(512, on_background(512, 0.2)),
    }
    for path, data in icons.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path.relative_to(HERE.parent)} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
