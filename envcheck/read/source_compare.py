"""Where two environment sources of one package disagree (warnings of ``requirements.parse``).

A package may describe its environment in several files (requirements.txt and a lock,
pyproject.toml and uv.lock, an environment.yml beside them).  envcheck installs one of them
(:mod:`envcheck.read.sources` says which); the others are compared with it here, and each
disagreement is a warning that names both files and both lines:

* a direct requirement of the other file that the installed lock does not pin, or pins
  outside the requirement's specifier (the lock is stale);
* a direct requirement present in one file and absent from the other;
* a distribution pinned differently by two files (two locks, or two ``==`` pins).

A requirement whose marker does not hold for the package's Python may be missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from envcheck.model.findings import Finding, warning


@dataclass(frozen=True)
class Declared:
    """A direct requirement as a file writes it."""

    name: str  # canonical
    shown: str  # as written, without marker: "numpy>=1.25"
    spec: SpecifierSet
    line: Optional[int] = None
    marker: Any = None  # Marker, text or None


@dataclass(frozen=True)
class Locked:
    """A distribution a file pins exactly (a lock may pin a name twice, under markers)."""

    version: str
    line: Optional[int] = None


def at(file: str, line: Optional[int]) -> str:
    return f"{file}:{line}" if line else file


def exact_version(spec: SpecifierSet) -> Optional[str]:
    for item in spec:
        if item.operator == "===" or (item.operator == "==" and not item.version.endswith(".*")):
            return item.version
    return None


def satisfies(spec: SpecifierSet, version: str) -> bool:
    if not str(spec):
        return True
    try:
        # A pre-release pinned in a lock was allowed by whoever locked it.
        return spec.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return spec.contains(version, prereleases=True)


def marker_holds(marker: Any, python_version: Optional[str]) -> bool:
    """Whether ``marker`` holds for ``X.Y`` (no marker, or no version known: it does)."""
    if marker is None or python_version is None:
        return True
    try:
        parsed = marker if isinstance(marker, Marker) else Marker(str(marker))
        return parsed.evaluate({"python_version": python_version,
                                "python_full_version": f"{python_version}.0"})
    except Exception:  # noqa: BLE001 - an undefined variable: assume it applies
        return True


def against_lock(declared: list[Declared], locked: dict[str, list[Locked]],
                 declared_file: str, lock_file: str, python_version: Optional[str],
                 fix: str) -> list[Finding]:
    """Direct requirements of ``declared_file`` against the lock that gets installed.

    Findings point at ``declared_file`` and the requirement's line; the message names the
    lock and the line of its pin."""
    findings: list[Finding] = []
    for req in declared:
        details = {"requirement": req.shown, "lock_file": lock_file, "package": req.name}
        pins = locked.get(req.name)
        if not pins:
            if not marker_holds(req.marker, python_version):
                continue
            findings.append(warning(
                f"{req.shown} is not pinned in {lock_file}: the lock was made from another "
                f"{declared_file}; {fix}", file=declared_file, line=req.line,
                details=dict(details, locked=None)))
        elif not any(satisfies(req.spec, pin.version) for pin in pins):
            pin = pins[0]
            findings.append(warning(
                f"{req.shown} disagrees with {lock_file}, which pins {req.name}=={pin.version} "
                f"({at(lock_file, pin.line)}): the lock is stale; {fix}",
                file=declared_file, line=req.line,
                details=dict(details, locked=pin.version, lock_line=pin.line)))
    return findings


def _compatible(a: SpecifierSet, b: SpecifierSet) -> bool:
    """False only when one side pins exactly a version the other excludes."""
    pinned_a, pinned_b = exact_version(a), exact_version(b)
    if pinned_a is not None and not satisfies(b, pinned_a):
        return False
    return pinned_b is None or satisfies(a, pinned_b)


def between_declared(other: list[Declared], chosen: list[Declared], other_file: str,
                     chosen_file: str, python_version: Optional[str]) -> list[Finding]:
    """Two lists of direct requirements: different pins, and names only one of them has."""
    findings: list[Finding] = []
    chosen_by_name = {req.name: req for req in chosen}
    other_by_name = {req.name: req for req in other}
    installs = f"envcheck installs {chosen_file}"
    for req in other:
        mine = chosen_by_name.get(req.name)
        details = {"package": req.name, "requirement": req.shown, "source": chosen_file}
        if mine is None:
            if marker_holds(req.marker, python_version):
                findings.append(warning(
                    f"{req.shown} is not in {chosen_file}: "
                    f"{installs}, so it is not installed; add it there or remove it here",
                    file=other_file, line=req.line, details=dict(details, chosen=None)))
        elif not _compatible(req.spec, mine.spec):
            findings.append(warning(
                f"{req.shown} disagrees with {mine.shown} ({at(chosen_file, mine.line)}): "
                f"{installs}; make the two agree",
                file=other_file, line=req.line,
                details=dict(details, chosen=mine.shown, source_line=mine.line)))
    findings.extend(missing_from(chosen, set(other_by_name), chosen_file, other_file,
                                 python_version))
    return findings


def missing_from(chosen: list[Declared], names: set[str], chosen_file: str, other_file: str,
                 python_version: Optional[str]) -> list[Finding]:
    """Direct requirements of the installed file that ``other_file`` does not have."""
    return [warning(
        f"{req.shown} ({at(chosen_file, req.line)}) is not in {other_file}: envcheck installs "
        f"it from {chosen_file}; add it to {other_file} too, or remove it",
        file=other_file, details={"package": req.name, "requirement": req.shown,
                                  "source": chosen_file, "source_line": req.line})
        for req in chosen
        if req.name not in names and marker_holds(req.marker, python_version)]


def between_locks(other: dict[str, list[Locked]], chosen: dict[str, list[Locked]],
                  other_file: str, chosen_file: str) -> list[Finding]:
    """Two locks: every distribution both pin, with no version in common."""
    findings: list[Finding] = []
    for name in sorted(set(other) & set(chosen)):
        theirs, mine = other[name], chosen[name]
        if {p.version for p in theirs} & {p.version for p in mine}:
            continue
        findings.append(warning(
            f"{name} is pinned differently: {at(other_file, theirs[0].line)} pins "
            f"{theirs[0].version}, {at(chosen_file, mine[0].line)} pins {mine[0].version}; "
            f"envcheck installs {chosen_file}: re-lock one from the other",
            file=other_file, line=theirs[0].line,
            details={"package": name, "version": theirs[0].version, "source": chosen_file,
                     "source_version": mine[0].version, "source_line": mine[0].line}))
    return findings
