"""Choose the Python a package asks for (check ``env.python``).

Where the version comes from, in order: ``--python`` (override), ``python_version`` in
metadata.yaml, ``python`` in reference/environment.json (major.minor), ``.python-version``,
then the running interpreter.  Where an interpreter is looked for: the running one, PATH
(``python3.8``), ``$PYENV_ROOT/versions/*`` and ``uv python find --no-downloads``.

Every candidate is *run* once before it is trusted: a pyenv shim on PATH exists and is
executable but fails when its version is not the active one, and a name says nothing
about the patch version or platform anyway.  Facts are cached per (path, mtime) in-process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from envcheck.launch.environment import tool_environment
from envcheck.model import checks
from envcheck.model.files import read_json_object, write_text_atomic
from envcheck.model.findings import CheckResult, Finding, Stopwatch, info, warning
from envcheck.model.package import ModelPackage

CHECK_ID = checks.ENV_PYTHON.id
QUERY_TIMEOUT_S = 15.0

# Runs under any CPython/PyPy >= 3.6, so it uses only what those have.
_QUERY_SCRIPT = (
    "import json, platform, sys, sysconfig; "
    "print(json.dumps({'version': platform.python_version(), "
    "'implementation': sys.implementation.name, "
    "'platform': sysconfig.get_platform(), 'executable': sys.executable}))"
)


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: str  # "3.8.18"
    implementation: str = "cpython"
    platform: str = ""  # sysconfig.get_platform(): "linux-x86_64"

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def describe(self) -> str:
        return f"{self.implementation} {self.version} ({self.path})"


_FACTS: dict[tuple[str, float], Optional[Interpreter]] = {}


def current_interpreter() -> Interpreter:
    """The interpreter running envcheck, without a subprocess."""
    import platform

    return Interpreter(Path(sys.executable), platform.python_version(),
                       sys.implementation.name, sysconfig.get_platform())


def query_interpreter(path: Union[Path, str], cache_root: Optional[Path] = None
                      ) -> Optional[Interpreter]:
    """Run ``path`` once and read its facts; None when it does not run (a failing shim).

    With ``cache_root`` the facts are remembered on disk (``interpreters.json``).
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return None
    cache_key = (str(path), stat.st_mtime)
    if cache_key in _FACTS:
        return _FACTS[cache_key]
    disk_key = f"{path}|{stat.st_mtime_ns}|{stat.st_size}"
    known = _read_facts_file(cache_root).get(disk_key) if cache_root else None
    if known is not None:  # a warm check asks the same interpreters every time
        remembered = Interpreter(path, known["version"], known["implementation"],
                                 known["platform"])
        _FACTS[cache_key] = remembered
        return remembered
    result: Optional[Interpreter] = None
    env = tool_environment()
    try:
        proc = subprocess.run([str(path), "-c", _QUERY_SCRIPT], capture_output=True,
                              text=True, timeout=QUERY_TIMEOUT_S, env=env,
                              stdin=subprocess.DEVNULL)
        if proc.returncode == 0:
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            result = Interpreter(path, str(data["version"]), str(data["implementation"]),
                                 str(data["platform"]))
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        result = None
    _FACTS[cache_key] = result
    if result is not None and cache_root is not None:
        _remember_facts(cache_root, disk_key, result)
    return result


def _facts_file(cache_root: Path) -> Path:
    return cache_root / "interpreters.json"


def _read_facts_file(cache_root: Path) -> dict[str, dict[str, str]]:
    """Facts of interpreters queried before, keyed by path, mtime and size: an upgraded
    or replaced interpreter has another key and is queried again."""
    return read_json_object(_facts_file(cache_root)) or {}


def _remember_facts(cache_root: Path, disk_key: str, interpreter: Interpreter) -> None:
    try:
        facts = _read_facts_file(cache_root)
        facts[disk_key] = {"version": interpreter.version, "platform": interpreter.platform,
                           "implementation": interpreter.implementation}
        # Concurrent writers: the last one wins, nobody reads half a file.
        write_text_atomic(_facts_file(cache_root), json.dumps(facts))
    except OSError:
        pass  # an unwritable cache only costs the next check a query


