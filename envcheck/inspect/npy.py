"""``.npy`` files (and ``.npz`` members): a header, then raw data -- or a pickle.

numpy's format (numpy/lib/format.py): the magic ``\\x93NUMPY``, a version (1.0, 2.0,
3.0), a little-endian header length (2 bytes in 1.0, else 4), then a Python dict
literal with ``descr``, ``fortran_order`` and ``shape``.  An array whose dtype holds
Python objects is stored as ``pickle.dump(array)`` right after the header, and
``numpy.load(allow_pickle=True)`` unpickles it: that pickle is walked by the policy
like any other.  The header is read with ``ast.literal_eval`` (literals only, as numpy
does), capped at numpy's own limit of 10,000 bytes.
"""

from __future__ import annotations

import ast
import io
from typing import IO, Any, Callable, Optional

from envcheck.inspect.policy import PickleInspection

MAX_HEADER = 10_000  # numpy.lib.format's max_header_size default


class Window(io.RawIOBase):
    """The bytes of ``raw`` from ``start`` on, as a file of its own (offsets from 0)."""

    def __init__(self, raw: IO[bytes], start: int) -> None:
        self.raw, self.start = raw, start
        raw.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0:
            return self.raw.seek(self.start + pos) - self.start
        return self.raw.seek(pos, whence) - self.start

    def tell(self) -> int:
        return self.raw.tell() - self.start

    def close(self) -> None:
        self.raw.close()
        super().close()


def read_header(raw: IO[bytes]) -> tuple[dict, int]:
    """The header dict and the offset where the data (or the pickle) starts."""
    head = raw.read(10)
    if len(head) < 10 or head[6] not in (1, 2, 3):
        raise ValueError("not a .npy file of a known version")
    if head[6] == 1:
        length, start = int.from_bytes(head[8:10], "little"), 10
    else:
        head += raw.read(2)
        length, start = int.from_bytes(head[8:12], "little"), 12
    if length > MAX_HEADER:
        raise ValueError(f".npy header of {length} bytes (numpy reads at most {MAX_HEADER})")
    text = raw.read(length)
    if len(text) != length:
        raise ValueError(".npy header truncated")
    header = ast.literal_eval(text.decode("latin1" if head[6] < 3 else "utf-8"))
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
        raise ValueError(".npy header is not numpy's descr/fortran_order/shape dict")
    return header, start + length


def holds_objects(descr: Any) -> bool:
    """Whether the dtype described is (or contains) Python objects: a pickle follows."""
    if isinstance(descr, str):
        return descr.lstrip("|<>=").startswith("O")
    if isinstance(descr, list):  # structured: [(name, descr[, shape]), ...]
        return any(isinstance(f, tuple) and len(f) >= 2 and holds_objects(f[1])
                   for f in descr)
    return True  # anything else numpy would not read: treat as the dangerous case


def object_pickle(opener: Callable[[], IO[bytes]], result: PickleInspection
                  ) -> Optional[Callable[[], IO[bytes]]]:
    """An opener for the pickle inside an object array, None for a plain array, or
    None with ``result.error`` set for a header numpy would not read."""
    try:
        with opener() as raw:
            header, start = read_header(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError) as exc:
        result.error = f"malformed .npy header: {exc}"
        return None
    if not holds_objects(header["descr"]):
        result.walked = False
        return None
    result.size -= start
    return lambda: io.BufferedReader(Window(opener(), start))
