"""Which file describes a package's environment, and where the others disagree with it.

A package may carry several environment files.  envcheck installs exactly one, the first
of :data:`PRECEDENCE` present -- the most exact first:

1. ``requirements.lock`` -- written by ``envcheck lock`` for this package and its Python:
   every distribution pinned, with hashes (the user asked envcheck for it);
2. ``uv.lock`` -- every distribution pinned, with hashes, for every platform;
3. ``pylock.toml`` (PEP 751; or a single ``pylock.<name>.toml``) -- the same, usually
   exported from 2.;
4. ``requirements.txt`` -- the direct requirements, pinned or not;
5. ``pyproject.toml`` -- ``[project] dependencies``, usually ranges;
6. ``environment.yml`` / ``environment.yaml`` (conda) -- only its ``pip:`` section and its
   Python can be built from PyPI.

Every other source present is compared with the chosen one
(:mod:`envcheck.read.source_compare`): disagreements are ``requirements.parse`` warnings
naming both files and lines.  The Python a source asks for (``requires-python``, conda's
``python=``) feeds the interpreter choice like metadata's ``python_version`` (which wins).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from envcheck.model.findings import Finding, warning
from envcheck.model.package import LOCK_FILE, REQUIREMENTS_FILE
from envcheck.read import lockfile, requirements
from envcheck.read.conda import ENVIRONMENT_FILES, read_conda
from envcheck.read.env_source import Source
from envcheck.read.pylock import PYLOCK_FILE, read_pylock
from envcheck.read.pyproject import PYPROJECT_FILE, read_pyproject
from envcheck.read.source_compare import (
    against_lock,
    at,
    between_declared,
    between_locks,
    missing_from,
)
from envcheck.read.uvlock import UV_LOCK_FILE, read_uv_lock

PRECEDENCE: tuple[str, ...] = (LOCK_FILE, UV_LOCK_FILE, PYLOCK_FILE, REQUIREMENTS_FILE,
                               PYPROJECT_FILE, *ENVIRONMENT_FILES)
# Scripts a package may carry to set up its environment: envcheck runs none of them.
SETUP_SCRIPTS = ("setup.sh", "setup.py")
_PYLOCK_NAMED = re.compile(r"^pylock\.[^.]+\.toml$")


@dataclass
class Environment:
    """The sources of one package, the chosen one first, and their comparison."""

    sources: list[Source]
    comparisons: list[Finding] = field(default_factory=list)

    @property
    def chosen(self) -> Source:
        return self.sources[0]

    @property
    def others(self) -> list[Source]:
        return self.sources[1:]

    @property
    def declared(self) -> Source:
        """The most exact source of *direct* requirements (what requirements.pinned and
        the interface's imports are judged on); the chosen lock when there is none."""
        return next((s for s in self.sources if not s.complete), self.chosen)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources)

    @property
    def python_source(self) -> Optional[Source]:
        return next((s for s in self.sources if s.python), None)

    def summary(self) -> str:
        if not self.others and self.chosen.file == REQUIREMENTS_FILE:
            return ""
        compared = f"; compared with {', '.join(s.file for s in self.others)}" \
            if self.others else ""
        return f" from {self.chosen.file} (installed{compared})"

    def details(self) -> dict[str, object]:
        return {"source": self.chosen.file, "compared": [s.file for s in self.others],
                "precedence": list(PRECEDENCE)}