def parse_request(requested: str) -> Optional[SpecifierSet]:
    """"3.8" -> ==3.8.*, "3.8.18" -> ==3.8.18, ">=3.9" as is, "python3.8" -> ==3.8.*.

    None when the text is not a version request (it may still be a path).
    """
    text = requested.strip()
    text = re.sub(r"^(?:c?python|py)\s*", "", text, flags=re.IGNORECASE)
    if not text:
        return None
    if text[0].isdigit():
        if text.endswith(".*"):
            return parse_request(text[:-2])
        try:
            version = Version(text)
        except InvalidVersion:
            return None
        if len(version.release) <= 2 and not text.endswith(".*"):
            return SpecifierSet(f"=={text}.*")
        return SpecifierSet(f"=={text}")
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def _matches(interp: Interpreter, spec: SpecifierSet) -> bool:
    try:
        return Version(interp.version) in spec
    except InvalidVersion:
        return False


def _names_for(spec: SpecifierSet) -> list[str]:
    """Executable names worth looking for on PATH for a request."""
    names: list[str] = []
    for s in spec:
        m = re.match(r"(\d+)\.(\d+)", s.version)
        if s.operator in ("==", "~=", "===") and m:
            names.append(f"python{m.group(1)}.{m.group(2)}")
    names += ["python3", "python"]
    return list(dict.fromkeys(names))


def _path_candidates(spec: SpecifierSet, generic: bool = False) -> Iterator[Path]:
    # Every PATH entry, not only shutil.which's first hit: the first may be a failing shim.
    # pyenv's own shims are skipped: running one costs ~0.3s and fails unless its version
    # is active, and the versions behind them are searched directly below anyway.
    shims = pyenv_root() / "shims"
    names = _names_for(spec)
    names = [n for n in names if (n in ("python3", "python")) == generic]
    for name in names:
        for entry in os.environ.get("PATH", "").split(os.pathsep):
            if not entry or Path(entry) == shims:
                continue
            candidate = Path(entry) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                yield candidate


def pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _pyenv_candidates(spec: SpecifierSet) -> Iterator[Path]:
    versions = pyenv_root() / "versions"
    if not versions.is_dir():
        return
    entries: list[tuple[Version, Path]] = []
    for d in versions.iterdir():
        try:
            v = Version(d.name)
        except InvalidVersion:
            continue  # a pyenv-virtualenv or "pypy3.9-7.3": skip, names say nothing reliable
        if v in spec:
            entries.append((v, d))
    # Newest patch first: "3.8" means the best 3.8 there is.
    for v, d in sorted(entries, reverse=True):
        for name in (f"python{v.major}.{v.minor}", f"python{v.major}", "python"):
            exe = d / "bin" / name
            if exe.is_file():
                yield exe
                break


