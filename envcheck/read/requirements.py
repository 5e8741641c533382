"""Parse requirements.txt (checks ``requirements.parse`` and ``requirements.pinned``).

The file is parsed by :class:`envcheck.read.requirements_parser.Parser`, not by pip, so
that nothing is installed or executed and every problem names its file and line; the
result is a :class:`envcheck.read.requirements_file.RequirementsFile` (what the installer
gets).  The rules that need every line (hash-checking mode, contradicting duplicates) are
applied here, and so are the two checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Sequence

from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, Severity, error, info, warning
from envcheck.model.package import ModelPackage
from envcheck.read.requirements_file import ParsedRequirement, RequirementsFile
from envcheck.read.requirements_parser import Parser


def adopt_requirements(pkg: ModelPackage, reqs: RequirementsFile) -> None:
    """What ``pkg`` installs (and its env key hashes) and pins: the file ``reqs``."""
    pkg.requirements_ok = reqs.ok
    pkg.requirement_lines = reqs.install_lines()
    pkg.constraint_lines = reqs.constraint_lines()
    pkg.installer_options = reqs.option_lines()
    pkg.pins = reqs.pins()


def parse_requirements(path: Path, root: Optional[Path] = None) -> RequirementsFile:
    """Parse ``path`` and its includes.  ``root``: the package root (findings are relative
    to it, and includes must stay inside it); default: the file's directory."""
    root = (root or path.parent).resolve()
    result = RequirementsFile(path=path)
    Parser(result, root).parse(path.resolve(), constraint=False, chain=[], origin=None)
    _cross_checks(result, root)
    return result


def parse_entries(path: Path, entries: list[tuple[int, str]], root: Path,
                  options_allowed: bool = False) -> RequirementsFile:
    """Requirement lines written inside ``path`` (``(line, text)``), parsed with the same
    rules as requirements.txt; ``-r`` includes (``options_allowed``) are relative to it."""
    root = root.resolve()
    result = RequirementsFile(path=path)
    Parser(result, root).parse_entries(path.resolve(), entries, options_allowed)
    _cross_checks(result, root)
    return result


def _cross_checks(result: RequirementsFile, root: Path) -> None:
    """Rules that need every line: hash-checking mode, contradicting duplicates."""
    def show(path: Path) -> str:
        try:
            return str(path.relative_to(root))
        except ValueError:
            return str(path)

    direct = result.direct
    hashed = [r for r in direct if r.hashes]
    if hashed or "--require-hashes" in result.options:
        for req in direct:
            if not req.hashes:
                result.findings.append(error(
                    f"{req.requirement.name} has no --hash, but other requirements do: pip's "
                    f"hash-checking mode then refuses to install anything", file=show(req.file),
                    line=req.line))
            elif req.pinned_version is None and not req.requirement.url:
                result.findings.append(error(
                    f"{req.requirement.name} has --hash but is not pinned with ==: pip's "
                    f"hash-checking mode refuses it", file=show(req.file), line=req.line))
    seen: dict[tuple[str, str], ParsedRequirement] = {}
    for req in direct:
        key = (req.name, str(req.requirement.marker or ""))
        first = seen.get(key)
        if first is None:
            seen[key] = req
        elif str(first.requirement.specifier) != str(req.requirement.specifier) or \
                first.requirement.url != req.requirement.url:
            result.findings.append(warning(
                f"{req.requirement.name} is required twice with different versions "
                f"({first.requirement} at {show(first.file)}:{first.line}, {req.requirement} "
                f"here); the installer must satisfy both", file=show(req.file), line=req.line))


# --------------------------------------------------------------------------- checks

def check_parse(reqs: RequirementsFile, duration_s: float = 0.0,
                also: Sequence[Finding] = (), source_note: str = "",
                details: Optional[dict[str, object]] = None) -> CheckResult:
    """``requirements.parse``: the file's findings, ``also`` (other environment sources'
    findings and where they disagree), and a count when nothing failed."""
    findings = list(reqs.findings) + list(also)
    if reqs.ok and not any(f.severity is Severity.ERROR for f in also):
        n = len(reqs.direct)
        findings.append(info(f"{n} requirement{'s' if n != 1 else ''}"
                             + (f", {len(reqs.constraints)} constraints" if reqs.constraints else "")
                             + (f" from {len(reqs.files)} files" if len(reqs.files) > 1 else "")
                             + source_note, details=details or {}))
    return checks.REQUIREMENTS_PARSE.result(findings, duration_s)


def check_pinned(reqs: RequirementsFile, root: Optional[Path] = None,
                 duration_s: float = 0.0, locked: Iterable[str] = ()) -> CheckResult:
    """A warning for every direct requirement not pinned exactly (``--strict``: failure).

    A requirement pinned by a ``-c`` constraint, or by the lock that gets installed
    (``locked``: its canonical names), counts as pinned; URL requirements are judged by
    ``requirements.parse`` instead.
    """
    root = (root or reqs.path.parent).resolve()

    def show(path: Path) -> str:
        try:
            return str(path.relative_to(root))
        except ValueError:
            return str(path)

    constrained = {c.name: c.pinned_version for c in reqs.constraints if c.pinned_version}
    constrained.update((name, "locked") for name in locked)
    findings: list[Finding] = []
    for req in reqs.direct:
        if req.requirement.url or req.pinned_version is not None:
            continue
        if req.name in constrained:
            continue
        specifier = str(req.requirement.specifier) or "any version"
        findings.append(warning(
            f"{req.requirement.name} is not pinned ({specifier}): a fresh machine may get a "
            f"different version than the model was trained with; pin it with ==",
            file=show(req.file), line=req.line,
            details={"requirement": str(req.requirement)}))
    if not reqs.direct:
        findings.append(warning("no requirements: the model's libraries (and their versions) "
                                "are not declared", file=show(reqs.path)))
    return checks.REQUIREMENTS_PINNED.result(findings, duration_s)
