"""Exact layout of a pickled ``numpy.dtype``: the itemsize and whether it holds objects.

joblib's NumpyUnpickler reads a raw array's bytes (or a nested pickle, for object arrays)
right after a ``NumpyArrayWrapper``'s BUILD; the VM (:mod:`envcheck.inspect.pickle_vm`)
needs the exact byte count to stay in step, so any dtype not understood is refused.
"""

from __future__ import annotations

from typing import Any

from envcheck.inspect.pickle_values import Global, Obj, PickleError

MAX_DTYPE_DEPTH = 16

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
