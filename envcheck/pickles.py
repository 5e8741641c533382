"""Static inspection of pickle artifacts (checks ``pickle.safety`` and ``pickle.versions``).

Nothing from a checked pickle is imported, called or unpickled here.  Each file is walked
by the pure-Python virtual machine of :mod:`envcheck._pickle_vm`, which tracks the memo and
stack exactly while every class lookup yields an inert placeholder.  What it sees is
judged against the exact (module, name) allowlist of :mod:`envcheck.pickle_allowlist`, and
the library versions recorded inside (scikit-learn's ``_sklearn_version``, the numpy 1.x/2.x
writer, xgboost's model version, the pickle protocol) are compared with requirements.txt.

INTERFACE CONTRACT (the pipeline calls exactly these):

    inspect_pickle(path, max_bytes=None) -> PickleInspection
    is_pickle_artifact(path) -> bool
    check_safety(pkg, inspections, trusted) -> CheckResult      # "pickle.safety"
    check_versions(pkg, inspections, target_python) -> CheckResult  # "pickle.versions"
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import stat
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Optional

from packaging.version import InvalidVersion, Version

from . import pickle_allowlist as allow
from ._pickle_vm import (
    BigValue,
    Collector,
    Global,
    Obj,
    PickleError,
    Reader,
    TooLarge,
    VM,
)
from .findings import CheckResult, Finding, error, info, warning
from .package import ModelPackage

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".sav", ".pk", ".p"})

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

# Minimum Python for each pickle protocol.
PROTOCOL_MIN_PYTHON = {5: (3, 8), 4: (3, 4), 3: (3, 0)}

_LATIN1 = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})


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

    @property
    def safe(self) -> bool:
        return self.error is None and not self.unsafe


# --------------------------------------------------------------------------- policy


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def classify_global(module: str, name: str) -> Optional[tuple[str, bool]]:
    """(reason, dangerous) when importing ``module.name`` is not allowed, else None."""
    reason = allow.danger(module, name)
    if _is_dunder(name) or any(_is_dunder(p) for p in module.split(".")):
        return f"dunder name{'; ' + reason if reason else ''}", True
    if "." in name:
        return ("dotted name: an attribute chain that can reach anything "
                f"(e.g. {module}.{name.split('.')[0]}...)", True)
    if reason is not None:
        return f"known dangerous: {reason}", True
    if allow.kind(module, name) is None:
        return "not in the allowlist", False
    return None


class _Policy(Collector):
    """Turns what the VM sees into an inspection: globals, unsafe refs, versions."""

    def __init__(self, result: PickleInspection) -> None:
        self.result = result
        self._seen_globals: set[tuple[str, str]] = set()
        self._seen_unsafe: set[tuple[str, str, str]] = set()
        self._numpy_core = False
        self._numpy_private_core = False
        self._pre018: dict[str, int] = {}
        self._versioned = False

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
        if not isinstance(func, Global):
            self._unsafe("", "", offset,
                         f"{how} calls an object built by the pickle, not an allowed global",
                         True)
            return
        module, name = func.key
        kind = allow.kind(module, name)
        if kind is None:
            return  # already reported when it was imported
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
            if not (len(args) == 2 and type(args[0]) is str and type(args[1]) is str
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

    def _seen_unsafe_pairs(self) -> set[tuple[str, str]]:
        return {(u.module, u.name) for u in self.result.unsafe}

    def on_build(self, inst: Any, state: Any, offset: int) -> None:
        assert isinstance(inst, Obj)
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        for part in parts:
            if isinstance(part, dict):
                bad = sorted(k for k in part if isinstance(k, str) and _is_dunder(k))
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
        elif _looks_like_old_estimator(cls):
            inst.seen = True
            self._pre018[cls.name] = self._pre018.get(cls.name, 0) + 1
        if cls.module.startswith("xgboost") and "handle" in d:
            found = _xgboost_version(d["handle"])
            if found:
                self.result.xgboost_version = found

    # -- summary

    def finish(self) -> None:
        if self._numpy_private_core:
            self.result.numpy_writer = "2.x"
        elif self._numpy_core:
            self.result.numpy_writer = "1.x"
        if not self._versioned and self._pre018:
            # scikit-learn records _sklearn_version since 0.18: none anywhere means older.
            for name, count in self._pre018.items():
                self.result.sklearn_versions[name] = {"pre-0.18": count}


_NON_ESTIMATOR_MODULES = ("sklearn._loss", "sklearn.utils", "sklearn.tree._tree",
                          "sklearn.neighbors._", "sklearn.ensemble._gb_losses")
_NON_ESTIMATOR_SUFFIXES = ("Loss", "Deviance", "LossFunction", "Link", "Error", "Tree",
                           "Bunch", "Distribution")


def _looks_like_old_estimator(cls: Global) -> bool:
    """A scikit-learn object without _sklearn_version that is likely an estimator."""
    if not cls.module.startswith("sklearn."):
        return False
    if cls.module.startswith(_NON_ESTIMATOR_MODULES):
        return False
    return not cls.name.endswith(_NON_ESTIMATOR_SUFFIXES)


_JSON_VERSION = re.compile(rb'"version"\s*:\s*\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]')
# UBJSON object key "version" (xgboost writes key lengths as int64 'L'; accept any int
# marker) followed by an array.
_UBJ_VERSION_KEY = re.compile(
    rb"(?:[iU]\x07|I\x00\x07|l\x00{3}\x07|L\x00{7}\x07)version\[")
_UBJ_INT = {b"i": (1, True), b"U": (1, False), b"I": (2, True), b"l": (4, True),
            b"L": (8, True)}


def _xgboost_version(handle: Any) -> Optional[str]:
    """xgboost's own version from a pickled Booster's model blob (JSON or UBJSON)."""
    if isinstance(handle, Obj) and handle.args:
        handle = handle.args[0]  # bytearray(b"...") on older protocols
    if isinstance(handle, BigValue):
        blobs = [handle.head, handle.tail]
    elif isinstance(handle, (bytes, bytearray)):
        blobs = [bytes(handle)]
    else:
        return None
    for blob in blobs:
        m = _JSON_VERSION.search(blob)
        if m:
            return ".".join(g.decode() for g in m.groups())
        m = _UBJ_VERSION_KEY.search(blob)
        if m:
            parsed = _ubjson_int_array(blob, m.end())
            if parsed and len(parsed) == 3:
                return ".".join(str(x) for x in parsed)
    return None


def _ubjson_int_array(blob: bytes, pos: int) -> Optional[list[int]]:
    out: list[int] = []
    typed = None
    count = None
    try:
        if blob[pos:pos + 1] == b"$":
            typed = blob[pos + 1:pos + 2]
            pos += 2
        if blob[pos:pos + 1] == b"#":
            ctype = blob[pos + 1:pos + 2]
            size, signed = _UBJ_INT[ctype]
            count = int.from_bytes(blob[pos + 2:pos + 2 + size], "big", signed=signed)
            pos += 2 + size
        while count is None or len(out) < count:
            marker = typed or blob[pos:pos + 1]
            if not typed:
                pos += 1
            if marker == b"]" and count is None:
                return out
            size, signed = _UBJ_INT[marker]
            out.append(int.from_bytes(blob[pos:pos + size], "big", signed=signed))
            pos += size
            if len(out) > 8:
                return None
        return out
    except (KeyError, IndexError):
        return None


# --------------------------------------------------------------------------- reading


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


def _open_stream(name: str, raw: IO[bytes]) -> IO[bytes]:
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


def _detect(head: bytes) -> Optional[str]:
    if head.startswith(_ZFILE_PREFIX):
        return "compat"
    for prefix, name in _COMPRESSED:
        if head.startswith(prefix):
            return name
    return None


def inspect_pickle(path: Path, max_bytes: Optional[int] = None) -> PickleInspection:
    """Walk one pickle/joblib file statically.  Never raises for a bad file: problems
    land in ``error`` (and mean: do not load it)."""
    path = Path(path)
    result = PickleInspection(path=path)
    start = time.perf_counter()
    try:
        _inspect(path, result, max_bytes)
    except OSError as exc:
        result.error = f"cannot read: {exc.strerror or exc}"
    except Exception as exc:  # a bug in the inspector must still fail closed
        result.error = f"internal inspector error: {type(exc).__name__}: {exc}"
    result.duration_s = time.perf_counter() - start
    return result


def _inspect(path: Path, result: PickleInspection, max_bytes: Optional[int]) -> None:
    file_stat = path.stat()
    # A FIFO blocks open() until a writer appears, a device may never end: only regular
    # files are read.
    if not stat.S_ISREG(file_stat.st_mode):
        result.error = "not a regular file"
        return
    result.size = file_stat.st_size
    if max_bytes is not None and result.size > max_bytes:
        result.error = f"{result.size} bytes is more than the {max_bytes}-byte limit"
        return
    with open(path, "rb") as raw:
        compressor = _detect(raw.read(8))
        raw.seek(0)
        if compressor == "compat":
            result.format = "joblib-compat"
            result.error = ("joblib < 0.9.3 compressed format (ZF): cannot be inspected; "
                            "re-save the model with a current joblib")
            return
        policy = _Policy(result)
        if compressor is None:
            reader = Reader(raw, seekable_size=result.size, limit=max_bytes)
        else:
            result.format = f"joblib-{compressor}"
            try:
                stream = _open_stream(compressor, raw)
            except PickleError as exc:
                result.error = str(exc)
                return
            reader = Reader(stream, limit=max_bytes)
        # joblib.load semantics (its NumpyUnpickler is the pure-Python unpickler): raw
        # array bytes follow a NumpyArrayWrapper's BUILD.  Without wrappers this is
        # exactly what pickle.load does.
        vm = VM(reader, policy, raw_arrays=True, py_framing=True)
        _walk(vm, reader, result)
        if result.protocol is None:  # no PROTO opcode: protocol 0 or 1
            result.protocol = result.max_protocol = 1 if vm.binary else 0
        result.stream_size = reader.tell()
        if compressor is None and result.arrays:
            result.format = "joblib"
            _walk_as_plain_pickle(path, result, max_bytes)
        policy.finish()


def _walk(vm: VM, reader: Reader, result: PickleInspection) -> None:
    try:
        vm.run()
        if not reader.at_eof():
            raise PickleError("data after the pickle's STOP (a concatenated or trailing "
                              "pickle?)", reader.tell())
    except PickleError as exc:
        result.error = str(exc)
        result.error_offset = exc.offset
    except TooLarge as exc:
        result.error = f"stream is {exc}: not inspected"
    except (EOFError, zlib.error, lzma.LZMAError, OSError, ValueError) as exc:
        # decompression errors (gzip raises OSError/EOFError, bz2 OSError/ValueError)
        result.error = f"cannot decompress: {exc}"
    except RecursionError:
        result.error = "structure nested too deeply"
    except RuntimeError as exc:  # lz4.frame reports corrupt input as RuntimeError
        result.error = f"cannot decompress: {exc}"
    except MemoryError:
        result.error = "too large to inspect"


def _walk_as_plain_pickle(path: Path, result: PickleInspection,
                          max_bytes: Optional[int]) -> None:
    """An uncompressed joblib file can also be fed to pickle.load, which reads the bytes
    after a wrapper's BUILD as opcodes.  Walk that reading too, so array bytes crafted to
    be opcodes cannot hide a payload from the joblib reading (its errors don't matter:
    pickle.load stops there too, but what it imported before counts)."""
    shadow = PickleInspection(path=path)
    policy = _Policy(shadow)
    with open(path, "rb") as raw:
        reader = Reader(raw, seekable_size=result.size, limit=max_bytes)
        _walk(VM(reader, policy, raw_arrays=False, py_framing=False), reader, shadow)
    # Only known-dangerous findings count here: in a benign file with an object array,
    # pickle.load misreads the nested pickle and pairs up unrelated strings as globals,
    # which would be noise (they name no module that exists).
    known = {(u.module, u.name, u.reason) for u in result.unsafe}
    for u in shadow.unsafe:
        if u.module and u.dangerous and (u.module, u.name, u.reason) not in known:
            result.unsafe.append(UnsafeRef(u.module, u.name, u.offset,
                                           f"{u.reason} (when read with pickle.load)",
                                           u.dangerous))


def is_pickle_artifact(path: Path) -> bool:
    """By suffix (.pkl/.pickle/.joblib/.sav/.pk/.p) or by content: a protocol 2-5 pickle,
    or a joblib-compressed stream that decompresses to one."""
    path = Path(path)
    try:
        # Never open a FIFO (blocks until a writer comes) or a device.
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
    except (OSError, ValueError):
        pass  # missing/unreadable: judged by its name; inspect_pickle reports the error
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as raw:
            head = raw.read(8)
            if _is_pickle_head(head):
                return True
            compressor = _detect(head)
            if compressor is None or compressor == "compat":
                return compressor == "compat"
            raw.seek(0)
            try:
                stream = _open_stream(compressor, raw)
                return _is_pickle_head(stream.read(2))
            except Exception:  # not a compressed pickle after all
                return False
    except OSError:
        return False


def _is_pickle_head(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


# --------------------------------------------------------------------------- checks


def _parse_trusted(entries: Iterable[Any]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for entry in entries:
        text = str(entry).strip()
        if ":" in text:
            module, _, name = text.partition(":")
        else:
            module, _, name = text.rpartition(".")
        if module and name:
            out.add((module.strip(), name.strip()))
    return out


def _trusted_pairs(pkg: ModelPackage, trusted: Iterable[str]) -> set[tuple[str, str]]:
    """``--trust-pickle`` entries plus metadata's ``envcheck.trust_pickle``."""
    extra = pkg.settings.get("trust_pickle", [])
    if isinstance(extra, str):
        extra = [extra]
    return _parse_trusted(list(trusted) + list(extra if isinstance(extra, list) else []))


