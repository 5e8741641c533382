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
from typing import Optional

from envcheck.inspect.containers import detect_compressor, open_stream
from envcheck.inspect.pickle_reader import Reader, TooLarge
from envcheck.inspect.pickle_values import PickleError
from envcheck.inspect.pickle_vm import VM
from envcheck.inspect.policy import PickleInspection, Policy, UnsafeRef
from envcheck.inspect.safety import allowed_predicate, check_safety
from envcheck.inspect.trust import CLI_TRUST, PACKAGE_TRUST
from envcheck.inspect.versions import (
    PROTOCOL_MIN_PYTHON,
    major_version,
    python_tuple,
    same_version,
)
from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, error, info, warning
from envcheck.model.package import ModelPackage

__all__ = ["CLI_TRUST", "PACKAGE_TRUST", "allowed_predicate", "check_safety",
           "check_versions", "inspect_pickle", "installed_version_findings",
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
    with open(path, "rb") as raw:
        compressor = detect_compressor(raw.read(8))
        raw.seek(0)
        if compressor == "compat":
            result.format = "joblib-compat"
            result.error = ("joblib < 0.9.3 compressed format (ZF): cannot be inspected; "
                            "re-save the model with a current joblib")
            return
        policy = Policy(result)
        if compressor is None:
            reader = Reader(raw, seekable_size=result.size, limit=max_bytes)
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
    policy = Policy(shadow)
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


def check_versions(pkg: ModelPackage, inspections: list[PickleInspection],
                   target_python: Optional[str]) -> CheckResult:
    """``pickle.versions``: the library versions recorded inside each pickle against what
    requirements.txt pins, and the pickle protocol against the target Python."""
    start = time.perf_counter()
    findings: list[Finding] = []
    sk_pin = pkg.pins.get("scikit-learn")
    np_pin = pkg.pins.get("numpy")
    xgb_pin = pkg.pins.get("xgboost")
    py = python_tuple(target_python) or python_tuple(pkg.python_version)
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
                elif version == "pre-0.18" or not same_version(version, sk_pin):
                    findings.append(error(
                        f"{file}: {estimator} was pickled with scikit-learn {version} but "
                        f"requirements.txt declares scikit-learn=={sk_pin}", file=file,
                        details=details))
        if (insp.numpy_writer == "2.x" and np_pin is not None
                and (major_version(np_pin) or 0) < 2):
            findings.append(error(
                f"{file}: written by numpy 2.x (numpy._core globals) but requirements.txt "
                f"declares numpy=={np_pin}, which cannot read it", file=file,
                details={"library": "numpy", "pickled_with": "2.x", "declared": np_pin,
                         "file": file}))
        if insp.xgboost_version and xgb_pin and not same_version(insp.xgboost_version,
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
    return checks.PICKLE_VERSIONS.result(findings, time.perf_counter() - start)


def installed_version_findings(pkg: ModelPackage, inspections: list[PickleInspection],
                               installed: dict[str, str]) -> list[Finding]:
    """``pickle.versions``, decided by envcheck once the env is built: the versions
    recorded in the pickles against the versions *installed* in it (read from its
    dist-info, not reported by the package's process), pinned or not.

    Nothing the package does at load time (silencing ``warnings``, forging the probe's
    result) changes this verdict.  A pin that already disagrees was reported statically;
    this adds what only the built env can tell: the unpinned case, and a pin the
    installer did not honour.
    """
    findings: list[Finding] = []
    sk_installed = installed.get("scikit-learn")
    np_installed = installed.get("numpy")
    xgb_installed = installed.get("xgboost")
    for insp in inspections:
        if insp.error is not None:
            continue
        file = pkg.relative(insp.path)
        for estimator, versions in sorted(insp.sklearn_versions.items()):
            for version, count in sorted(versions.items()):
                pin = pkg.pins.get("scikit-learn")
                if sk_installed is None or same_version(version, sk_installed) or (
                        pin is not None and same_version(pin, sk_installed)):
                    continue  # matches, or the pin that got installed was judged statically
                findings.append(error(
                    f"{file}: {estimator} was pickled with scikit-learn {version} but the "
                    f"environment has scikit-learn {sk_installed} installed: pin "
                    f"scikit-learn=={version}, or re-train with {sk_installed}", file=file,
                    details={"estimator": estimator, "pickled_with": version,
                             "loaded_with": sk_installed, "count": count, "file": file,
                             "source": "envcheck (installed dist-info)"}))
        if insp.numpy_writer == "2.x" and np_installed and (major_version(np_installed)
                                                            or 0) < 2:
            if pkg.pins.get("numpy") is None:
                findings.append(error(
                    f"{file}: written by numpy 2.x (numpy._core globals) but the environment "
                    f"has numpy {np_installed} installed, which cannot read it", file=file,
                    details={"library": "numpy", "pickled_with": "2.x",
                             "loaded_with": np_installed, "file": file,
                             "source": "envcheck (installed dist-info)"}))
        if insp.xgboost_version and xgb_installed and pkg.pins.get("xgboost") is None \
                and not same_version(insp.xgboost_version, xgb_installed):
            findings.append(error(
                f"{file}: the xgboost model was serialized by xgboost {insp.xgboost_version} "
                f"but the environment has xgboost {xgb_installed} installed", file=file,
                details={"estimator": "xgboost.Booster", "pickled_with": insp.xgboost_version,
                         "loaded_with": xgb_installed, "file": file,
                         "source": "envcheck (installed dist-info)"}))
    return findings
