"""Load and predict failures in terms of versions: the known cross-version signatures.

A pickle written by one version of a library and read by another fails in a handful of
well-known ways (numpy 2 -> 1: ``No module named 'numpy._core'``; a scikit-learn private
module renamed or removed; pandas internals; an attribute a newer estimator reads that an
older pickle lacks).  The bare exception says "module not found"; what the user needs is
which versions are involved -- recorded in the pickle (read statically by envcheck) and
installed in the env (read from its dist-info) -- and what to pin, as ``pickle.versions``
says it.  Everything here reads the probe's result and envcheck's own facts; nothing runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from packaging.version import InvalidVersion, Version

from envcheck.inspect.policy import PickleInspection
from envcheck.inspect.versions import NUMPY_CORE_SHIM, reads_numpy2_pickles
from envcheck.probe.result import ProbeResult

_CANT_GET_ATTRIBUTE = re.compile(r"Can't get attribute '(?P<name>[^']+)' on <module "
                                 r"'(?P<module>[^']+)'")
_NO_ATTRIBUTE = re.compile(r"'(?P<owner>[A-Za-z_][A-Za-z0-9_]*)' object has no attribute "
                           r"'(?P<name>[^']+)'")
# pandas internals that exist only in some versions (what a pickle of a DataFrame or an
# Index names): module or module.name -> when it exists.
_PANDAS_INTERNALS = {
    "pandas.core.indexes.numeric": "only in pandas < 2.0 (Int64Index, Float64Index)",
    "pandas._libs.internals._unpickle_block": "only in newer pandas (2.x pickles call it)",
    "pandas.core.internals.blocks.new_block": "only in newer pandas (1.3 and later)",
}
# Attributes newer scikit-learn estimators read that older pickles lack.
_SKLEARN_ATTRIBUTES = {
    "monotonic_cst": "trees read it since scikit-learn 1.4",
    "_fill_dtype": "SimpleImputer reads it in newer scikit-learn",
}


@dataclass(frozen=True)
class VersionFacts:
    """What envcheck itself knows of the versions: recorded in the artifacts, installed."""

    installed: dict[str, str] = field(default_factory=dict)  # distribution -> version
    sklearn_recorded: tuple[str, ...] = ()  # _sklearn_version values in the pickles
    sklearn_estimators: tuple[str, ...] = ()  # estimators that recorded one
    numpy2_files: tuple[str, ...] = ()  # the pickles written by numpy 2.x


def facts_from(inspections: Sequence[PickleInspection], installed: dict[str, str],
               relative: Callable[[Path], str] = str) -> VersionFacts:
    """The facts of the walked pickles (``relative`` names a file for a report)."""
    versions: set[str] = set()
    estimators: set[str] = set()
    numpy2_files = []
    for insp in inspections:
        if insp.error is not None:
            continue  # pickle.safety reports it; nothing trustworthy was read
        for estimator, recorded in insp.sklearn_versions.items():
            estimators.add(estimator)
            versions.update(recorded)
        if insp.numpy_writer == "2.x":
            numpy2_files.append(relative(insp.path))
    return VersionFacts(dict(installed), tuple(sorted(versions)), tuple(sorted(estimators)),
                        tuple(numpy2_files))


@dataclass(frozen=True)
class Explanation:
    message: str
    details: dict[str, Any]


def _older(a: str, b: str) -> Optional[bool]:
    try:
        return Version(a) < Version(b)
    except InvalidVersion:
        return None


def _sklearn_recorded(facts: VersionFacts) -> str:
    shown = [v for v in facts.sklearn_recorded if v != "pre-0.18"]
    if shown:
        return " and ".join(shown)
    if facts.sklearn_recorded:
        return "a release older than 0.18 (it records no version)"
    return "an unknown version (the pickle records none)"


def _pin_advice(facts: VersionFacts, installed: str) -> str:
    exact = [v for v in facts.sklearn_recorded if v != "pre-0.18"]
    if len(exact) == 1:
        return f"pin scikit-learn=={exact[0]} in requirements.txt, or re-train and pickle " \
               f"with {installed}"
    return f"pin the scikit-learn that wrote the pickle, or re-train and pickle with {installed}"


def _numpy(module: str, facts: VersionFacts) -> Optional[Explanation]:
    installed = facts.installed.get("numpy")
    if not module.startswith("numpy._core") or installed is None:
        return None
    if reads_numpy2_pickles(installed):
        return None  # this numpy has the numpy._core shim: the failure is something else
    files = ", ".join(facts.numpy2_files) or "the pickle"
    return Explanation(
        f"{files} was written by numpy 2.x (it needs numpy._core) but the environment has "
        f"numpy {installed}, which cannot read it: pin numpy 2.x (or >= {NUMPY_CORE_SHIM}, "
        f"which reads numpy 2 pickles) in requirements.txt, or re-save the model under "
        f"numpy {installed}",
        {"library": "numpy", "pickled_with": "2.x",
         "loaded_with": installed, "signature": "numpy._core"})


def _sklearn_module(module: str, facts: VersionFacts) -> Optional[Explanation]:
    installed = facts.installed.get("scikit-learn")
    if not module.startswith("sklearn.") or installed is None:
        return None
    recorded = _sklearn_recorded(facts)
    return Explanation(
        f"the pickle needs module '{module}', which scikit-learn {installed} installed "
        f"here does not have: a private module of the scikit-learn that wrote it "
        f"({recorded}), renamed or removed between versions; {_pin_advice(facts, installed)}",
        {"library": "scikit-learn", "pickled_with": list(facts.sklearn_recorded),
         "loaded_with": installed, "module": module, "signature": "sklearn private module"})


def _pandas(where: str, facts: VersionFacts) -> Optional[Explanation]:
    installed = facts.installed.get("pandas")
    known = next((k for k in _PANDAS_INTERNALS if where == k or where.startswith(k + ".")),
                 None)
    if installed is None or known is None:
        return None
    return Explanation(
        f"the pickle needs pandas internal '{known}', which exists {_PANDAS_INTERNALS[known]}, "
        f"but the environment has pandas {installed}: the pickle was written by another "
        f"pandas; pin the pandas it was written with (reference/environment.json records "
        f"it once envcheck record ran), or re-save the model under pandas {installed}",
        {"library": "pandas", "loaded_with": installed, "internal": known,
         "signature": "pandas internals"})


def _sklearn_attribute(owner: str, name: str, facts: VersionFacts) -> Optional[Explanation]:
    installed = facts.installed.get("scikit-learn")
    if installed is None or not facts.sklearn_recorded:
        return None
    if owner not in facts.sklearn_estimators and name not in _SKLEARN_ATTRIBUTES:
        return None
    if all(_older(v, installed) is False and _older(installed, v) is False
           for v in facts.sklearn_recorded):
        return None  # pickled with the very version installed: not a version problem
    why = f" ({_SKLEARN_ATTRIBUTES[name]})" if name in _SKLEARN_ATTRIBUTES else ""
    return Explanation(
        f"{owner} was pickled with scikit-learn {_sklearn_recorded(facts)} and lacks "
        f"attribute '{name}' that scikit-learn {installed} installed here expects{why}; "
        f"{_pin_advice(facts, installed)}",
        {"library": "scikit-learn", "estimator": owner, "attribute": name,
         "pickled_with": list(facts.sklearn_recorded), "loaded_with": installed,
         "signature": "missing attribute"})


def explain(result: ProbeResult, facts: Optional[VersionFacts]) -> Optional[Explanation]:
    """The versions behind a failure with a known cross-version signature, else None."""
    if facts is None or result.kind != "exception":
        return None
    module = result.missing_module or ""
    if module and result.exception_type in ("ModuleNotFoundError", "ImportError"):
        return _numpy(module, facts) or _sklearn_module(module, facts) or \
            _pandas(module, facts)
    if result.exception_type != "AttributeError":
        return None
    match = _CANT_GET_ATTRIBUTE.search(result.message)
    if match:
        return _pandas(f"{match.group('module')}.{match.group('name')}", facts)
    match = _NO_ATTRIBUTE.search(result.message)
    if match:
        return _sklearn_attribute(match.group("owner"), match.group("name"), facts)
    return None


def installed_module_owner(module: str, distribution: str,
                           facts: Optional[VersionFacts]) -> Optional[str]:
    """``numpy 1.24.4`` when the distribution a missing module belongs to *is* installed
    (then "add it to requirements.txt" would be wrong: another version has the module)."""
    if facts is None or not module:
        return None
    version = facts.installed.get(distribution)
    return f"{distribution} {version}" if version else None