def allowed_predicate(pkg: ModelPackage, trusted: Iterable[str]) -> Callable[[str, str], bool]:
    """``allowed(module, name)`` for what the probe's audit hook saw unpickled at runtime:
    the same policy as the static check (allowlist, plus what the user trusts)."""
    trust = _trusted_pairs(pkg, trusted)

    def allowed(module: str, name: str) -> bool:
        return (module, name) in trust or classify_global(module, name) is None

    return allowed


def check_safety(pkg: ModelPackage, inspections: list[PickleInspection],
                 trusted: list[str]) -> CheckResult:
    """``pickle.safety``: fails when any pickle imports or calls anything outside the
    allowlist (plus what the user trusts knowingly), or cannot be walked at all."""
    start = time.perf_counter()
    trust = _trusted_pairs(pkg, trusted)
    findings: list[Finding] = []
    for insp in inspections:
        file = pkg.relative(insp.path)
        if insp.error is not None:
            where = f" at byte {insp.error_offset}" if insp.error_offset is not None else ""
            findings.append(error(
                f"{file}: cannot be inspected ({insp.error}{where}); it will not be loaded",
                file=file, details={"error": insp.error, "offset": insp.error_offset,
                                    "format": insp.format}))
        for ref in insp.unsafe:
            findings.append(_unsafe_finding(file, ref, trust))
        if insp.error is None and not insp.unsafe:
            findings.append(info(
                f"{file}: {len(insp.globals)} globals, all allowed ({insp.format}, "
                f"protocol {insp.max_protocol})", file=file,
                details={"globals": len(insp.globals), "format": insp.format}))
    if not inspections:
        findings.append(info("no pickle artifacts"))
    return CheckResult.from_findings("pickle.safety", findings, time.perf_counter() - start)


