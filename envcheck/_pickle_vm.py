"""A pure-Python pickle virtual machine that never imports or calls anything.

It walks a pickle stream exactly the way ``pickle._Unpickler`` (the implementation joblib
subclasses) would: same stack, metastack and memo, same opcode semantics, including the
joblib extension where the raw bytes of a numpy array follow the BUILD of a
``NumpyArrayWrapper``.  Every class lookup returns an inert :class:`Global` placeholder and
every call returns an inert :class:`Obj`, so the memo and stack are tracked exactly without
running a line of the pickle.  What it sees (globals, calls, BUILD states) is reported to a
:class:`Collector`; the safety policy lives in :mod:`envcheck.pickles`.

Memory stays bounded: large bytes/str operands are skipped (seek on a plain file, chunked
reads on a decompressing stream) and kept only as a head and a tail.
"""

from __future__ import annotations

import codecs
import struct
from typing import IO, Any, Callable, Optional

# Strings/bytes up to this size are kept whole; larger ones become a BigValue.
KEEP_WHOLE = 64 * 1024
# Head/tail kept of a BigValue (enough to find e.g. xgboost's version in its model blob).
KEEP_EDGE = 64 * 1024
MAX_LINE = 64 * 1024
CHUNK = 1 << 20
HIGHEST_PROTOCOL = 5
MAX_DTYPE_DEPTH = 16

# The classes whose BUILD makes joblib's NumpyUnpickler read a raw array from the stream.
JOBLIB_ARRAY_WRAPPERS = frozenset({
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
})


