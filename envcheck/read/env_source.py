"""One file that describes a package's environment, as read (the type the readers share).

Each reader (requirements.txt and requirements.lock in :mod:`envcheck.read.sources`,
:mod:`~envcheck.read.pyproject`, :mod:`~envcheck.read.uvlock`,
:mod:`~envcheck.read.pylock`, :mod:`~envcheck.read.conda`) turns its file into a
:class:`Source`: the requirement lines the installer gets when this source is chosen (a
:class:`~envcheck.read.requirements_file.RequirementsFile`, whose findings name the file
and line), what it declares directly, and the Python it asks for.  Findings about the file beyond its lines (conda-only
packages, sources outside the registry) go to the same ``reqs.findings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from envcheck.model.findings import Finding
from envcheck.read.requirements_file import ParsedRequirement, RequirementsFile
from envcheck.read.source_compare import Declared, Locked
from envcheck.read.toml_file import TomlText, load_toml


@dataclass
class Source:
    file: str  # as shown: "uv.lock", "pyproject.toml"
    reqs: RequirementsFile  # what the installer gets when this source is chosen
    complete: bool = False  # a lock: every distribution, pinned exactly
    # Direct requirements (a lock's: those of its root project, when it records them).
    declared: list[ParsedRequirement] = field(default_factory=list)
    python: Optional[str] = None  # what it asks for: "3.11", ">=3.9"
    python_key: str = ""  # where: "requires-python", "python"
    python_line: Optional[int] = None
    regenerate: str = ""  # how to bring a stale lock up to date

    def declared_items(self) -> list[Declared]:
        return [Declared(r.name, _shown(r), r.requirement.specifier, r.line, r.requirement.marker)
                for r in self.declared if not r.constraint and r.requirement.url is None]

    def locked(self) -> dict[str, list[Locked]]:
        """Exact pins of what this source installs: name -> every version pinned."""
        out: dict[str, list[Locked]] = {}
        for req in self.reqs.direct:
            if req.pinned_version is not None and req.requirement.url is None:
                out.setdefault(req.name, []).append(Locked(req.pinned_version, req.line))
        return out

    @property
    def ok(self) -> bool:
        return self.reqs.ok


def _shown(req: ParsedRequirement) -> str:
    spec = str(req.requirement.specifier)
    return f"{req.requirement.name}{spec}"


def unreadable(path: Path, shown: str, problem: Finding) -> Source:
    """A source whose file could not be read at all: its error fails requirements.parse."""
    return Source(shown, RequirementsFile(path=path, findings=[problem], readable=False))


def toml_source(path: Path, shown: str) -> Union[TomlText, Source]:
    """The TOML document, or the unreadable source saying why it could not be read."""
    doc, problem = load_toml(path, shown)
    if doc is not None:
        return doc
    assert problem is not None
    return unreadable(path, shown, problem)
