"""``uv.lock`` as a lock file, installed exactly (like ``requirements.lock``).

uv writes one universal lock: every distribution of every platform and Python, each
``[[package]]`` with its version, its source, the hashes of its files and its
dependencies (edges that may carry markers; a name locked at two versions is told apart
by those markers).  envcheck walks the graph from the project at the root of the
package (``source = { virtual = "." }`` or ``{ editable = "." }``) through its runtime
dependencies and extras -- dependency groups (``dev``) are not installed -- and gives the
installer ``name==version ; marker --hash=...`` for every package reached: the markers
say which apply to the Python and platform the env is built for.

Sources outside the registry are findings that say so: a git commit or a direct URL is
installed with a warning (reproducible only while that server keeps it); a local path or
directory is an error (a fresh machine does not have it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from packaging.requirements import InvalidRequirement
from packaging.utils import canonicalize_name

from envcheck.model.findings import Finding, error, warning
from envcheck.read.env_source import Source, toml_source
from envcheck.read.requirements import parse_entries
from envcheck.read.requirements_file import ParsedRequirement, RequirementsFile
from envcheck.read.requirements_lines import requirement_from
from envcheck.read.toml_file import TomlText

UV_LOCK_FILE = "uv.lock"
PYPI_INDEXES = ("https://pypi.org/simple", "https://pypi.org/simple/")
MAX_WALK = 20_000  # (package, marker, extras) states: a real lock needs a few hundred
MAX_MARKER = 2_000  # characters of one combined marker
_LOCAL = ("path", "directory", "editable", "virtual")
REGENERATE = "run 'uv lock' to bring it up to date"


def read_uv_lock(path: Path, root: Path) -> tuple[Optional[Source], list[Finding]]:
    shown = UV_LOCK_FILE
    doc = toml_source(path, shown)
    if isinstance(doc, Source):
        return doc, []
    packages = doc.data.get("package")
    headers = doc.table_lines("package")
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        return _failed(path, shown, f"{shown} has no [[package]] tables: not a uv lock"), []
    lines: list[Optional[int]] = list(headers) if len(headers) == len(packages) \
        else [None] * len(packages)
    roots = [i for i, p in enumerate(packages) if _local_path(p) == "."]
    if not roots:
        return _failed(path, shown, f"{shown} locks no project at the package root (no "
                       f"[[package]] with source virtual or editable \".\")"), []
    walk = _Walk(packages, lines, shown)
    for index in roots:
        walk.visit(index)
    entries, findings = walk.install_entries(roots)
    findings = walk.findings + findings
    reqs = parse_entries(path, entries, root, options_allowed=True)
    reqs.findings[:0] = findings
    python = doc.data.get("requires-python")
    return Source(shown, reqs, complete=True, declared=_declared(doc, packages[roots[0]],
                                                               lines[roots[0]], path),
                  python=str(python).strip() if python is not None else None,
                  python_key="requires-python", python_line=doc.key_line("requires-python"),
                  regenerate=REGENERATE), []


def _failed(path: Path, shown: str, message: str) -> Source:
    return Source(shown, RequirementsFile(path=path, findings=[error(message, file=shown)]),
                  complete=True)


def _local_path(package: dict[str, Any]) -> Optional[str]:
    source = package.get("source")
    if isinstance(source, dict):
        for kind in _LOCAL:
            if isinstance(source.get(kind), str):
                return str(source[kind])
    return None


class _Walk:
    """The packages reached from the roots, each with the markers of the paths to it."""

    def __init__(self, packages: list[dict[str, Any]], lines: list[Optional[int]],
                 shown: str) -> None:
        self.packages = packages
        self.lines = lines
        self.shown = shown
        self.by_name: dict[str, list[int]] = {}
        for index, package in enumerate(packages):
            self.by_name.setdefault(canonicalize_name(str(package.get("name", ""))),
                                    []).append(index)
        self.reached: dict[int, set[Optional[str]]] = {}
        self.findings: list[Finding] = []

    def visit(self, root: int) -> None:
        todo: list[tuple[int, Optional[str], frozenset[str]]] = [(root, None, frozenset())]
        seen: set[tuple[int, Optional[str], frozenset[str]]] = set()
        while todo:
            state = todo.pop()
            if state in seen:
                continue
            seen.add(state)
            if len(seen) > MAX_WALK:
                self.findings.append(error(f"{self.shown}: the dependency graph has more "
                                           f"than {MAX_WALK} paths; refused", file=self.shown))
                return
            index, marker, extras = state
            for dep in self._dependencies(self.packages[index], extras):
                target = self._target(dep, index)
                if target is None:
                    continue
                combined = _and(marker, dep.get("marker"))
                self.reached.setdefault(target, set()).add(combined)
                extra = dep.get("extra") or []
                todo.append((target, combined, frozenset(str(e) for e in extra)))

    def _dependencies(self, package: dict[str, Any], extras: frozenset[str]
                      ) -> list[dict[str, Any]]:
        deps = list(package.get("dependencies") or [])
        optional = package.get("optional-dependencies") or {}
        for extra in sorted(extras):
            deps += list(optional.get(extra) or []) if isinstance(optional, dict) else []
        return [d for d in deps if isinstance(d, dict)]

    def _target(self, dep: dict[str, Any], parent: int) -> Optional[int]:
        candidates = self.by_name.get(canonicalize_name(str(dep.get("name", ""))), [])
        if "version" in dep:
            candidates = [i for i in candidates
                          if str(self.packages[i].get("version")) == str(dep["version"])]
        if "source" in dep:
            candidates = [i for i in candidates if self.packages[i].get("source") == dep["source"]]
        if len(candidates) == 1:
            return candidates[0]
        self.findings.append(error(
            f"{dep.get('name')!r}, a dependency of {self.packages[parent].get('name')!r}, "
            f"matches {len(candidates)} [[package]] tables of {self.shown}: the lock is "
            f"inconsistent; {REGENERATE}", file=self.shown, line=self.lines[parent]))
        return None

    def install_entries(self, roots: list[int]) -> tuple[list[tuple[int, str]], list[Finding]]:
        """(line, requirement line) per package reached; findings for what is not installed."""
        entries: list[tuple[int, str]] = []
        findings: list[Finding] = []
        indexes: set[str] = set()
        for index in sorted(self.reached):
            if index in roots:
                continue
            package, line = self.packages[index], self.lines[index] or 1
            name, version = str(package.get("name")), str(package.get("version"))
            markers = self.reached[index]
            marker = None if None in markers else " or ".join(
                sorted(f"({m})" for m in markers if m))
            suffix = f" ; {marker}" if marker else ""
            found = package.get("source")
            source: dict[str, Any] = found if isinstance(found, dict) else {}
            local = _local_path(package)
            if local is not None:
                findings.append(error(
                    f"{name} comes from the local path {local!r} ({self.shown}:{line}): not "
                    f"reproducible from PyPI, a fresh machine does not have it; publish it, "
                    f"or put its modules beside the interface", file=self.shown, line=line,
                    details={"package": canonicalize_name(name), "source": local}))
                continue
            if isinstance(source.get("git"), str):
                entries.append((line, f"{name} @ {_git_url(source['git'])}{suffix}"))
                continue
            hashes = " ".join(f"--hash={h}" for h in _hashes(package))
            if isinstance(source.get("url"), str):
                entries.append((line, f"{name} @ {source['url']}{suffix} {hashes}".rstrip()))
                continue
            registry = source.get("registry")
            if isinstance(registry, str) and registry not in PYPI_INDEXES and registry not in indexes:
                indexes.add(registry)
                entries.insert(0, (line, f"--extra-index-url {registry}"))
            entries.append((line, f"{name}=={version}{suffix} {hashes}".rstrip()))
        return hash_mode(entries, self.shown, findings)


def hash_mode(entries: list[tuple[int, str]], shown: str, findings: list[Finding]
               ) -> tuple[list[tuple[int, str]], list[Finding]]:
    """Hash-checking is all or nothing (pip, uv): if one entry has no hash, none keeps one."""
    requirements = [text for _, text in entries if not text.startswith("-")]
    unhashed = [text.split(" ", 1)[0] for text in requirements if "--hash=" not in text]
    if not unhashed or len(unhashed) == len(requirements):
        return entries, findings
    findings.append(warning(
        f"{', '.join(unhashed[:3])} in {shown} come with no file hash (a git source): "
        f"installers check hashes for all requirements or none, so the other hashes are not "
        f"checked", file=shown, details={"unhashed": unhashed}))
    return [(line, text.split(" --hash=", 1)[0]) for line, text in entries], findings


def _and(left: Optional[str], right: Any) -> Optional[str]:
    if not right:
        return left
    if left is None or left == str(right):
        return str(right)
    combined = f"({left}) and ({right})"
    return combined if len(combined) <= MAX_MARKER else left


def _git_url(text: str) -> str:
    """``https://host/repo?rev=main#<commit>`` -> ``git+https://host/repo@<commit>``."""
    url, _, commit = text.partition("#")
    url = url.split("?", 1)[0]
    return f"git+{url}@{commit}" if commit else f"git+{url}"


def _hashes(package: dict[str, Any]) -> list[str]:
    files = list(package.get("wheels") or [])
    if isinstance(package.get("sdist"), dict):
        files.append(package["sdist"])
    return sorted({str(f["hash"]) for f in files if isinstance(f, dict) and f.get("hash")})


def _declared(doc: TomlText, root: dict[str, Any], line: Optional[int], path: Path
              ) -> list[ParsedRequirement]:
    """The root project's ``requires-dist``: what it was locked from (pyproject's deps)."""
    found = root.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    out: list[ParsedRequirement] = []
    start = doc.key_line("requires-dist", line) if line else None
    for item in metadata.get("requires-dist") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        text = item["name"] + str(item.get("specifier") or "")
        if item.get("marker"):
            text += f" ; {item['marker']}"
        try:
            req = requirement_from(text)
        except InvalidRequirement:
            continue
        found = doc.string_line(item["name"], start) if start else None
        out.append(ParsedRequirement(req, path, found or line or 1))
    return out
