"""``pylock.toml`` (PEP 751) as a lock file, installed exactly (like ``requirements.lock``).

A PEP 751 lock lists every package flat, each with its version, an optional ``marker``
(for which environments it is installed) and its files with their hashes (``wheels``,
``sdist``, ``archive``); ``uv export --format pylock.toml`` and ``pip lock`` write it.
envcheck gives the installer ``name==version ; marker --hash=...`` for each.

Packages not from an index are findings that say so: ``vcs`` (at its ``commit-id``) and an
``archive`` URL are installed with a warning; a ``directory`` or a local ``path`` is an
error (a fresh machine does not have it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from packaging.utils import canonicalize_name

from envcheck.model.findings import Finding, error
from envcheck.read.env_source import Source, toml_source, unreadable
from envcheck.read.requirements import parse_entries
from envcheck.read.uvlock import PYPI_INDEXES, hash_mode

PYLOCK_FILE = "pylock.toml"
REGENERATE = ("export it again ('uv export --format pylock.toml -o pylock.toml' or "
              "'pip lock -o pylock.toml')")


def read_pylock(path: Path, root: Path, shown: str = PYLOCK_FILE
                ) -> tuple[Optional[Source], list[Finding]]:
    doc = toml_source(path, shown)
    if isinstance(doc, Source):
        return doc, []
    packages = doc.data.get("packages")
    version = doc.data.get("lock-version")
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages) \
            or version is None:
        source = unreadable(path, shown, error(
            f"{shown} is not a PEP 751 lock (it needs lock-version and [[packages]])",
            file=shown))
        source.complete = True
        return source, []
    headers = doc.table_lines("packages")
    lines = headers if len(headers) == len(packages) else [1] * len(packages)
    entries: list[tuple[int, str]] = []
    findings: list[Finding] = []
    if not str(version).startswith("1."):
        findings.append(error(f"{shown} has lock-version {version}: envcheck reads version 1 "
                              f"locks", file=shown, line=doc.key_line("lock-version")))
    indexes: set[str] = set()
    for package, line in zip(packages, lines):
        entry = _entry(package, line, shown, findings)
        if entry is None:
            continue
        index = package.get("index")
        if isinstance(index, str) and index.rstrip("/") + "/" not in \
                {i.rstrip("/") + "/" for i in PYPI_INDEXES} and index not in indexes:
            indexes.add(index)
            entries.insert(0, (line, f"--extra-index-url {index}"))
        entries.append((line, entry))
    entries, findings = hash_mode(entries, shown, findings)
    reqs = parse_entries(path, entries, root, options_allowed=True)
    reqs.findings[:0] = findings
    python = doc.data.get("requires-python")
    return Source(shown, reqs, complete=True,
                  python=str(python).strip() if python is not None else None,
                  python_key="requires-python", python_line=doc.key_line("requires-python"),
                  regenerate=REGENERATE), []


def _entry(package: dict[str, Any], line: int, shown: str, findings: list[Finding]
           ) -> Optional[str]:
    """The requirement line for one ``[[packages]]`` table, or None (and a finding)."""
    name = str(package.get("name", ""))
    marker = package.get("marker")
    suffix = f" ; {marker}" if isinstance(marker, str) and marker.strip() else ""
    details = {"package": canonicalize_name(name)}
    vcs = package.get("vcs")
    if isinstance(vcs, dict):
        url, commit = vcs.get("url"), vcs.get("commit-id")
        if not isinstance(url, str) or not isinstance(commit, str):
            findings.append(error(f"{name} ({shown}:{line}) comes from {vcs.get('type', 'vcs')} "
                                  f"without a url and commit-id: not reproducible", file=shown,
                                  line=line, details=details))
            return None
        return f"{name} @ {vcs.get('type', 'git')}+{url}@{commit}{suffix}"
    directory = package.get("directory")
    local = directory.get("path") if isinstance(directory, dict) else None
    archive = package.get("archive") if isinstance(package.get("archive"), dict) else None
    if local is None and archive is not None and isinstance(archive.get("path"), str):
        local = archive["path"]
    if local is not None:
        findings.append(error(
            f"{name} comes from the local path {local!r} ({shown}:{line}): not reproducible "
            f"from PyPI, a fresh machine does not have it; publish it, or put its modules "
            f"beside the interface", file=shown, line=line, details=dict(details, source=local)))
        return None
    hashes = " ".join(f"--hash={h}" for h in _hashes(package))
    if archive is not None and isinstance(archive.get("url"), str):
        return f"{name} @ {archive['url']}{suffix} {hashes}".rstrip()
    version = package.get("version")
    if version is None:
        findings.append(error(f"{name} ({shown}:{line}) has no version and no vcs, directory "
                              f"or archive: nothing to install", file=shown, line=line,
                              details=details))
        return None
    return f"{name}=={version}{suffix} {hashes}".rstrip()


def _hashes(package: dict[str, Any]) -> list[str]:
    files = [f for f in package.get("wheels") or [] if isinstance(f, dict)]
    for key in ("sdist", "archive"):
        if isinstance(package.get(key), dict):
            files.append(package[key])
    out: set[str] = set()
    for item in files:
        hashes = item.get("hashes")
        if isinstance(hashes, dict):
            out.update(f"{algo}:{digest}" for algo, digest in hashes.items()
                       if algo in ("sha256", "sha384", "sha512"))
    return sorted(out)
