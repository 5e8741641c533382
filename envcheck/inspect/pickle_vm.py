"""A pure-Python pickle virtual machine that never imports or calls anything.

It walks a pickle stream exactly the way ``pickle._Unpickler`` (the implementation joblib
subclasses) would: same stack, metastack and memo, same opcode semantics, including the
joblib extension where the raw bytes of a numpy array follow the BUILD of a
``NumpyArrayWrapper``.  Every class lookup returns an inert
:class:`~envcheck.inspect.pickle_values.Global` placeholder and every call returns an inert
:class:`~envcheck.inspect.pickle_values.Obj`, so the memo and stack are tracked exactly
without running a line of the pickle.  What it sees (globals, calls, BUILD states) is
reported to a :class:`~envcheck.inspect.pickle_values.Collector`; the safety policy lives
in :mod:`envcheck.inspect.policy`.

This module holds the main loop, the opcode dispatch table, framing, globals and calls,
BUILD and joblib's raw arrays; the value opcodes live in its base classes
(:mod:`envcheck.inspect.pickle_scalars`, :mod:`envcheck.inspect.pickle_stack`), the bounded
reader in :mod:`envcheck.inspect.pickle_reader`, dtype layouts in
:mod:`envcheck.inspect.dtypes`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from envcheck.inspect.dtypes import dtype_layout
from envcheck.inspect.pickle_reader import Reader
from envcheck.inspect.pickle_scalars import ScalarOps
from envcheck.inspect.pickle_values import (
    Collector,
    Global,
    Obj,
    PersistentRef,
    PickleError,
)

HIGHEST_PROTOCOL = 5

# The classes whose BUILD makes joblib's NumpyUnpickler read a raw array from the stream.
JOBLIB_ARRAY_WRAPPERS = frozenset({
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
})


# Opcodes protocol 0 does not have: a pickle without PROTO that uses them is protocol 1.
_PROTO1_OPCODES = frozenset(b"JKMGTUXBChjqr}])eu1o")

# Python 2 names fixed up by the unpickler for protocols < 3 (fix_imports=True).
try:
    import _compat_pickle

    _NAME_MAPPING = dict(_compat_pickle.NAME_MAPPING)
    _IMPORT_MAPPING = dict(_compat_pickle.IMPORT_MAPPING)
except ImportError:  # pragma: no cover
    _NAME_MAPPING, _IMPORT_MAPPING = {}, {}


class VM(ScalarOps):
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
        self.sizes: dict = {}
        self.proto = 0
        self.binary = False  # a protocol-1 opcode was seen (for pickles without PROTO)
        self.frame_end: Optional[int] = None  # py_framing: end offset of the open frame
        self.dispatch: dict[int, Callable[[int], bool]] = self._make_dispatch()

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
        obj = Obj(cls, func, args, off, how, kwargs)
        return self._sized(obj, args + tuple(kwargs.values()) if kwargs else args, off)

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
        self._grow(inst, (state,), off)
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