def _unsafe_finding(file: str, ref: UnsafeRef, trust: set[tuple[str, str]]) -> Finding:
    details = {"module": ref.module, "name": ref.name, "offset": ref.offset,
               "reason": ref.reason, "dangerous": ref.dangerous}
    if not ref.module:
        return error(f"{file}: {ref.reason} (byte {ref.offset})", file=file, details=details)
    dotted = f"{ref.module}.{ref.name}"
    if (ref.module, ref.name) in trust:
        if ref.dangerous:
            return warning(f"{file}: imports {dotted} at byte {ref.offset}, trusted by "
                           f"--trust-pickle although {ref.reason}", file=file,
                           details={**details, "trusted": True})
        return info(f"{file}: imports {dotted} at byte {ref.offset}, trusted by "
                    "--trust-pickle", file=file, details={**details, "trusted": True})
    if ref.dangerous:
        message = f"{file}: imports {dotted} at byte {ref.offset}: {ref.reason}"
    else:
        message = (f"{file}: imports {dotted} at byte {ref.offset}: {ref.reason}; if you "
                   f"trust it, pass --trust-pickle {ref.module}:{ref.name}")
    return error(message, file=file, details=details)


def _python_tuple(text: Optional[str]) -> Optional[tuple[int, int]]:
    if not text:
        return None
    m = re.match(r"\s*(\d+)\.(\d+)", str(text))
    return (int(m.group(1)), int(m.group(2))) if m else None


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a.strip() == b.strip()


