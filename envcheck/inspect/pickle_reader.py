"""The byte reader under the pickle VM: forward-only, offset-aware, memory-bounded.

Large bytes/str operands are skipped (seek on a plain file, chunked reads on a
decompressing stream) and kept only as a head and a tail (a
:class:`~envcheck.inspect.pickle_values.BigValue`); a stream over the size limit raises
:class:`TooLarge`.
"""

from __future__ import annotations

from typing import IO, Any, Optional

from envcheck.inspect.pickle_values import BigValue, PickleError
from envcheck.model.errors import EnvcheckError

# Strings/bytes up to this size are kept whole; larger ones become a BigValue.
KEEP_WHOLE = 64 * 1024
# Head/tail kept of a BigValue (enough to find e.g. xgboost's version in its model blob).
KEEP_EDGE = 64 * 1024
MAX_LINE = 64 * 1024
CHUNK = 1 << 20


class TooLarge(EnvcheckError):
    pass


class Reader:
    """A forward-only buffered reader that knows its absolute offset and skips in bulk."""

    def __init__(self, f: IO[bytes], *, seekable_size: Optional[int] = None,
                 limit: Optional[int] = None) -> None:
        self.f = f
        # For a plain file of known size we skip by seeking; otherwise by reading chunks.
        self.size = seekable_size
        self.limit = limit
        self.buf = b""
        self.pos = 0
        self.base = 0  # absolute offset of buf[0]

    def tell(self) -> int:
        return self.base + self.pos

    def _check_limit(self, upto: int) -> None:
        if self.limit is not None and upto > self.limit:
            raise TooLarge(f"more than {self.limit} bytes")

    def _fill(self, need: int) -> bool:
        """Make at least ``need`` bytes available at pos; False at end of stream."""
        avail = len(self.buf) - self.pos
        if avail >= need:
            return True
        self._check_limit(self.tell() + need)
        parts = [self.buf[self.pos:]]
        self.base += self.pos
        self.pos = 0
        while avail < need:
            chunk = self.f.read(max(CHUNK, need - avail))
            if not chunk:
                self.buf = b"".join(parts)
                return False
            parts.append(chunk)
            avail += len(chunk)
        self.buf = b"".join(parts)
        return True

    def read(self, n: int) -> bytes:
        if n < 0:
            raise PickleError("negative length", self.tell())
        if not self._fill(n):
            raise PickleError("pickle data was truncated", self.tell())
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def read1(self) -> int:
        if self.pos >= len(self.buf) and not self._fill(1):
            raise PickleError("pickle data was truncated (no STOP)", self.tell())
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def readline(self) -> bytes:
        start = self.tell()
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i + 1]
                self.pos = i + 1
                return line
            if len(self.buf) - self.pos > MAX_LINE:
                raise PickleError("line too long", start)
            if not self._fill(len(self.buf) - self.pos + 1):
                raise PickleError("pickle data was truncated (unterminated line)", start)

    def at_eof(self) -> bool:
        return not self._fill(1)

    def skip(self, n: int) -> None:
        """Advance ``n`` bytes that must exist; never holds more than a chunk in memory."""
        if n < 0:
            raise PickleError("negative length", self.tell())
        avail = len(self.buf) - self.pos
        if n <= avail:
            self.pos += n
            return
        target = self.tell() + n
        self._check_limit(target)
        rest = n - avail
        self.base += len(self.buf)
        self.buf = b""
        self.pos = 0
        if self.size is not None:
            if target > self.size:
                raise PickleError("pickle data was truncated (inside a data block)", self.size)
            self.f.seek(rest, 1)
            self.base = target
            return
        while rest > 0:
            chunk = self.f.read(min(rest, 4 * CHUNK))
            if not chunk:
                raise PickleError("pickle data was truncated (inside a data block)", self.base)
            rest -= len(chunk)
            self.base += len(chunk)

    def read_value(self, n: int, kind: str) -> Any:
        """``n`` bytes as bytes when small, else a BigValue with head and tail."""
        if n <= KEEP_WHOLE:
            return self.read(n)
        if n <= 2 * KEEP_EDGE:
            data = self.read(n)
            return BigValue(kind, n, data[:KEEP_EDGE], data[-KEEP_EDGE:])
        head = self.read(KEEP_EDGE)
        self.skip(n - 2 * KEEP_EDGE)
        tail = self.read(KEEP_EDGE)
        return BigValue(kind, n, head, tail)
