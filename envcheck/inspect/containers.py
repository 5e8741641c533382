"""Opening a pickle artifact's stream: joblib's compressed containers, by magic number.

joblib sniffs a file's first bytes to pick its decompressor (zlib, gzip, bz2, xz, lzma,
lz4); :func:`detect_compressor` does the same, and :func:`open_stream` decompresses
incrementally so a large artifact never has to fit in memory.  joblib < 0.9.3's ``ZF``
format is recognised (as ``"compat"``) but not opened.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from typing import IO, Optional

from envcheck.inspect.pickle_values import PickleError

# joblib's compressors, by the magic number joblib itself sniffs (joblib/compressor.py).
_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZ", "bz2"),
    (b"\xfd7zXZ", "xz"),
    (b"\x5d\x00", "lzma"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x78", "zlib"),
)
_ZFILE_PREFIX = b"ZF"  # joblib < 0.9.3 compressed files


class _ZlibStream:
    """joblib's BinaryZlibFile format (a raw zlib stream), decompressed incrementally."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.d = zlib.decompressobj(zlib.MAX_WBITS)
        self.done = False

    def read(self, n: int) -> bytes:
        out = []
        size = 0
        while size < n and not self.done:
            if self.d.unconsumed_tail:
                chunk = self.d.decompress(self.d.unconsumed_tail, n - size)
            else:
                data = self.raw.read(1 << 20)
                if not data:
                    raise zlib.error("compressed stream ended early")
                chunk = self.d.decompress(data, n - size)
            if self.d.eof:
                self.done = True
                if self.d.unused_data or self.raw.read(1):
                    raise zlib.error("data after the end of the compressed stream")
            out.append(chunk)
            size += len(chunk)
        return b"".join(out)


def open_stream(name: str, raw: IO[bytes]) -> IO[bytes]:
    if name == "zlib":
        return _ZlibStream(raw)  # type: ignore[return-value]
    if name == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if name == "bz2":
        return bz2.BZ2File(raw, "rb")
    if name in ("xz", "lzma"):
        return lzma.LZMAFile(raw, "rb")
    if name == "lz4":
        try:
            import lz4.frame
        except ImportError:
            raise PickleError("lz4-compressed joblib file, but lz4 is not installed", 0)
        return lz4.frame.LZ4FrameFile(raw, "rb")
    raise ValueError(name)


def detect_compressor(head: bytes) -> Optional[str]:
    """The compressor joblib would use for a file starting with ``head``, "compat" for
    joblib < 0.9.3's ZF format, None for an uncompressed file."""
    if head.startswith(_ZFILE_PREFIX):
        return "compat"
    for prefix, name in _COMPRESSED:
        if head.startswith(prefix):
            return name
    return None
