"""The pickle VM's scalar opcodes: numbers, strings and bytes (protocols 0-5), as a base
class of :class:`envcheck.inspect.pickle_vm.VM`.  Large operands stay bounded
(:meth:`~envcheck.inspect.pickle_reader.Reader.read_value`).
"""

from __future__ import annotations

import codecs
import struct
from typing import Any

from envcheck.inspect.pickle_reader import KEEP_WHOLE
from envcheck.inspect.pickle_stack import StackOps
from envcheck.inspect.pickle_values import BigValue, PickleError


class ScalarOps(StackOps):
    """Opcodes that push a number, a string or a bytes-like value."""

    # numbers ---------------------------------------------------------------

    def op_float(self, off: int) -> bool:
        try:
            self.stack.append(float(self._line(off)))
        except ValueError:
            raise PickleError("bad FLOAT", off) from None
        return False

    def op_int(self, off: int) -> bool:
        data = self._line(off)
        if data == b"00":
            val: Any = False
        elif data == b"01":
            val = True
        else:
            try:
                val = int(data, 0)
            except ValueError:
                raise PickleError("bad INT", off) from None
        self.stack.append(val)
        return False

    def op_long(self, off: int) -> bool:
        data = self._line(off)
        if data.endswith(b"L"):
            data = data[:-1]
        try:
            self.stack.append(int(data))
        except ValueError:
            raise PickleError("bad LONG", off) from None
        return False

    def op_binint(self, off: int) -> bool:
        self.stack.append(struct.unpack("<i", self.r.read(4))[0])
        return False

    def op_binint1(self, off: int) -> bool:
        self.stack.append(self.r.read1())
        return False

    def op_binint2(self, off: int) -> bool:
        self.stack.append(self._uint(2))
        return False

    def op_long1(self, off: int) -> bool:
        n = self.r.read1()
        self.stack.append(int.from_bytes(self.r.read(n), "little", signed=True))
        return False

    def op_long4(self, off: int) -> bool:
        n = struct.unpack("<i", self.r.read(4))[0]
        if n < 0:
            raise PickleError("LONG pickle has negative byte count", off)
        if n > KEEP_WHOLE:
            self.stack.append(self.r.read_value(n, "int"))
        else:
            self.stack.append(int.from_bytes(self.r.read(n), "little", signed=True))
        return False

    def op_none(self, off: int) -> bool:
        self.stack.append(None)
        return False

    def op_newtrue(self, off: int) -> bool:
        self.stack.append(True)
        return False

    def op_newfalse(self, off: int) -> bool:
        self.stack.append(False)
        return False

    def op_binfloat(self, off: int) -> bool:
        self.stack.append(struct.unpack(">d", self.r.read(8))[0])
        return False

    # strings -------------------------------------------------------------

    def _decode_py2str(self, data: bytes, off: int) -> str:
        # pickle.load(encoding="ASCII") -- the default, and what joblib uses.
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            raise PickleError("non-ASCII protocol-0/1 string", off) from None

    def op_string(self, off: int) -> bool:
        data = self._line(off)
        if len(data) >= 2 and data[0] == data[-1] and data[:1] in (b'"', b"'"):
            data = data[1:-1]
        else:
            raise PickleError("the STRING opcode argument must be quoted", off)
        try:
            raw = codecs.escape_decode(data)[0]
        except ValueError:
            raise PickleError("bad STRING escape", off) from None
        self.stack.append(self._decode_py2str(raw, off))
        return False

    def op_binstring(self, off: int) -> bool:
        n = struct.unpack("<i", self.r.read(4))[0]
        if n < 0:
            raise PickleError("BINSTRING pickle has negative byte count", off)
        val = self.r.read_value(n, "str")
        self.stack.append(val if isinstance(val, BigValue) else self._decode_py2str(val, off))
        return False

    def op_short_binstring(self, off: int) -> bool:
        n = self.r.read1()
        self.stack.append(self._decode_py2str(self.r.read(n), off))
        return False

    def op_unicode(self, off: int) -> bool:
        try:
            self.stack.append(self._line(off).decode("raw-unicode-escape"))
        except UnicodeDecodeError:
            raise PickleError("bad UNICODE", off) from None
        return False

    def _push_text(self, n: int, off: int) -> None:
        val = self.r.read_value(n, "str")
        if isinstance(val, BigValue):
            self.stack.append(val)
            return
        try:
            self.stack.append(val.decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError:
            raise PickleError("invalid UTF-8 in string", off) from None

    def op_binunicode(self, off: int) -> bool:
        self._push_text(self._uint(4), off)
        return False

    def op_short_binunicode(self, off: int) -> bool:
        self._push_text(self.r.read1(), off)
        return False

    def op_binunicode8(self, off: int) -> bool:
        self._push_text(self._uint(8), off)
        return False

    def op_binbytes(self, off: int) -> bool:
        self.stack.append(self.r.read_value(self._uint(4), "bytes"))
        return False

    def op_short_binbytes(self, off: int) -> bool:
        self.stack.append(self.r.read(self.r.read1()))
        return False

    def op_binbytes8(self, off: int) -> bool:
        self.stack.append(self.r.read_value(self._uint(8), "bytes"))
        return False

    def op_bytearray8(self, off: int) -> bool:
        val = self.r.read_value(self._uint(8), "bytearray")
        self.stack.append(val if isinstance(val, BigValue) else bytearray(val))
        return False

    def op_next_buffer(self, off: int) -> bool:
        raise PickleError("NEXT_BUFFER: out-of-band buffers are not supported", off)

    def op_readonly_buffer(self, off: int) -> bool:
        self._top(off)
        return False
