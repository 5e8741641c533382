"""Reading a lock (``requirements.lock``, as ``envcheck lock`` writes it with pip-tools):
its pins, the Python it was compiled for, and where it disagrees with requirements.txt.

Lines are read by :func:`envcheck.read.requirements.logical_lines`, the one reader of
requirements-file syntax (comments, continuations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from envcheck.model.findings import Finding, warning
from envcheck.model.package import LOCK_FILE, REQUIREMENTS_FILE
from envcheck.read.requirements_lines import logical_lines
from envcheck.read.source_compare import Declared, Locked, against_lock


@dataclass(frozen=True)
class LockPin:
    name: str  # canonical
    version: str
    line: int  # where the pin starts in the lock
    marker: Optional[str] = None
    hashes: tuple[str, ...] = ()


_PYTHON_HEADER = re.compile(r"^#.*\bwith Python (\d+\.\d+)", re.MULTILINE)


def lock_python(text: str) -> Optional[str]:
    """The ``X.Y`` pip-compile's header says the lock was compiled with, if it says."""
    match = _PYTHON_HEADER.search(text)
    return match.group(1) if match else None


def parse_lock(text: str) -> dict[str, LockPin]:
    """Pins of a pip-compile lock: canonical name -> :class:`LockPin`.

    Option lines (``--index-url``...) are skipped; a line that is not ``name==version``
    (an unpinned or URL requirement) is skipped too -- it pins nothing to compare.
    """
    pins: dict[str, LockPin] = {}
    for number, line in logical_lines(text):
        if line.startswith("-"):
            continue
        hashes = tuple(re.findall(r"--hash[=\s]+(\S+)", line))
        spec_text = re.split(r"\s--", " " + line, maxsplit=1)[0].strip()
        try:
            req = Requirement(spec_text)
        except InvalidRequirement:
            continue
        exact = [s for s in req.specifier if s.operator in ("==", "===")
                 and not s.version.endswith(".*")]
        if req.url or len(exact) != 1:
            continue
        name = canonicalize_name(req.name)
        pin = LockPin(name, exact[0].version, number,
                      str(req.marker) if req.marker is not None else None, hashes)
        # The same name twice (under different markers): the unmarked / first one wins.
        if name not in pins or (pins[name].marker is not None and pin.marker is None):
            pins[name] = pin
    return pins


def read_lock_pins(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` of a lock file."""
    return {name: pin.version for name, pin in
            parse_lock(Path(path).read_text(encoding="utf-8")).items()}


# --------------------------------------------------------------------------- comparing

def lock_disagreements(requirements: Sequence[Sequence[Any]],
                       lock_pins: dict[str, Union[str, LockPin]],
                       requirements_file: str = REQUIREMENTS_FILE,
                       lock_file: str = LOCK_FILE,
                       python_version: Optional[str] = None) -> list[Finding]:
    """Where requirements.txt and its lock disagree: one warning per direct requirement.

    ``requirements``: ``(name, SpecifierSet, line)`` per direct requirement of
    requirements.txt, optionally with a 4th item, its marker (``Marker``, text or None).
    ``lock_pins``: ``{name: version or LockPin}`` (names are canonicalized here).  A
    requirement whose marker does not hold for ``python_version`` (the lock's Python) may
    be missing.

    Findings point at requirements.txt and the line (``file``/``line``, shown as the
    ``requirements.txt:2:`` prefix); the message names the lock (and the pin's line).
    """
    locked: dict[str, list[Locked]] = {canonicalize_name(name): [Locked(pin.version, pin.line) if isinstance(pin, LockPin)
                                        else Locked(str(pin))]
              for name, pin in lock_pins.items()}
    declared = []
    for item in requirements:
        name, specifier, line = item[0], item[1], item[2]
        spec = specifier if isinstance(specifier, SpecifierSet) else SpecifierSet(str(specifier or ""))
        declared.append(Declared(canonicalize_name(str(name)),
                                 f"{name}{spec}" if str(spec) else str(name), spec, line,
                                 item[3] if len(item) > 3 else None))
    return against_lock(declared, locked, requirements_file, lock_file, python_version,
                        "regenerate it with 'envcheck lock --force'")


def lock_findings(requirements: Iterable[Any], lock_path: Path,
                  requirements_file: str = REQUIREMENTS_FILE,
                  lock_file: Optional[str] = None) -> list[Finding]:
    """:func:`lock_disagreements` for parsed requirements (``envcheck.read.requirements``'
    ``ParsedRequirement``: ``.name``, ``.requirement``, ``.line``) and a lock on disk.

    An unreadable lock is a finding too: ``check`` would install from it.
    """
    shown = lock_file or lock_path.name
    try:
        text = lock_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [warning(f"{shown} cannot be read ({exc}); {requirements_file} was compared "
                        "with nothing", file=shown)]
    items = [(r.name, r.requirement.specifier, r.line, r.requirement.marker)
             for r in requirements if not getattr(r, "constraint", False)
             and getattr(r.requirement, "url", None) is None]
    return lock_disagreements(items, dict(parse_lock(text)), requirements_file, shown, lock_python(text))