def _uv_candidate(requested: str) -> Iterator[Path]:
    uv = find_uv()
    if uv is None:
        return
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    try:
        proc = subprocess.run([uv, "python", "find", "--no-python-downloads", "--system",
                               requested], capture_output=True, text=True,
                              timeout=QUERY_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return
    if proc.returncode == 0 and proc.stdout.strip():
        yield Path(proc.stdout.strip().splitlines()[-1])


def find_uv() -> Optional[str]:
    """uv's binary: from the ``uv`` Python package when installed, else PATH."""
    try:
        import uv

        path = uv.find_uv_bin()
        if path and os.path.exists(path):
            return str(path)
    except Exception:  # noqa: BLE001 - not installed, or a broken install: fall back to PATH
        pass
    return shutil.which("uv")


def find_interpreter(requested: Optional[str], cache_root: Optional[Path] = None,
                     allow_path: bool = True) -> Optional[Interpreter]:
    """The interpreter for ``requested`` ("3.8", "3.8.18", ">=3.9" or a path); None if none.

    The running interpreter wins when it satisfies the request (no subprocess needed).
    A path is honoured only with ``allow_path`` (the user's ``--python``): a version
    string from the package's own files is resolved against PATH, pyenv and uv, and a
    path found there is never executed.
    """
    if requested is None or not str(requested).strip():
        return current_interpreter()
    requested = str(requested).strip()
    spec = parse_request(requested)
    if spec is None:
        # Not a version: maybe a path to an interpreter.
        candidate = Path(requested).expanduser()
        if allow_path and (os.sep in requested or candidate.exists()):
            return query_interpreter(candidate, cache_root) if candidate.is_file() else None
        return None
    here = current_interpreter()
    if _matches(here, spec):
        return here
    seen: set[str] = set()
    # Versioned names on PATH, pyenv's versions, then bare python3/python, then uv.
    for source in (_path_candidates(spec), _pyenv_candidates(spec),
                   _path_candidates(spec, generic=True), _uv_candidate(requested)):
        for candidate in source:
            if str(candidate) in seen:
                continue
            seen.add(str(candidate))
            interp = query_interpreter(candidate, cache_root)
            if interp is not None and _matches(interp, spec):
                return interp
    return None


def _read_reference_python(pkg: ModelPackage) -> tuple[Optional[str], Optional[Finding]]:
    path = pkg.reference_dir / "environment.json"
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, warning(f"{pkg.relative(path)} is not readable JSON ({exc}); "
                             "its Python version was not used", file=pkg.relative(path))
    value = data.get("python") if isinstance(data, dict) else None
    if not value:
        return None, None
    # The patch version on the recording machine is an accident; the minor is what matters.
    parts = str(value).split(".")
    return ".".join(parts[:2]), None


def _read_python_version_file(pkg: ModelPackage) -> Optional[str]:
    path = pkg.root / ".python-version"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            return line
    return None


def requested_python(pkg: ModelPackage, override: Optional[str] = None
                     ) -> tuple[Optional[str], str, Optional[str], list[Finding]]:
    """(what is asked for, by which source, in which file, findings): ``--python``, else
    metadata's ``python_version``, else reference/environment.json, else .python-version.
    The one resolver: ``check``, ``record`` and ``lock`` all ask it."""
    findings: list[Finding] = []
    if override:
        return override, "--python", None, findings
    if pkg.python_version:
        declared_in = pkg.python_version_file or pkg.relative(pkg.metadata_path)
        file = pkg.relative(pkg.metadata_path)
        if isinstance(pkg.metadata.get("python_version"), float):
            # YAML reads `python_version: 3.10` as the number 3.1.
            findings.append(warning(
                f"python_version is the YAML number {pkg.metadata['python_version']!r}; "
                'quote it (python_version: "3.10") so 3.10 does not read as 3.1',
                file=file))
        return pkg.python_version, f"{pkg.python_version_key} in {declared_in}", file, findings
    ref, problem = _read_reference_python(pkg)
    if problem is not None:
        findings.append(problem)
    if ref:
        return ref, "python in reference/environment.json", "reference/environment.json", \
            findings
    pv = _read_python_version_file(pkg)
    if pv:
        return pv, ".python-version", ".python-version", findings
    return None, "", None, findings


def select_interpreter(pkg: ModelPackage, override: Optional[str] = None,
                       cache_root: Optional[Path] = None) -> tuple[Interpreter, CheckResult]:
    """Choose the package's interpreter; the result says which source chose it."""
    with Stopwatch() as sw:
        requested, source, file, findings = requested_python(pkg, override)
        running = current_interpreter()
        if requested is None:
            chosen = running
            findings.append(info(f"Python {chosen.version} ({chosen.path}): the running "
                                 "interpreter; the package asks for no version",
                                 details=_details(chosen, None, "running interpreter")))
        else:
            found = find_interpreter(requested, cache_root, allow_path=source == "--python")
            if found is not None:
                chosen = found
                findings.append(info(f"Python {chosen.version} ({chosen.path}) chosen by "
                                     f"{source} ({requested!r})", file=file,
                                     details=_details(chosen, requested, source)))
            else:
                chosen = running
                why = _why_not_found(requested, source)
                findings.append(warning(
                    f"Python {requested} asked by {source} {why} (looked on PATH, in "
                    f"{pyenv_root() / 'versions'} and with uv); using Python "
                    f"{chosen.version} ({chosen.path}) instead", file=file,
                    details=_details(chosen, requested, source)))
    return chosen, CheckResult.from_findings(CHECK_ID, findings, sw.elapsed)


def _why_not_found(requested: str, source: str) -> str:
    if parse_request(requested) is not None:
        return "was not found"
    if source != "--python" and (os.sep in requested or requested.startswith(".")):
        # A path in the package's own files would make envcheck execute a file of the
        # package's choosing, outside any sandbox.
        return ("is a path, not a version: envcheck never runs an interpreter the package "
                "points to; name a version (python_version: \"3.11\")")
    return "is not a Python version" if os.sep not in requested else "was not found"


def _details(chosen: Interpreter, requested: Optional[str], source: str) -> dict[str, object]:
    return {"requested": requested, "source": source, "python": chosen.version,
            "path": str(chosen.path), "implementation": chosen.implementation,
            "platform": chosen.platform}