class PickleError(Exception):
    """The stream is not something the unpickler would accept (fail closed)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class TooLarge(Exception):
    pass


# --------------------------------------------------------------------------- placeholders


class Global:
    """What ``find_class(module, name)`` would have returned -- never resolved."""

    __slots__ = ("module", "name", "offset")

    def __init__(self, module: str, name: str, offset: int) -> None:
        self.module = module
        self.name = name
        self.offset = offset

    @property
    def key(self) -> tuple[str, str]:
        return (self.module, self.name)

    def __repr__(self) -> str:
        return f"<global {self.module}.{self.name}@{self.offset}>"


class Obj:
    """The inert result of a call (REDUCE/NEWOBJ/NEWOBJ_EX/INST/OBJ) or a joblib array."""

    __slots__ = ("cls", "func", "args", "kwargs", "offset", "state", "how", "info", "seen")

    def __init__(self, cls: Any, func: Any, args: tuple, offset: int, how: str,
                 kwargs: Optional[dict] = None) -> None:
        self.cls = cls  # the class the object is an instance of, as far as known
        self.func = func  # what was called
        self.args = args
        self.kwargs = kwargs
        self.offset = offset
        self.state: Any = None
        self.how = how
        self.info: Any = None
        self.seen = False  # already counted by a collector (BUILD may run twice)

    def __repr__(self) -> str:
        return f"<obj {self.cls!r} via {self.how}@{self.offset}>"


class BigValue:
    """A str/bytes/bytearray/int too large to keep: its size plus head and tail."""

    __slots__ = ("kind", "size", "head", "tail")

    def __init__(self, kind: str, size: int, head: bytes, tail: bytes) -> None:
        self.kind = kind
        self.size = size
        self.head = head
        self.tail = tail

    def __repr__(self) -> str:
        return f"<{self.kind} of {self.size} bytes>"


class PSet:
    __slots__ = ("items",)
    __hash__ = None  # type: ignore[assignment]  # a set is unhashable, as in the real thing

    def __init__(self) -> None:
        self.items: list = []


class PFrozenSet:
    __slots__ = ("items",)

    def __init__(self, items: list) -> None:
        self.items = items


class PersistentRef:
    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid


# --------------------------------------------------------------------------- reading


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


# --------------------------------------------------------------------------- collector


class Collector:
    """Receives what the VM sees.  :mod:`envcheck.pickles` subclasses it with the policy."""

    def on_global(self, g: Global) -> None:  # every class lookup
        pass

    def on_call(self, how: str, func: Any, args: tuple, kwargs: Optional[dict],
                offset: int) -> None:
        pass

    def on_build(self, inst: Any, state: Any, offset: int) -> None:
        pass

    def on_structural(self, reason: str, offset: int, dangerous: bool) -> None:
        pass

    def on_protocol(self, proto: int) -> None:
        pass

    def on_joblib_array(self, offset: int) -> None:
        pass


# Opcodes protocol 0 does not have: a pickle without PROTO that uses them is protocol 1.
_PROTO1_OPCODES = frozenset(b"JKMGTUXBChjqr}])eu1o")

# Python 2 names fixed up by the unpickler for protocols < 3 (fix_imports=True).
try:
    import _compat_pickle

    _NAME_MAPPING = dict(_compat_pickle.NAME_MAPPING)
    _IMPORT_MAPPING = dict(_compat_pickle.IMPORT_MAPPING)
except ImportError:  # pragma: no cover
    _NAME_MAPPING, _IMPORT_MAPPING = {}, {}


class VM:
    """One pickle stream; ``run`` returns the unpickled placeholder.

    ``raw_arrays``: joblib's NumpyUnpickler semantics (array bytes follow a wrapper's BUILD).
    ``py_framing``: the pure-Python ``pickle._Unpickler`` framing rules (joblib uses it): a
    frame is read ahead as a whole, and data read directly from the file bypasses it.
    Neither: the C unpickler of ``pickle.load``, for which frames are transparent."""

    def __init__(self, reader: Reader, collector: Collector, *, raw_arrays: bool,
                 py_framing: bool) -> None:
        self.r = reader
        self.c = collector
        self.raw_arrays = raw_arrays
        self.py_framing = py_framing
        self.stack: list = []
        self.metastack: list = []
        self.memo: dict = {}
        self.proto = 0
        self.binary = False  # a protocol-1 opcode was seen (for pickles without PROTO)
        self.frame_end: Optional[int] = None  # py_framing: end offset of the open frame
        self.dispatch: dict[int, Callable[[int], bool]] = self._make_dispatch()

    # ---------------------------------------------------------------- helpers

    def _pop(self, off: int) -> Any:
        try:
            return self.stack.pop()
        except IndexError:
            raise PickleError("unpickling stack underflow", off) from None

    def _top(self, off: int) -> Any:
        if not self.stack:
            raise PickleError("unpickling stack underflow", off)
        return self.stack[-1]

    def _pop_mark(self, off: int) -> list:
        if not self.metastack:
            raise PickleError("could not find MARK", off)
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _uint(self, n: int) -> int:
        return int.from_bytes(self.r.read(n), "little")

    def _frame_check(self, off: int) -> None:
        """pure-Python framing: opcodes must not run past the end of a frame (pure-Python rules)."""
        if self.frame_end is not None and self.r.tell() > self.frame_end:
            raise PickleError("pickle exhausted before end of frame", off)

    def _frame_open(self) -> bool:
        return self.frame_end is not None and self.r.tell() < self.frame_end

    # ---------------------------------------------------------------- main loop

    def run(self) -> Any:
        r = self.r
        dispatch = self.dispatch
        while True:
            off = r.tell()
            if self.frame_end is not None and off >= self.frame_end:
                self.frame_end = None
            op = r.read1()
            handler = dispatch.get(op)
            if handler is None:
                raise PickleError(f"unknown opcode 0x{op:02x}", off)
            if not self.proto and op in _PROTO1_OPCODES:
                self.binary = True
            if handler(off):
                return self._pop(off)
            if self.frame_end is not None:
                self._frame_check(off)

    # ---------------------------------------------------------------- opcodes

    def _make_dispatch(self) -> dict[int, Callable[[int], bool]]:
        d: dict[bytes, Callable[[int], bool]] = {
            b"(": self.op_mark, b".": self.op_stop, b"0": self.op_pop, b"1": self.op_pop_mark,
            b"2": self.op_dup, b"F": self.op_float, b"I": self.op_int, b"J": self.op_binint,
            b"K": self.op_binint1, b"L": self.op_long, b"M": self.op_binint2,
            b"N": self.op_none, b"P": self.op_persid, b"Q": self.op_binpersid,
            b"R": self.op_reduce, b"S": self.op_string, b"T": self.op_binstring,
            b"U": self.op_short_binstring, b"V": self.op_unicode, b"X": self.op_binunicode,
            b"a": self.op_append, b"b": self.op_build, b"c": self.op_global,
            b"d": self.op_dict, b"}": self.op_empty_dict, b"e": self.op_appends,
            b"g": self.op_get, b"h": self.op_binget, b"i": self.op_inst,
            b"j": self.op_long_binget, b"l": self.op_list, b"]": self.op_empty_list,
            b"o": self.op_obj, b"p": self.op_put, b"q": self.op_binput,
            b"r": self.op_long_binput, b"s": self.op_setitem, b"t": self.op_tuple,
            b")": self.op_empty_tuple, b"u": self.op_setitems, b"G": self.op_binfloat,
            b"\x80": self.op_proto, b"\x81": self.op_newobj, b"\x82": self.op_ext,
            b"\x83": self.op_ext, b"\x84": self.op_ext, b"\x85": self.op_tuple1,
            b"\x86": self.op_tuple2, b"\x87": self.op_tuple3, b"\x88": self.op_newtrue,
            b"\x89": self.op_newfalse, b"\x8a": self.op_long1, b"\x8b": self.op_long4,
            b"B": self.op_binbytes, b"C": self.op_short_binbytes,
            b"\x8c": self.op_short_binunicode, b"\x8d": self.op_binunicode8,
            b"\x8e": self.op_binbytes8, b"\x8f": self.op_empty_set,
            b"\x90": self.op_additems, b"\x91": self.op_frozenset,
            b"\x92": self.op_newobj_ex, b"\x93": self.op_stack_global,
            b"\x94": self.op_memoize, b"\x95": self.op_frame, b"\x96": self.op_bytearray8,
            b"\x97": self.op_next_buffer, b"\x98": self.op_readonly_buffer,
        }
        return {k[0]: v for k, v in d.items()}

    def op_mark(self, off: int) -> bool:
        self.metastack.append(self.stack)
        self.stack = []
        return False

    def op_stop(self, off: int) -> bool:
        return True

    def op_pop(self, off: int) -> bool:
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark(off)
        return False

    def op_pop_mark(self, off: int) -> bool:
        self._pop_mark(off)
        return False

    def op_dup(self, off: int) -> bool:
        self.stack.append(self._top(off))
        return False

    def _line(self, off: int) -> bytes:
        return self.r.readline()[:-1]

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

    # containers ------------------------------------------------------------

    def op_empty_tuple(self, off: int) -> bool:
        self.stack.append(())
        return False

    def op_tuple(self, off: int) -> bool:
        items = self._pop_mark(off)  # first: it replaces self.stack
        self.stack.append(tuple(items))
        return False

    def op_tuple1(self, off: int) -> bool:
        self.stack.append((self._pop(off),))
        return False

    def op_tuple2(self, off: int) -> bool:
        b = self._pop(off)
        a = self._pop(off)
        self.stack.append((a, b))
        return False

    def op_tuple3(self, off: int) -> bool:
        c = self._pop(off)
        b = self._pop(off)
        a = self._pop(off)
        self.stack.append((a, b, c))
        return False

    def op_empty_list(self, off: int) -> bool:
        self.stack.append([])
        return False

    def op_list(self, off: int) -> bool:
        items = self._pop_mark(off)
        self.stack.append(items)
        return False

    def op_empty_dict(self, off: int) -> bool:
        self.stack.append({})
        return False

    def op_dict(self, off: int) -> bool:
        items = self._pop_mark(off)
        if len(items) % 2:
            raise PickleError("odd number of items for DICT", off)
        d: dict = {}
        for i in range(0, len(items), 2):
            self._setitem(d, items[i], items[i + 1], off)
        self.stack.append(d)
        return False

    def op_empty_set(self, off: int) -> bool:
        self.stack.append(PSet())
        return False

    def op_frozenset(self, off: int) -> bool:
        items = self._pop_mark(off)
        self.stack.append(PFrozenSet(items))
        return False

    def _setitem(self, d: dict, key: Any, value: Any, off: int) -> None:
        if type(key) is tuple:
            _check_depth(key, off)  # hashing a deeply nested tuple recurses in C
        try:
            d[key] = value
        except TypeError:
            raise PickleError("unhashable dict key", off) from None

    def _on_container_target(self, target: Any, what: str, off: int) -> bool:
        """Handle APPEND/SETITEM/ADDITEMS on something that is not a plain container.

        The real unpickler calls the target's ``append``/``extend``/``__setitem__``/``add``:
        harmless on an instance of an allowed class, not on a class or function object.
        Returns True when handled."""
        if isinstance(target, Obj):
            return True
        if isinstance(target, Global):
            self.c.on_structural(
                f"{what} on {target.module}.{target.name} calls a method of a class or "
                "function object", off, True)
            return True
        return False

    def op_append(self, off: int) -> bool:
        value = self._pop(off)
        target = self._top(off)
        if isinstance(target, list):
            target.append(value)
        elif not self._on_container_target(target, "APPEND", off):
            raise PickleError(f"APPEND on a {type(target).__name__}", off)
        return False

    def op_appends(self, off: int) -> bool:
        items = self._pop_mark(off)
        target = self._top(off)
        if isinstance(target, list):
            target.extend(items)
        elif not self._on_container_target(target, "APPENDS", off):
            raise PickleError(f"APPENDS on a {type(target).__name__}", off)
        return False

    def op_setitem(self, off: int) -> bool:
        value = self._pop(off)
        key = self._pop(off)
        target = self._top(off)
        if isinstance(target, dict):
            self._setitem(target, key, value, off)
        elif not self._on_container_target(target, "SETITEM", off):
            raise PickleError(f"SETITEM on a {type(target).__name__}", off)
        return False

    def op_setitems(self, off: int) -> bool:
        items = self._pop_mark(off)
        target = self._top(off)
        if len(items) % 2:
            raise PickleError("odd number of items for SETITEMS", off)
        if isinstance(target, dict):
            for i in range(0, len(items), 2):
                self._setitem(target, items[i], items[i + 1], off)
        elif not self._on_container_target(target, "SETITEMS", off):
            raise PickleError(f"SETITEMS on a {type(target).__name__}", off)
        return False

    def op_additems(self, off: int) -> bool:
        items = self._pop_mark(off)
        target = self._top(off)
        if isinstance(target, PSet):
            target.items.extend(items)
        elif not self._on_container_target(target, "ADDITEMS", off):
            raise PickleError(f"ADDITEMS on a {type(target).__name__}", off)
        return False

    # memo ------------------------------------------------------------------

    def _get(self, idx: int, off: int) -> bool:
        try:
            self.stack.append(self.memo[idx])
        except KeyError:
            raise PickleError(f"memo key {idx} not found", off) from None
        return False

    def op_get(self, off: int) -> bool:
        try:
            idx = int(self._line(off))
        except ValueError:
            raise PickleError("bad GET", off) from None
        return self._get(idx, off)

    def op_binget(self, off: int) -> bool:
        return self._get(self.r.read1(), off)

    def op_long_binget(self, off: int) -> bool:
        return self._get(self._uint(4), off)

    def _put(self, idx: int, off: int) -> bool:
        if idx < 0:
            raise PickleError("negative PUT argument", off)
        self.memo[idx] = self._top(off)
        return False

    def op_put(self, off: int) -> bool:
        try:
            idx = int(self._line(off))
        except ValueError:
            raise PickleError("bad PUT", off) from None
        return self._put(idx, off)

    def op_binput(self, off: int) -> bool:
        return self._put(self.r.read1(), off)

    def op_long_binput(self, off: int) -> bool:
        return self._put(self._uint(4), off)

    def op_memoize(self, off: int) -> bool:
        return self._put(len(self.memo), off)

    # framing / protocol ------------------------------------------------------

    def op_proto(self, off: int) -> bool:
        proto = self.r.read1()
        if proto > HIGHEST_PROTOCOL:
            raise PickleError(f"unsupported pickle protocol: {proto}", off)
        self.proto = proto
        self.c.on_protocol(proto)
        return False

    def op_frame(self, off: int) -> bool:
        size = self._uint(8)
        if self.py_framing:
            # pickle._Unframer: a new frame may only start once the previous one is used up.
            if self._frame_open():
                raise PickleError("beginning of a new frame before end of current frame", off)
            self.frame_end = self.r.tell() + size
        return False

    # globals and calls -------------------------------------------------------

    def _find_class(self, module: str, name: str, off: int) -> Global:
        if self.proto < 3:
            # fix_imports, exactly as pickle.Unpickler.find_class does it.
            if (module, name) in _NAME_MAPPING:
                module, name = _NAME_MAPPING[(module, name)]
            elif module in _IMPORT_MAPPING:
                module = _IMPORT_MAPPING[module]
        g = Global(module, name, off)
        self.c.on_global(g)
        return g

    def _text_line(self, off: int) -> str:
        try:
            return self._line(off).decode("utf-8")
        except UnicodeDecodeError:
            raise PickleError("invalid UTF-8 in a global name", off) from None

    def op_global(self, off: int) -> bool:
        module = self._text_line(off)
        name = self._text_line(off)
        self.stack.append(self._find_class(module, name, off))
        return False

    def op_stack_global(self, off: int) -> bool:
        name = self._pop(off)
        module = self._pop(off)
        if type(module) is not str or type(name) is not str:
            raise PickleError("STACK_GLOBAL requires str operands", off)
        self.stack.append(self._find_class(module, name, off))
        return False

    def _instance_class(self, func: Any, args: tuple) -> Any:
        """The class the created object belongs to, as the unpickler would see it."""
        if isinstance(func, Global) and func.key in (
                ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"),
                ("copyreg", "__newobj_ex__")) and args:
            return args[0]
        return func

    def _call(self, how: str, func: Any, args: Any, kwargs: Any, off: int) -> Obj:
        if not isinstance(args, tuple):
            raise PickleError(f"{how} arguments must be a tuple", off)
        if kwargs is not None and not isinstance(kwargs, dict):
            raise PickleError(f"{how} keyword arguments must be a dict", off)
        self.c.on_call(how, func, args, kwargs, off)
        cls = func if how != "REDUCE" else self._instance_class(func, args)
        return Obj(cls, func, args, off, how, kwargs)

    def op_reduce(self, off: int) -> bool:
        args = self._pop(off)
        func = self._pop(off)
        self.stack.append(self._call("REDUCE", func, args, None, off))
        return False

    def op_newobj(self, off: int) -> bool:
        args = self._pop(off)
        cls = self._pop(off)
        self.stack.append(self._call("NEWOBJ", cls, args, None, off))
        return False

    def op_newobj_ex(self, off: int) -> bool:
        kwargs = self._pop(off)
        args = self._pop(off)
        cls = self._pop(off)
        self.stack.append(self._call("NEWOBJ_EX", cls, args, kwargs, off))
        return False

    def op_inst(self, off: int) -> bool:
        module = self._text_line(off)
        name = self._text_line(off)
        g = self._find_class(module, name, off)
        args = tuple(self._pop_mark(off))
        self.stack.append(self._call("INST", g, args, None, off))
        return False

    def op_obj(self, off: int) -> bool:
        items = self._pop_mark(off)
        if not items:
            raise PickleError("OBJ without a class", off)
        self.stack.append(self._call("OBJ", items[0], tuple(items[1:]), None, off))
        return False

    def op_ext(self, off: int) -> bool:
        raise PickleError("EXT opcodes need a copyreg extension registry (unregistered code)",
                          off)

    def op_persid(self, off: int) -> bool:
        pid = self._line(off)
        self.c.on_structural("persistent id (PERSID): needs a custom loader", off, False)
        self.stack.append(PersistentRef(pid))
        return False

    def op_binpersid(self, off: int) -> bool:
        pid = self._pop(off)
        self.c.on_structural("persistent id (BINPERSID): needs a custom loader", off, False)
        self.stack.append(PersistentRef(pid))
        return False

    # BUILD -----------------------------------------------------------------

    def op_build(self, off: int) -> bool:
        state = self._pop(off)
        inst = self._top(off)
        if isinstance(inst, Global):
            self.c.on_structural(
                f"BUILD on {inst.module}.{inst.name} sets attributes of a class or function "
                "object", off, True)
            return False
        if not isinstance(inst, Obj):
            raise PickleError(f"BUILD on a {type(inst).__name__}", off)
        inst.state = state
        self.c.on_build(inst, state, off)
        cls = inst.cls
        if self.raw_arrays and isinstance(cls, Global) and cls.key in JOBLIB_ARRAY_WRAPPERS:
            self.stack[-1] = self._joblib_array(inst, off)
        return False

    # joblib raw arrays -------------------------------------------------------

    def _joblib_array(self, wrapper: Obj, off: int) -> Obj:
        """Consume the array bytes joblib's NumpyArrayWrapper.read_array would read."""
        if self._frame_open():
            # joblib reads the array from the file, bypassing the open frame's buffer: a
            # scanner reading sequentially would desynchronise.  Real joblib never does it.
            raise PickleError("joblib array data inside an unfinished pickle frame", off)
        self.frame_end = None  # used up: what follows is read from the file directly
        attrs = _wrapper_attrs(wrapper, off)
        shape = attrs.get("shape")
        if not isinstance(shape, tuple) or not all(
                type(x) is int and x >= 0 for x in shape):
            raise PickleError("joblib array wrapper without a valid shape", off)
        itemsize, hasobject = dtype_layout(attrs.get("dtype"), off)
        self.c.on_joblib_array(off)
        if hasobject:
            # A nested, complete pickle follows, read by a fresh plain unpickler.
            inner = VM(self.r, self.c, raw_arrays=False, py_framing=True)
            result = inner.run_inner()
            arr = Obj(Global("numpy", "ndarray", off), None, (), off, "joblib-array")
            arr.info = result
            return arr
        count = 1
        for dim in shape:
            count *= dim
        if attrs.get("numpy_array_alignment_bytes") is not None:
            padding = self.r.read1()
            if padding:
                self.r.skip(padding)
        self.r.skip(count * itemsize)
        arr = Obj(Global("numpy", "ndarray", off), None, (), off, "joblib-array")
        arr.info = (shape, itemsize)
        return arr

    def run_inner(self) -> Any:
        """A nested pickle (joblib object array): stop at its STOP; a frame still open then
        is dropped, just as the pure-Python unpickler drops its frame buffer."""
        result = self.run()
        if self._frame_open():
            assert self.frame_end is not None
            self.r.skip(self.frame_end - self.r.tell())
        return result