def _requirements_source(path: Path, root: Path, shown: str, complete: bool) -> Source:
    reqs = requirements.parse_requirements(path, root)
    python = None
    if complete:
        try:
            python = lockfile.lock_python(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            python = None  # the parse above has said why
    return Source(shown, reqs, complete=complete, declared=[] if complete else reqs.direct,
                  python=python, python_key="the pip-compile header" if python else "",
                  regenerate="regenerate it with 'envcheck lock --force'")


def _read(path: Path, root: Path, name: str) -> tuple[Optional[Source], list[Finding]]:
    if name in (LOCK_FILE, REQUIREMENTS_FILE):
        return _requirements_source(path, root, name, complete=name == LOCK_FILE), []
    if name == UV_LOCK_FILE:
        return read_uv_lock(path, root)
    if name == PYPROJECT_FILE:
        return read_pyproject(path, root)
    if name in ENVIRONMENT_FILES:
        return read_conda(path, root, name)
    return read_pylock(path, root, name)


def candidates(root: Path) -> list[str]:
    """Names of the environment files present, in order of precedence."""
    names: list[str] = []
    for name in PRECEDENCE:
        if (root / name).is_file():
            names.append(name)
        elif name == PYLOCK_FILE:
            # PEP 751 also names locks pylock.<name>.toml; several would need a choice.
            named = sorted(p.name for p in root.glob("pylock.*.toml")
                           if _PYLOCK_NAMED.match(p.name) and p.is_file())
            names.extend(named[:1] if len(named) == 1 else [])
    return names


def read_environment(root: Path, usable: Callable[[Path], bool]
                     ) -> tuple[Optional[Environment], list[Finding]]:
    """The package's environment sources (None when it has none) and notes for
    package.layout (files that are not sources, setup scripts that are not run).
    ``usable(path)``: False for a file that must not be read (a link out of the package)."""
    sources: list[Source] = []
    notes: list[Finding] = []
    for name in candidates(root):
        path = root / name
        if not usable(path):
            continue
        source, found = _read(path, root, name)
        notes.extend(found)
        if source is not None:
            sources.append(source)
    notes.extend(setup_scripts(root, sources[0].file if sources else REQUIREMENTS_FILE))
    if not sources:
        return None, notes
    environment = Environment(sources)
    environment.comparisons = compare(environment)
    return environment, notes


def setup_scripts(root: Path, declared_in: str) -> list[Finding]:
    """A setup.sh / setup.py beside the model: reported as not run, and what to do."""
    out: list[Finding] = []
    for name in SETUP_SCRIPTS:
        if not (root / name).is_file():
            continue
        instead = (f"declare the libraries it installs in {declared_in} (pinned with ==), or "
                   f"ship them as wheels in the package and point --find-links at them")
        if name == "setup.py":
            instead = (f"put the model's own modules beside the interface (they are "
                       f"importable from there) and declare the libraries setup.py "
                       f"installs in {declared_in}")
        out.append(warning(
            f"{name} is not run: envcheck builds the environment only from the declared "
            f"requirements ({declared_in}), never by running a script of the package; if "
            f"the model needs what {name} does, {instead}", file=name,
            details={"not_run": name}))
    return out


def compare(environment: Environment) -> list[Finding]:
    """Every other source against the chosen one."""
    chosen = environment.chosen
    python = _marker_python(environment)
    findings: list[Finding] = []
    for other in environment.others:
        if chosen.complete:
            findings += against_lock(other.declared_items(), chosen.locked(), other.file,
                                     chosen.file, python, chosen.regenerate)
            if other.complete:
                findings += between_locks(other.locked(), chosen.locked(), other.file,
                                          chosen.file)
            if chosen.declared:
                names = set(other.locked()) if other.complete else \
                    {r.name for r in other.declared}
                findings += missing_from(chosen.declared_items(), names, chosen.file,
                                         other.file, python)
        else:
            findings += between_declared(other.declared_items(), chosen.declared_items(),
                                         other.file, chosen.file, python)
    return findings


def python_disagreements(environment: Environment, in_force: Optional[str],
                         in_force_at: str) -> list[Finding]:
    """Sources asking for a Python the one in force (metadata's, else the first source's)
    excludes: ``environment.yml`` says 3.8, ``pyproject.toml`` requires >=3.10."""
    findings: list[Finding] = []
    if in_force is None:
        return findings
    for source in environment.sources:
        where = at(source.file, source.python_line)
        if source.python is None or where == in_force_at or _compatible(source.python, in_force):
            continue
        findings.append(warning(
            f"{source.file} asks for Python {source.python} ({source.python_key}, {where}) "
            f"but {in_force_at} asks for {in_force}, which is what envcheck uses: make the "
            f"two agree", file=source.file, line=source.python_line,
            details={"python": source.python, "in_force": in_force, "in_force_at": in_force_at}))
    return findings


def _as_spec(text: str) -> tuple[Optional[Version], Optional[SpecifierSet]]:
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+){1,2}", value):
        return Version(value), None
    try:
        return None, SpecifierSet(value)
    except InvalidSpecifier:
        return None, None


def _compatible(a: str, b: str) -> bool:
    """False only when one is a version the other (a version or a range) excludes."""
    (va, sa), (vb, sb) = _as_spec(a), _as_spec(b)
    try:
        if va is not None and vb is not None:
            shorter = min(len(va.release), len(vb.release))
            return va.release[:shorter] == vb.release[:shorter]
        if va is not None and sb is not None:
            return sb.contains(va, prereleases=True)
        if vb is not None and sa is not None:
            return sa.contains(vb, prereleases=True)
    except InvalidVersion:
        return True
    return True


def _marker_python(environment: Environment) -> Optional[str]:
    """``X.Y`` for evaluating markers, when a source names one exactly."""
    source = environment.python_source
    version, _ = _as_spec(source.python) if source and source.python else (None, None)
    return f"{version.major}.{version.minor}" if version is not None else None
