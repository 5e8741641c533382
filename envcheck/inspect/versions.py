"""Library versions recorded inside pickled objects, and how they compare with pins.

scikit-learn stamps ``_sklearn_version`` into every estimator's state since 0.18 (an
estimator-looking object without it means an older release); xgboost writes its own
version into a Booster's model blob (JSON or UBJSON); each pickle protocol needs a minimum
Python.  :mod:`envcheck.inspect.policy` reads them while walking, and
:func:`envcheck.inspect.pickles.check_versions` compares them with requirements.txt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from packaging.version import InvalidVersion, Version

from envcheck.inspect.onnx_models import onnxruntime_problem
from envcheck.inspect.pickle_values import BigValue, Global, Obj
from envcheck.model.versions import same_version  # noqa: F401  (re-exported)

# Minimum Python for each pickle protocol.
PROTOCOL_MIN_PYTHON = {5: (3, 8), 4: (3, 4), 3: (3, 0)}


_NON_ESTIMATOR_MODULES = ("sklearn._loss", "sklearn.utils", "sklearn.tree._tree",
                          "sklearn.neighbors._", "sklearn.ensemble._gb_losses")
_NON_ESTIMATOR_SUFFIXES = ("Loss", "Deviance", "LossFunction", "Link", "Error", "Tree",
                           "Bunch", "Distribution")


def looks_like_old_estimator(cls: Global) -> bool:
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


def xgboost_version(handle: Any) -> Optional[str]:
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


def python_tuple(text: Optional[str]) -> Optional[tuple[int, int]]:
    if not text:
        return None
    m = re.match(r"\s*(\d+)\.(\d+)", str(text))
    return (int(m.group(1)), int(m.group(2))) if m else None


def major_version(text: str) -> Optional[int]:
    try:
        return Version(text).major
    except InvalidVersion:
        return None


# numpy 1.26.1 added a numpy._core shim that reads the pickles numpy 2 writes (1.26.0 and
# older fail with "No module named 'numpy._core'"); measured on the wheels from PyPI.
NUMPY_CORE_SHIM = "1.26.1"


def reads_numpy2_pickles(version: str) -> bool:
    """Whether numpy ``version`` can unpickle what numpy 2.x pickled (numpy._core)."""
    try:
        return Version(version) >= Version(NUMPY_CORE_SHIM)
    except InvalidVersion:
        return (major_version(version) or 0) >= 2


# --------------------------------------------------------------------------- artifacts


@dataclass(frozen=True)
class RecordedVersion:
    """A library version an artifact records about itself (an xgboost JSON model's
    ``version``, a ``.keras`` archive's ``keras_version`` ...), compared with the pin of
    ``distribution`` and, once built, with the version installed.

    ``rule``: "exact" (must be that version), "min" (that version or a later one can
    read it: the writer's documented backward compatibility), "onnx" (``version`` is
    ``ir=N;ai.onnx=M;...``, judged against what the onnxruntime release supports).
    ``shown`` is how the message names it ("4.0 or later" for a format generation)."""

    distribution: str
    version: str
    what: str
    rule: str = "min"
    shown: str = ""

    @property
    def display(self) -> str:
        return self.shown or self.version


def recorded_mismatch(rec: RecordedVersion, available: str) -> Optional[str]:
    """Why ``available`` (a pin or an installed version) cannot read what ``rec``
    records, or None when it can (or either version is not comparable)."""
    if rec.rule == "onnx":
        return onnxruntime_problem(rec.version, available)
    try:
        have, need = Version(available), Version(rec.version)
    except InvalidVersion:
        return None
    if rec.rule == "exact":
        return None if have == need else "a different version"
    if have < need:  # "4.0" (a format generation) is met by any 4.x
        return "an older version, which cannot be relied on to read it"
    return None
