"""A tiny dependency-free PNG line chart: claim lines per second over the recorded runs.

matplotlib is not a dependency, so this draws straight into an RGB buffer and writes it with
``zlib`` (PNG filter 0 on every row).  One series per engine, x = the results' order (one point
per recorded run of a dataset size, oldest left), y = millions of claim lines per second from 0
to the largest value; the y-axis is labelled with a 3x5 digit font.  Colours: Settle warm end
to end **blue**, Settle cold **light blue**, DuckDB reference **orange**, Polars reference
**green**.  The commit of each run is in the JSON lines, not on the picture.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["SERIES", "render_png", "throughput_series"]

Color = tuple[int, int, int]
SERIES: dict[str, tuple[tuple[str, ...], Color]] = {
    "settle warm": (("e2e", "warm", "lines_per_second"), (31, 119, 180)),
    "settle cold": (("e2e", "cold", "lines_per_second"), (158, 202, 225)),
    "duckdb": (("references", "duckdb", "lines_per_second"), (255, 127, 14)),
    "polars": (("references", "polars", "lines_per_second"), (44, 160, 44)),
}
_DIGITS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
    ".": "000000000000010",
    "M": "101111111101101",
}


def _get(record: dict[str, Any], path: Sequence[str]) -> float | None:
    value: Any = record.get("figures", {})
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def throughput_series(records: Sequence[dict[str, Any]], members: int) -> dict[str, list[float | None]]:
    """Per series, lines per second of each recorded run of ``members`` members (None = not measured)."""
    mine = [r for r in records if r.get("dataset", {}).get("members") == members]
    return {name: [_get(r, path) for r in mine] for name, (path, _) in SERIES.items()}


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def dot(self, x: int, y: int, color: Color, size: int = 1) -> None:
        for dx in range(-(size // 2), size - size // 2):
            for dy in range(-(size // 2), size - size // 2):
                px, py = x + dx, y + dy
                if 0 <= px < self.width and 0 <= py < self.height:
                    i = (py * self.width + px) * 3
                    self.pixels[i : i + 3] = bytes(color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, size: int = 1) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for s in range(steps + 1):
            self.dot(round(x0 + (x1 - x0) * s / steps), round(y0 + (y1 - y0) * s / steps), color, size)

    def text(self, x: int, y: int, text: str, color: Color, scale: int = 2) -> None:
        for n, char in enumerate(text):
            glyph = _DIGITS.get(char)
            if glyph is None:
                continue
            for i, bit in enumerate(glyph):
                if bit == "1":
                    for sx in range(scale):
                        for sy in range(scale):
                            self.dot(
                                x + n * 4 * scale + (i % 3) * scale + sx, y + (i // 3) * scale + sy, color
                            )

    def png(self) -> bytes:
        rows = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3])
            for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b"")
        )


def render_png(
    series: dict[str, list[float | None]], path: Path, width: int = 640, height: int = 360
) -> Path:
    """Draw ``series`` (lines per second per run) and write the PNG at ``path``."""
    canvas = _Canvas(width, height)
    left, right, top, bottom = 60, width - 20, 20, height - 30
    grey, black = (200, 200, 200), (0, 0, 0)
    values = [v for vs in series.values() for v in vs if v is not None]
    top_value = max(values) if values else 1.0
    n = max((len(vs) for vs in series.values()), default=0)
    for k in range(5):  # gridlines at 0, 1/4, ... of the largest value, labelled in M lines/s
        y = bottom - (bottom - top) * k // 4
        canvas.line(left, y, right, y, grey)
        canvas.text(4, y - 5, f"{top_value * k / 4 / 1e6:.1f}M", black)
    canvas.line(left, top, left, bottom, black)
    canvas.line(left, bottom, right, bottom, black)

    def xy(i: int, v: float) -> tuple[int, int]:
        x = left + (right - left) * (i + 0.5) / max(n, 1)
        return round(x), round(bottom - (bottom - top) * v / top_value)

    for name, vs in series.items():
        color = SERIES[name][1] if name in SERIES else black
        points = [xy(i, v) for i, v in enumerate(vs) if v is not None]
        for a, b in itertools.pairwise(points):
            canvas.line(*a, *b, color, size=2)
        for p in points:
            canvas.dot(*p, color, size=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(canvas.png())
    return path