def _major(text: str) -> Optional[int]:
    try:
        return Version(text).major
    except InvalidVersion:
        return None


def check_versions(pkg: ModelPackage, inspections: list[PickleInspection],
                   target_python: Optional[str]) -> CheckResult:
    """``pickle.versions``: the library versions recorded inside each pickle against what
    requirements.txt pins, and the pickle protocol against the target Python."""
    start = time.perf_counter()
    findings: list[Finding] = []
    sk_pin = pkg.pins.get("scikit-learn")
    np_pin = pkg.pins.get("numpy")
    xgb_pin = pkg.pins.get("xgboost")
    py = _python_tuple(target_python) or _python_tuple(pkg.python_version)
    for insp in inspections:
        if insp.error is not None:
            continue  # pickle.safety reports it; nothing trustworthy was read
        file = pkg.relative(insp.path)
        for estimator, versions in sorted(insp.sklearn_versions.items()):
            for version, count in sorted(versions.items()):
                details = {"estimator": estimator, "pickled_with": version,
                           "declared": sk_pin, "file": file, "count": count}
                if sk_pin is None:
                    findings.append(warning(
                        f"{file}: {estimator} was pickled with scikit-learn {version}, but "
                        "requirements.txt does not pin scikit-learn: the pickled version "
                        "cannot be compared", file=file, details=details))
                elif version == "pre-0.18" or not _same_version(version, sk_pin):
                    findings.append(error(
                        f"{file}: {estimator} was pickled with scikit-learn {version} but "
                        f"requirements.txt declares scikit-learn=={sk_pin}", file=file,
                        details=details))
        if insp.numpy_writer == "2.x" and np_pin is not None and (_major(np_pin) or 0) < 2:
            findings.append(error(
                f"{file}: written by numpy 2.x (numpy._core globals) but requirements.txt "
                f"declares numpy=={np_pin}, which cannot read it", file=file,
                details={"library": "numpy", "pickled_with": "2.x", "declared": np_pin,
                         "file": file}))
        if insp.xgboost_version and xgb_pin and not _same_version(insp.xgboost_version,
                                                                  xgb_pin):
            findings.append(error(
                f"{file}: the xgboost model was serialized by xgboost "
                f"{insp.xgboost_version} but requirements.txt declares xgboost=={xgb_pin}",
                file=file, details={"estimator": "xgboost.Booster",
                                    "pickled_with": insp.xgboost_version,
                                    "declared": xgb_pin, "file": file}))
        proto = insp.max_protocol
        need = PROTOCOL_MIN_PYTHON.get(proto or 0)
        if py is not None and need is not None and py < need:
            findings.append(error(
                f"{file}: pickle protocol {proto} needs Python >= {need[0]}.{need[1]}, "
                f"but the package targets Python {py[0]}.{py[1]}", file=file,
                details={"protocol": proto, "python": f"{py[0]}.{py[1]}", "file": file}))
    if not findings:
        findings.append(info("library versions recorded in the pickles match the pins"
                             if inspections else "no pickle artifacts"))
    return CheckResult.from_findings("pickle.versions", findings, time.perf_counter() - start)
