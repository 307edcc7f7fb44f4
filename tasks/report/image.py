"""A rendered plot (PNG bytes and display size) and the method labels, without matplotlib.

Kept apart from :mod:`tasks.report.plots` so that a report whose plots all come from the
figure cache (:mod:`tasks.report.figures`) never imports matplotlib.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

METHOD_LABELS = {
    "model": "model",
    "seasonal_naive": "seasonal naive",
    "moving_average": "moving average",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIZE = struct.Struct(">II")  # display width and height, before the PNG in a stored record
MAX_SIDE = 10_000  # CSS pixels: more is not a plot of ours


@dataclass(frozen=True)
class Image:
    """A rendered plot: PNG bytes plus its display size in CSS pixels."""

    png: bytes
    width: int
    height: int

    @property
    def data_uri(self) -> str:
        """``data:image/png;base64,...`` for an ``<img src>``."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def to_bytes(self) -> bytes:
        """The image as one record: display size, then the PNG."""
        return _SIZE.pack(self.width, self.height) + self.png

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Image:
        """An image from :meth:`to_bytes`; a record that is not one is an error naming ``where``."""
        head, png = data[: _SIZE.size], data[_SIZE.size :]
        if len(head) != _SIZE.size or not png.startswith(PNG_SIGNATURE):
            raise ValueError(f"{where} is not a stored plot (no PNG after its size)")
        width, height = _SIZE.unpack(head)
        if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
            raise ValueError(f"{where} holds a plot of {width}x{height} pixels: not one of ours")
        return cls(png, width, height)
