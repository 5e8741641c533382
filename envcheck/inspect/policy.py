"""The safety policy applied while the VM walks a pickle, and what it records.

:class:`Policy` is the :class:`~envcheck.inspect.pickle_values.Collector` the VM reports
to.  It is package-independent: every global is judged against the denylist
(:mod:`envcheck.inspect.gadgets`), dunder and dotted names, and the exact allowlist of
:mod:`envcheck.inspect.allowlist` (:func:`classify_global`); one no exact list covers is
recorded as :data:`NOT_ALLOWLISTED` (and in ``called`` when the pickle calls it), for
:mod:`envcheck.inspect.safety` to judge by its origin once the package is known.  It checks
the arguments of the callables that are only safe with some (``_ufunc_reconstruct``,
``_codecs.encode``, ``copyreg._reconstructor``, ``getattr``), refuses calling a class whose
``__init__`` reads files, flags dunder attributes set by BUILD (but text ``__doc__`` and
kin), and collects the library versions recorded inside (:mod:`envcheck.inspect.versions`)
into a :class:`PickleInspection`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.inspect import allowlist as allow
from envcheck.inspect.gadgets import init_danger
from envcheck.inspect.pickle_values import BigValue, Collector, Global, Obj
from envcheck.inspect.versions import looks_like_old_estimator, xgboost_version

_LATIN1 = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})
GETATTR = ("builtins", "getattr")
# The reason of a global only the exact allowlist refused: its origin decides (safety.py).
NOT_ALLOWLISTED = "not in the allowlist"
_MAIN = frozenset({"__main__", "__mp_main__"})
# Dunder attributes a BUILD may set on an instance, to a str (or None): numpy.vectorize and
# statsmodels' result wrappers carry __doc__/__name__ in their __dict__.  Setting them on an
# instance changes nothing but the text help() shows; every other dunder (__class__,
# __dict__, __reduce__, __setstate__, __getattr__ ...) changes behaviour and is refused.
BUILD_TEXT_DUNDERS = frozenset({"__doc__", "__name__", "__qualname__", "__module__"})


@dataclass(frozen=True)
class GlobalRef:
    module: str
    name: str
    offset: int  # byte offset of the opcode in the (decompressed) pickle stream


@dataclass(frozen=True)
class UnsafeRef:
    module: str  # "" for a structural problem (e.g. BUILD on a class object)
    name: str
    offset: int
    reason: str
    dangerous: bool
    origin: str = ""  # once judged by origin: "main" | "package" | "stdlib" | ... | "gadget"


@dataclass
class PickleInspection:
    path: Path
    format: str = "pickle"  # "pickle" | "joblib" | "joblib-zlib" | "joblib-gzip" | ...
    protocol: Optional[int] = None  # of the outer pickle
    max_protocol: Optional[int] = None  # including pickles nested in joblib object arrays
    globals: list[GlobalRef] = field(default_factory=list)
    unsafe: list[UnsafeRef] = field(default_factory=list)
    # estimator class -> pickled scikit-learn version -> how many objects
    sklearn_versions: dict[str, dict[str, int]] = field(default_factory=dict)
    numpy_writer: Optional[str] = None  # "1.x" | "2.x" | None
    xgboost_version: Optional[str] = None
    error: Optional[str] = None  # could not be walked: fail closed
    error_offset: Optional[int] = None
    size: int = 0  # bytes on disk
    stream_size: int = 0  # bytes of (decompressed) pickle stream walked
    arrays: int = 0  # raw numpy arrays joblib stores between pickle opcodes
    duration_s: float = 0.0
    # Formats beyond a plain pickle (envcheck.inspect.artifacts): the archive member
    # walked ("archive/data.pkl", "inner.npz!arr_0.npy"; findings name path!member);
    # False for an artifact holding no pickle stream (a safetensors file, an xgboost
    # JSON model); versions recorded by the format (versions.RecordedVersion).
    member: Optional[str] = None
    walked: bool = True
    recorded: list[Any] = field(default_factory=list)
    # Globals *called* while unpickling (REDUCE/INST/OBJ, a _reconstructor base) that no
    # exact allowlist covers: the origin policy refuses them unless they are classes.
    called: set[tuple[str, str]] = field(default_factory=set)

    @property
    def safe(self) -> bool:
        return self.error is None and not self.unsafe


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _is_text(value: Any) -> bool:
    return value is None or type(value) is str or (
        isinstance(value, BigValue) and value.kind == "str")


def classify_global(module: str, name: str) -> Optional[tuple[str, bool]]:
    """(reason, dangerous) when importing ``module.name`` is not allowed by the exact
    allowlist, else None.  Not dangerous means: judged by its origin later
    (:mod:`envcheck.inspect.origins`), once the package is known."""
    reason = allow.danger(module, name)
    if _is_dunder(name) or (module not in _MAIN and any(
            _is_dunder(p) for p in module.split("."))):
        return f"dunder name{'; ' + reason if reason else ''}", True
    if "." in name:
        return ("dotted name: an attribute chain that can reach anything "
                f"(e.g. {module}.{name.split('.')[0]}...)", True)
    if reason is not None:
        return f"known dangerous: {reason}", True
    if allow.kind(module, name) is None:
        return NOT_ALLOWLISTED, False
    return None


def _is_getattr(func: Any) -> bool:
    return isinstance(func, Global) and func.key == GETATTR


class Policy(Collector):
    """Turns what the VM sees into an inspection: globals, unsafe refs, versions."""

    def __init__(self, result: PickleInspection) -> None:
        self.result = result
        self._seen_globals: set[tuple[str, str]] = set()
        self._seen_unsafe: set[tuple[str, str, str]] = set()
        self._numpy_core = False
        self._numpy_private_core = False
        self._pre018: dict[str, int] = {}
        self._versioned = False
        self._getattr_at: Optional[int] = None  # first import of builtins.getattr
        self._getattr_called = False

    # -- recording

    def _unsafe(self, module: str, name: str, offset: int, reason: str,
                dangerous: bool) -> None:
        key = (module, name, reason) if module else ("", "", f"{reason}@{offset}")
        if key in self._seen_unsafe:
            return
        self._seen_unsafe.add(key)
        self.result.unsafe.append(UnsafeRef(module, name, offset, reason, dangerous))

    def _import(self, module: str, name: str, offset: int) -> None:
        if module == "numpy.core" or module.startswith("numpy.core."):
            self._numpy_core = True
        elif module == "numpy._core" or module.startswith("numpy._core."):
            self._numpy_private_core = True
        key = (module, name)
        if key in self._seen_globals:
            return
        self._seen_globals.add(key)
        self.result.globals.append(GlobalRef(module, name, offset))
        if key == GETATTR:
            self._getattr_at = offset
            return  # judged where it is used (on_call; anywhere else: _check_stored)
        verdict = classify_global(module, name)
        if verdict is not None:
            self._unsafe(module, name, offset, *verdict)

    # -- VM callbacks

    def on_protocol(self, proto: int) -> None:
        if self.result.protocol is None:
            self.result.protocol = proto
        self.result.max_protocol = max(self.result.max_protocol or 0, proto)

    def on_global(self, g: Global) -> None:
        self._import(g.module, g.name, g.offset)

    def on_structural(self, reason: str, offset: int, dangerous: bool) -> None:
        self._unsafe("", "", offset, reason, dangerous)

    def on_joblib_array(self, offset: int) -> None:
        self.result.arrays += 1

    def on_call(self, how: str, func: Any, args: tuple, kwargs: Optional[dict],
                offset: int) -> None:
        if isinstance(func, Obj) and _is_getattr(func.func) and len(func.args) == 2 \
                and isinstance(func.args[0], Global) and type(func.args[1]) is str \
                and allow.kind(func.args[0].module,
                               f"{func.args[0].name}.{func.args[1]}") == "function":
            return  # getattr(Class, "name")(...): a callable of the exact allowlist
        if not isinstance(func, Global):
            self._unsafe("", "", offset,
                         f"{how} calls an object built by the pickle, not an allowed global",
                         True)
            return
        module, name = func.key
        self._check_stored(args, offset)
        if kwargs:
            self._check_stored(tuple(kwargs.values()), offset)
        if func.key == GETATTR and how == "REDUCE":
            self._getattr_called = True
            self._check_getattr(args, offset)
            return
        if how in ("REDUCE", "INST", "OBJ") and init_danger(module, name):
            self._unsafe(module, name, offset, f"{how} runs {module}.{name}.__init__: "
                         f"{init_danger(module, name)}", True)
            return
        if func.key == ("copyreg", "_reconstructor") and len(args) == 3 and isinstance(
                args[1], Global) and args[1].key != ("builtins", "object"):
            if allow.kind(*args[1].key) is None:
                self.result.called.add(args[1].key)  # base.__new__/__init__(obj, state)
        kind = allow.kind(module, name)
        if kind is None:
            if how in ("REDUCE", "INST", "OBJ"):
                self.result.called.add(func.key)
            return  # reported when it was imported; its origin decides
        if kind == "reference":
            self._unsafe(module, name, offset,
                         f"{how} calls {module}.{name}, which may only be referenced", True)
            return
        if how != "REDUCE" and kind != "class":
            self._unsafe(module, name, offset,
                         f"{how} instantiates {module}.{name}, which is not a class", True)
            return
        if name == "_ufunc_reconstruct":
            self._check_ufunc(func, args, offset)
        elif func.key == ("_codecs", "encode"):
            # protocol 2 writes bytes as _codecs.encode(text, "latin1"); text over 64 KiB
            # is kept as a BigValue of kind "str"
            if not (len(args) == 2 and _is_text(args[0]) and args[0] is not None
                    and type(args[1]) is str
                    and args[1].lower() in _LATIN1):
                self._unsafe(module, name, offset,
                             "_codecs.encode with arguments other than (text, 'latin1')",
                             True)
        elif func.key == ("copyreg", "_reconstructor"):
            if not (len(args) == 3 and isinstance(args[0], Global)
                    and isinstance(args[1], Global)):
                self._unsafe(module, name, offset,
                             "copyreg._reconstructor without global class arguments", True)

    def _check_ufunc(self, func: Global, args: tuple, offset: int) -> None:
        # numpy 1.x's _ufunc_reconstruct(module, name) imports module and getattr()s name:
        # judge its arguments exactly like a global import.
        if not (len(args) == 2 and type(args[0]) is str and type(args[1]) is str):
            self._unsafe(func.module, func.name, offset,
                         "_ufunc_reconstruct with non-constant arguments", True)
            return
        module, name = args
        self._import(module, name, offset)
        if (module, name) in self._seen_unsafe_pairs():
            return
        if module not in allow.UFUNC_MODULES or name not in allow.NUMPY_UFUNCS:
            self._unsafe(module, name, offset,
                         f"imported through {func.module}._ufunc_reconstruct: not a numpy "
                         "ufunc", True)

    def _check_getattr(self, args: tuple, offset: int) -> None:
        """``getattr(x, "name")``, which protocol 2+ pickles write for a bound method.

        On a class, function or module object (a Global) it reaches any attribute: judged
        exactly like the dotted global ``module:Class.name`` (only the exact allowlist,
        e.g. ``zoneinfo.ZoneInfo._unpickle``).  On an instance the pickle built (scipy's
        frozen distributions keep ``vectorize(getattr(self, "_ppf_single"))``), a plain
        constant name gives a bound method that can only be stored: calling a result of
        the pickle while unpickling is refused anyway ("REDUCE calls an object built by
        the pickle"), and chaining getattr is refused here."""
        if len(args) != 2 or type(args[1]) is not str:
            self._unsafe(*GETATTR, offset, "getattr with non-constant arguments: reaches "
                         "any attribute (e.g. os.system)", True)
            return
        target, attr = args
        if _is_dunder(attr) or attr.startswith("__") or "." in attr:
            self._unsafe(*GETATTR, offset, f"getattr(..., {attr!r}): a dunder or dotted "
                         "attribute", True)
        elif isinstance(target, Global):
            dotted = (target.module, f"{target.name}.{attr}")
            if allow.kind(*dotted) is None:
                self._unsafe(*dotted, offset, f"reached with getattr({target.module}."
                             f"{target.name}, {attr!r}): not in the allowlist", True)
        elif not (isinstance(target, Obj) and not _is_getattr(target.func)):
            self._unsafe(*GETATTR, offset, "getattr on something other than an object "
                         "the pickle constructed", True)

    def _check_stored(self, values: tuple, offset: int) -> None:
        """builtins.getattr itself may only be called: held by an object (an argument, a
        state value) a model could call it later with anything."""
        for value in values:
            inner = value.values() if isinstance(value, dict) else (
                value if isinstance(value, (tuple, list)) else (value,))
            if any(isinstance(v, Global) and v.key == GETATTR for v in inner):
                self._unsafe(*GETATTR, offset, "builtins.getattr stored in an object: "
                             "reaches any attribute when called", True)

    def _seen_unsafe_pairs(self) -> set[tuple[str, str]]:
        return {(u.module, u.name) for u in self.result.unsafe}

    def on_build(self, inst: Any, state: Any, offset: int) -> None:
        assert isinstance(inst, Obj)
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        for part in parts:
            if isinstance(part, dict):
                self._check_stored(tuple(part.values()), offset)
                bad = sorted(k for k, v in part.items() if isinstance(k, str) and _is_dunder(k)
                             and not (k in BUILD_TEXT_DUNDERS and _is_text(v)))
                if bad:
                    self._unsafe("", "", offset,
                                 f"BUILD sets dunder attribute(s) {', '.join(bad)}", True)
        cls = inst.cls
        if not isinstance(cls, Global) or inst.seen:
            return
        d = parts[0] if isinstance(parts[0], dict) else None
        if d is None:
            return
        version = d.get("_sklearn_version")
        if isinstance(version, str):
            inst.seen = True
            self._versioned = True
            counts = self.result.sklearn_versions.setdefault(cls.name, {})
            counts[version] = counts.get(version, 0) + 1
        elif looks_like_old_estimator(cls):
            inst.seen = True
            self._pre018[cls.name] = self._pre018.get(cls.name, 0) + 1
        if cls.module.startswith("xgboost") and "handle" in d:
            found = xgboost_version(d["handle"])
            if found:
                self.result.xgboost_version = found

    # -- summary

    def finish(self) -> None:
        if self._getattr_at is not None and not self._getattr_called:
            self._unsafe(*GETATTR, self._getattr_at, "builtins.getattr imported but never "
                         "called as getattr(object, 'name'): reaches any attribute", True)
        if self._numpy_private_core:
            self.result.numpy_writer = "2.x"
        elif self._numpy_core:
            self.result.numpy_writer = "1.x"
        if not self._versioned and self._pre018:
            # scikit-learn records _sklearn_version since 0.18: none anywhere means older.
            for name, count in self._pre018.items():
                self.result.sklearn_versions[name] = {"pre-0.18": count}
