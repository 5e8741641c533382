"""A parsed requirements file and what the installer gets from it.

What the installer gets (decided here, used by :mod:`envcheck.env.cache` and the env cache
key):

* :meth:`RequirementsFile.install_lines` -- sorted, normalized requirement lines, each a
  valid requirements-file line: ``name[extra1,extra2]==1.0 ; marker --hash=sha256:...``
  with canonical names and sorted extras/hashes.  Direct requirements only (those of the
  file and its ``-r`` includes).
* :meth:`RequirementsFile.constraint_lines` -- the ``-c`` files' requirements in the same
  form (without extras or hashes: pip refuses extras in constraints), meant to be written to
  a *separate* constraints file and passed with ``--constraint FILE`` (``-c`` to pip and
  ``uv pip install``).  They are not requirement lines: a constraint installs nothing.
* :meth:`RequirementsFile.option_lines` -- installer options the file sets that change what
  gets installed: ``--index-url``, ``--extra-index-url``, ``--find-links``, ``--no-index``,
  ``--pre``, ``--prefer-binary``, ``--only-binary``, ``--no-binary``, ``--trusted-host``,
  ``--require-hashes``; sorted, one per line, as requirements-file lines.  They belong in the
  env cache key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envcheck.model.findings import Finding, Severity


@dataclass
class ParsedRequirement:
    requirement: Requirement
    file: Path
    line: int
    hashes: list[str] = field(default_factory=list)  # "sha256:abc..."
    constraint: bool = False  # from a -c file: limits versions, installs nothing
    raw: str = ""  # the logical line as written (continuations joined)

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def pinned_version(self) -> Optional[str]:
        """The version of an exact ``==``/``===`` pin (no wildcard), else None."""
        for spec in self.requirement.specifier:
            if spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith(".*")):
                return spec.version
        return None

    def normalized(self, *, extras: bool = True, hashes: bool = True) -> str:
        req = self.requirement
        text = self.name
        if extras and req.extras:
            text += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
        if req.url:
            text += f" @ {req.url}"
        else:
            specs = sorted(str(s) for s in req.specifier)
            text += ",".join(specs)
        if req.marker is not None:
            # A space before ';' so that "name @ url ; marker" is not read as part of the URL.
            text += f" ; {req.marker}"
        if hashes and self.hashes:
            text += "".join(f" --hash={h}" for h in sorted(self.hashes))
        return text


@dataclass
class RequirementsFile:
    path: Path
    requirements: list[ParsedRequirement] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    options: list[str] = field(default_factory=list)  # normalized installer options
    files: list[Path] = field(default_factory=list)  # this file and every include read
    readable: bool = True  # False: the top file itself could not be read at all

    @property
    def ok(self) -> bool:
        return self.readable and not any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def direct(self) -> list[ParsedRequirement]:
        return [r for r in self.requirements if not r.constraint]

    @property
    def constraints(self) -> list[ParsedRequirement]:
        return [r for r in self.requirements if r.constraint]

    def install_lines(self) -> list[str]:
        return sorted({r.normalized() for r in self.direct})

    def constraint_lines(self) -> list[str]:
        return sorted({r.normalized(extras=False, hashes=False) for r in self.constraints})

    def option_lines(self) -> list[str]:
        return sorted(set(self.options))

    def names(self) -> set[str]:
        """Canonical names of the direct requirements (what gets installed)."""
        return {r.name for r in self.direct}

    def pins(self) -> dict[str, str]:
        """Canonical name -> version of exact pins of direct requirements.

        When a name is pinned more than once under different markers, the pin without a
        marker wins, else the first one written.
        """
        out: dict[str, str] = {}
        unmarked: set[str] = set()
        for req in self.direct:
            version = req.pinned_version
            if version is None or req.requirement.url:
                continue
            if req.requirement.marker is None and req.name not in unmarked:
                out[req.name] = version
                unmarked.add(req.name)
            elif req.name not in out:
                out[req.name] = version
        return out