def _check_depth(value: tuple, off: int, limit: int = 200) -> None:
    """Refuse tuples nested deeper than ``limit`` (iteratively, without recursion)."""
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if depth > limit:
            raise PickleError("dict key nested too deeply", off)
        todo.extend((x, depth + 1) for x in item if type(x) is tuple)


def _wrapper_attrs(wrapper: Obj, off: int) -> dict:
    """The attributes a NumpyArrayWrapper ends up with: __init__ args, then BUILD state."""
    attrs: dict = {}
    if wrapper.how in ("REDUCE", "INST", "OBJ") and wrapper.func is wrapper.cls:
        names = ("subclass", "shape", "order", "dtype", "allow_mmap",
                 "numpy_array_alignment_bytes")
        attrs.update({"allow_mmap": False, "numpy_array_alignment_bytes": 16})
        if len(wrapper.args) > len(names):
            raise PickleError("too many arguments for NumpyArrayWrapper", off)
        attrs.update(zip(names, wrapper.args))
    state = wrapper.state
    if isinstance(state, tuple) and len(state) == 2:
        for part in state:
            if part is not None and not isinstance(part, dict):
                raise PickleError("joblib array wrapper with an unusable state", off)
            attrs.update(part or {})
    elif isinstance(state, dict):
        attrs.update(state)
    elif state is not None:
        raise PickleError("joblib array wrapper with an unusable state", off)
    return {k: v for k, v in attrs.items() if isinstance(k, str)}


