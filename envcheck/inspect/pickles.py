"""Static inspection of pickle artifacts (checks ``pickle.safety`` and ``pickle.versions``).

Nothing from a checked pickle is imported, called or unpickled here.  Each file is opened
(:mod:`envcheck.inspect.containers`: plain, or one of joblib's compressed formats) and
walked by the pure-Python virtual machine of :mod:`envcheck.inspect.pickle_vm`, which
tracks the memo and stack exactly while every class lookup yields an inert placeholder.
What it sees is judged by :mod:`envcheck.inspect.policy` (the exact allowlist of
:mod:`envcheck.inspect.allowlist`, the denylist of :mod:`envcheck.inspect.gadgets`, bombs),
then per package by :mod:`envcheck.inspect.safety` (origins: the package's own modules, the
distributions it installs, ``__main__``; trust), and the library versions recorded inside
(scikit-learn's ``_sklearn_version``, the numpy 1.x/2.x writer, xgboost's model version,
the pickle protocol; :mod:`envcheck.inspect.versions`) are compared with requirements.txt.

INTERFACE CONTRACT (the pipeline calls exactly these):

    inspect_pickle(path, max_bytes=None) -> PickleInspection
    is_pickle_artifact(path) -> bool
    check_safety(pkg, inspections, trusted) -> CheckResult      # checks.PICKLE_SAFETY.id
    check_versions(pkg, inspections, target_python) -> CheckResult  # checks.PICKLE_VERSIONS.id
    allowed_predicate(pkg, trusted, installed=(), inspections=())
        -> (module, name) -> bool                               # the probe's audit hook

Files that hold pickles in other formats (zip archives, legacy torch files, ``.npy``,
skops) or record versions (xgboost, LightGBM, ONNX ...) are found and opened by
:mod:`envcheck.inspect.artifacts` (``is_inspected``, ``inspect_all``), which walks each
pickle stream with :func:`inspect_stream`; their inspections go to the same two checks.

An inspection whose ``error`` starts with :data:`INTERNAL_ERROR` ended in an unexpected
exception (an inspector bug, still failing closed); any other ``error`` is what is wrong
with the file (malformed, truncated, too large, compressed badly, unreadable).
"""

from __future__ import annotations

import lzma
import os
import stat
import time
import zlib
from pathlib import Path
from typing import IO, Any, Callable, Optional

from envcheck.inspect.containers import detect_compressor, open_stream
from envcheck.inspect.pickle_reader import Reader, TooLarge
from envcheck.inspect.pickle_values import PickleError
from envcheck.inspect.pickle_vm import VM
from envcheck.inspect.policy import PickleInspection, Policy, UnsafeRef
from envcheck.inspect.safety import allowed_predicate, check_safety
from envcheck.inspect.trust import CLI_TRUST, PACKAGE_TRUST
# The version comparison lives in envcheck.inspect.version_checks; its two checks are
# part of this module's contract (see the docstring).
from envcheck.inspect.version_checks import (
    artifact_label,
    check_versions,
    installed_version_findings,
)

__all__ = ["CLI_TRUST", "INTERNAL_ERROR", "PACKAGE_TRUST", "PICKLE_SUFFIXES",
           "allowed_predicate", "artifact_label", "check_safety", "check_versions",
           "inspect_pickle", "inspect_stream", "installed_version_findings",
           "is_pickle_artifact"]

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".sav", ".pk", ".p"})

# Starts the error text of an inspection that ended in an unexpected exception (a bug in
# the inspector, not a property of the file).
INTERNAL_ERROR = "internal inspector error"


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
        result.error = f"{INTERNAL_ERROR}: {type(exc).__name__}: {exc}"
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
    inspect_stream(lambda: open(path, "rb"), result, max_bytes, seekable=True)


def inspect_stream(opener: Callable[[], IO[bytes]], result: PickleInspection,
                   max_bytes: Optional[int], *, seekable: bool, joblib: bool = True,
                   vm_class: type[VM] = VM) -> None:
    """Walk the pickle (plain or joblib, raw or compressed) that ``opener()`` yields, a
    file or an archive member of ``result.size`` bytes, into ``result``.  ``joblib``:
    read it as joblib.load does (raw arrays after a wrapper's BUILD) and as pickle.load
    does; else only as pickle.load (torch.load, numpy.load)."""
    with opener() as raw:
        compressor = detect_compressor(raw.read(8))
        raw.seek(0)
        if compressor == "compat":
            result.format = "joblib-compat"
            result.error = ("joblib < 0.9.3 compressed format (ZF): cannot be inspected; "
                            "re-save the model with a current joblib")
            return
        policy = Policy(result)
        if compressor is None:
            reader = Reader(raw, seekable_size=result.size if seekable else None,
                            limit=max_bytes)
        else:
            result.format = f"joblib-{compressor}"
            try:
                stream = open_stream(compressor, raw)
            except PickleError as exc:
                result.error = str(exc)
                return
            reader = Reader(stream, limit=max_bytes)
        # joblib.load semantics (its NumpyUnpickler is the pure-Python unpickler): raw
        # array bytes follow a NumpyArrayWrapper's BUILD.  Without wrappers this is
        # exactly what pickle.load does.
        vm = vm_class(reader, policy, raw_arrays=joblib, py_framing=joblib)
        _walk(vm, reader, result)
        if result.protocol is None:  # no PROTO opcode: protocol 0 or 1
            result.protocol = result.max_protocol = 1 if vm.binary else 0
        result.stream_size = reader.tell()
    if compressor is None and result.arrays:
        result.format = "joblib"
        _walk_as_plain_pickle(opener, result, max_bytes, seekable)
    policy.finish()


def _walk(vm: VM, reader: Reader, result: PickleInspection, expect_eof: bool = True) -> Any:
    """Run ``vm``; its value, or None with ``result.error`` set."""
    try:
        value = vm.run()
        if expect_eof and not reader.at_eof():
            raise PickleError("data after the pickle's STOP (a concatenated or trailing "
                              "pickle?)", reader.tell())
        return value
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
    return None


def _walk_as_plain_pickle(opener: Callable[[], IO[bytes]], result: PickleInspection,
                          max_bytes: Optional[int], seekable: bool) -> None:
    """An uncompressed joblib file can also be fed to pickle.load, which reads the bytes
    after a wrapper's BUILD as opcodes.  Walk that reading too, so array bytes crafted to
    be opcodes cannot hide a payload from the joblib reading (its errors don't matter:
    pickle.load stops there too, but what it imported before counts)."""
    shadow = PickleInspection(path=result.path)
    policy = Policy(shadow)
    with opener() as raw:
        reader = Reader(raw, seekable_size=result.size if seekable else None,
                        limit=max_bytes)
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
            compressor = detect_compressor(head)
            if compressor is None or compressor == "compat":
                return compressor == "compat"
            raw.seek(0)
            try:
                stream = open_stream(compressor, raw)
                return _is_pickle_head(stream.read(2))
            except Exception:  # not a compressed pickle after all
                return False
    except OSError:
        return False


def _is_pickle_head(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


# --------------------------------------------------------------------------- checks
