"""Static inspection of pickle artifacts (checks ``pickle.safety`` and ``pickle.versions``).

Nothing from a checked pickle is imported, called or unpickled here.  Each file is opened
(:mod:`envcheck.inspect.containers`: plain, or one of joblib's compressed formats) and
walked by the pure-Python virtual machine of :mod:`envcheck.inspect.pickle_vm`, which
tracks the memo and stack exactly while every class lookup yields an inert placeholder.
What it sees is judged by :mod:`envcheck.inspect.policy` against the exact (module, name)
allowlist of :mod:`envcheck.inspect.allowlist`, and the library versions recorded inside
(scikit-learn's ``_sklearn_version``, the numpy 1.x/2.x writer, xgboost's model version,
the pickle protocol; :mod:`envcheck.inspect.versions`) are compared with requirements.txt.

INTERFACE CONTRACT (the pipeline calls exactly these):

    inspect_pickle(path, max_bytes=None) -> PickleInspection
    is_pickle_artifact(path) -> bool
    check_safety(pkg, inspections, trusted) -> CheckResult      # checks.PICKLE_SAFETY.id
    check_versions(pkg, inspections, target_python) -> CheckResult  # checks.PICKLE_VERSIONS.id
    allowed_predicate(pkg, trusted) -> (module, name) -> bool   # the probe's audit hook

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
from typing import IO, Any, Callable, Iterable, Optional

from envcheck.inspect.allowlist import danger
from envcheck.inspect.containers import detect_compressor, open_stream
from envcheck.inspect.pickle_reader import Reader, TooLarge
from envcheck.inspect.pickle_values import PickleError
from envcheck.inspect.pickle_vm import VM
from envcheck.inspect.policy import PickleInspection, Policy, UnsafeRef, classify_global
# The version comparison lives in envcheck.inspect.version_checks; its two checks are
# part of this module's contract (see the docstring).
from envcheck.inspect.version_checks import (
    artifact_label,
    check_versions,
    installed_version_findings,
)
from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, error, info, warning
from envcheck.model.package import ModelPackage

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


CLI_TRUST = "--trust-pickle"
PACKAGE_TRUST = "metadata.yaml's envcheck.trust_pickle"


def _trusted_pairs(pkg: ModelPackage, trusted: Iterable[str]) -> dict[tuple[str, str], str]:
    """(module, name) -> where the trust came from: ``--trust-pickle`` (the user) or the
    package's own ``envcheck.trust_pickle`` (the package vouching for itself)."""
    extra = pkg.settings.get("trust_pickle", [])
    if isinstance(extra, str):
        extra = [extra]
    out = dict.fromkeys(_parse_trusted(extra if isinstance(extra, list) else []),
                        PACKAGE_TRUST)
    out.update(dict.fromkeys(_parse_trusted(trusted), CLI_TRUST))
    return out


def _honoured(pair: tuple[str, str], origin: Optional[str]) -> bool:
    """A trust holds, except a package's trust of a known-dangerous global: that only the
    user can grant, on the command line."""
    return origin == CLI_TRUST or (origin == PACKAGE_TRUST and danger(*pair) is None)


def allowed_predicate(pkg: ModelPackage, trusted: Iterable[str]) -> Callable[[str, str], bool]:
    """``allowed(module, name)`` for what the probe's audit hook saw unpickled at runtime:
    the same policy as the static check (allowlist, plus what the user trusts)."""
    trust = _trusted_pairs(pkg, trusted)

    def allowed(module: str, name: str) -> bool:
        pair = (module, name)
        return _honoured(pair, trust.get(pair)) or classify_global(module, name) is None

    return allowed


def check_safety(pkg: ModelPackage, inspections: list[PickleInspection],
                 trusted: list[str]) -> CheckResult:
    """``pickle.safety``: fails when any pickle imports or calls anything outside the
    allowlist (plus what the user trusts knowingly), or cannot be walked at all."""
    start = time.perf_counter()
    trust = _trusted_pairs(pkg, trusted)
    findings: list[Finding] = []
    for insp in inspections:
        file = artifact_label(pkg, insp)
        if insp.error is not None:
            where = f" at byte {insp.error_offset}" if insp.error_offset is not None else ""
            findings.append(error(
                f"{file}: cannot be inspected ({insp.error}{where}); it will not be loaded",
                file=file, details={"error": insp.error, "offset": insp.error_offset,
                                    "format": insp.format}))
        for ref in insp.unsafe:
            findings.append(_unsafe_finding(file, ref, trust))
        if insp.error is None and not insp.unsafe and not insp.walked:
            findings.append(info(f"{file}: {insp.format}, holds no pickle", file=file,
                                 details={"globals": 0, "format": insp.format}))
        elif insp.error is None and not insp.unsafe:
            protocol = "" if insp.max_protocol is None else f", protocol {insp.max_protocol}"
            findings.append(info(
                f"{file}: {len(insp.globals)} globals, all allowed ({insp.format}"
                f"{protocol})", file=file,
                details={"globals": len(insp.globals), "format": insp.format}))
    if not inspections:
        findings.append(info("no pickle artifacts"))
    return checks.PICKLE_SAFETY.result(findings, time.perf_counter() - start)


def _unsafe_finding(file: str, ref: UnsafeRef, trust: dict[tuple[str, str], str]) -> Finding:
    details = {"module": ref.module, "name": ref.name, "offset": ref.offset,
               "reason": ref.reason, "dangerous": ref.dangerous}
    if not ref.module:
        return error(f"{file}: {ref.reason} (byte {ref.offset})", file=file, details=details)
    dotted = f"{ref.module}.{ref.name}"
    origin = trust.get((ref.module, ref.name))
    if origin is not None and _honoured((ref.module, ref.name), origin):
        details.update(trusted=True, trusted_by=origin)
        if ref.dangerous:
            return warning(f"{file}: imports {dotted} at byte {ref.offset}, trusted by "
                           f"{origin} although {ref.reason}", file=file, details=details)
        if origin == PACKAGE_TRUST:
            return warning(f"{file}: imports {dotted} at byte {ref.offset}, trusted by "
                           f"{origin}: the package vouches for itself; pass --trust-pickle "
                           f"{ref.module}:{ref.name} to trust it knowingly", file=file,
                           details=details)
        return info(f"{file}: imports {dotted} at byte {ref.offset}, trusted by "
                    f"{origin}", file=file, details=details)
    if origin is not None:  # the package trusts a known-dangerous global itself
        details.update(trusted=False, trust_refused=origin)
        return error(f"{file}: imports {dotted} at byte {ref.offset}: {ref.reason}; "
                     f"{origin} trusts it, but a known-dangerous global can be trusted "
                     f"only with --trust-pickle on the command line", file=file,
                     details=details)
    if ref.dangerous:
        message = f"{file}: imports {dotted} at byte {ref.offset}: {ref.reason}"
    else:
        message = (f"{file}: imports {dotted} at byte {ref.offset}: {ref.reason}; if you "
                   f"trust it, pass --trust-pickle {ref.module}:{ref.name}")
    return error(message, file=file, details=details)


__all__ = ["INTERNAL_ERROR", "PICKLE_SUFFIXES", "allowed_predicate", "artifact_label",
           "check_safety", "check_versions", "inspect_pickle", "inspect_stream",
           "installed_version_findings", "is_pickle_artifact"]