# --------------------------------------------------------------------------- dtypes

_NUMERIC_SIZES = {"i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8, 16),
                  "c": (8, 16, 32), "b": (1,)}


def _is_numpy_dtype_call(obj: Any) -> bool:
    return (isinstance(obj, Obj) and obj.how == "REDUCE" and isinstance(obj.func, Global)
            and obj.func.key == ("numpy", "dtype"))


def dtype_layout(dtype: Any, off: int, depth: int = 0) -> tuple[int, bool]:
    """(itemsize, hasobject) of a pickled ``numpy.dtype``, computed exactly or refused.

    joblib reads ``prod(shape) * itemsize`` raw bytes, or a nested pickle when the dtype
    holds objects; a guess here would desynchronise the walk, so anything not understood
    fails closed."""
    if depth > MAX_DTYPE_DEPTH:
        raise PickleError("dtype nested too deeply", off)
    if not _is_numpy_dtype_call(dtype):
        raise PickleError("joblib array wrapper whose dtype is not a numpy.dtype", off)
    args = dtype.args
    if not args or type(args[0]) is not str:
        raise PickleError("numpy.dtype with a non-string type code", off)
    code = args[0]
    kind, rest = code[:1], code[1:]
    state = dtype.state
    if state is not None and not (isinstance(state, tuple) and len(state) in (8, 9)
                                  and state[0] in (3, 4)):
        raise PickleError("numpy.dtype with an unknown state layout", off)
    if kind in ("V", "S", "U"):
        if not rest.isdigit():
            raise PickleError(f"numpy.dtype with an unusable type code {code!r}", off)
        size = int(rest)
        if state is not None and type(state[5]) is int and state[5] >= 0:
            size = state[5]  # flexible and structured dtypes take elsize from the state
        hasobject = False
        if state is not None:
            sub = state[2]
            if sub is not None:
                if not (isinstance(sub, tuple) and len(sub) == 2):
                    raise PickleError("numpy.dtype with an unusable subarray", off)
                hasobject |= dtype_layout(sub[0], off, depth + 1)[1]
            fields = state[4]
            if fields is not None:
                if not isinstance(fields, dict):
                    raise PickleError("numpy.dtype with unusable fields", off)
                for spec in fields.values():
                    if not (isinstance(spec, tuple) and len(spec) >= 2):
                        raise PickleError("numpy.dtype with an unusable field", off)
                    hasobject |= dtype_layout(spec[0], off, depth + 1)[1]
        _check_object_flag(state, hasobject, off)
        return size, hasobject
    if kind == "O":
        if rest not in ("", "8"):
            raise PickleError(f"numpy.dtype with an unusable type code {code!r}", off)
        _check_object_flag(state, True, off)
        return 8, True
    if kind in ("M", "m"):
        if rest not in ("", "8"):
            raise PickleError(f"numpy.dtype with an unusable type code {code!r}", off)
        _check_object_flag(state, False, off)
        return 8, False
    if kind in _NUMERIC_SIZES and rest.isdigit() and int(rest) in _NUMERIC_SIZES[kind]:
        _check_object_flag(state, False, off)
        return int(rest), False
    if code == "?":
        return 1, False
    raise PickleError(f"numpy.dtype with an unusable type code {code!r}", off)


def _check_object_flag(state: Any, hasobject: bool, off: int) -> None:
    """The pickled flags' "holds references" bit must agree with the structure."""
    if state is None:
        return
    flags = state[7]
    if type(flags) is not int:
        raise PickleError("numpy.dtype with non-integer flags", off)
    if bool(flags & 1) != hasobject:
        raise PickleError("numpy.dtype whose object flag contradicts its fields", off)
