"""``envcheck lock PKG``: pin requirements.txt fully, with hashes, for the package's Python.

pip-compile resolves for the interpreter that *runs* it (markers, ``Requires-Python``
and wheel tags are evaluated there), so a lock for a Python 3.8 package must be compiled
by a Python 3.8.  We keep one small virtualenv with pip-tools per interpreter version
under ``<cache>/tools/piptools-<version>`` and run ``python -m piptools compile`` there.

What the lock contains, and why:

* ``--generate-hashes``: every pin carries the sha256 of every file PyPI serves for it,
  so an install with the lock fails on a swapped or tampered artifact.
* ``--allow-unsafe``: setuptools/pip are pinned too when something depends on them;
  without them an install with hashes fails ("hashes are required for setuptools").
* ``--no-emit-index-url --no-emit-find-links --no-emit-trusted-host``: the lock says
  *what* to install, not *where from*.  The index options in effect come from the machine
  that ran the lock (pip.conf, ``PIP_INDEX_URL``), may carry credentials, and name local
  paths; the hashes already guarantee the bytes wherever they come from.
* ``--strip-extras`` (when the pip-tools version has it): extras are already expanded
  into pins, and without them the lock also works as a ``-c`` constraints file.
* The header keeps pip-compile's note, but its command line is ``envcheck lock ...``
  (``CUSTOM_COMPILE_COMMAND``), so it never shows the temporary paths used here.
* ``--force`` re-resolves from scratch: the old lock is not used as a starting point.

Also here: a tiny reader for such locks and :func:`lock_disagreements`, the comparison
``check`` uses when a package has both requirements.txt and requirements.lock.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envcheck.error_handler import FatalError
from envcheck.findings import Finding, warning

LOCK_NAME = "requirements.lock"
REQUIREMENTS_NAME = "requirements.txt"
TOOLS_FORMAT = 1  # bump to rebuild every cached pip-tools venv
COMPILE_TIMEOUT_S = 1800.0
INSTALL_TIMEOUT_S = 600.0
_MARKER = ".envcheck-complete"


# --------------------------------------------------------------------------- locking

def lock_package(package: Path, output: Optional[Path] = None, force: bool = False,
                 python: Optional[str] = None) -> str:
    """Write a fully pinned, hashed lock of ``package``'s requirements.txt.

    Returns a one-line summary; raises :class:`FatalError` (one line) on any failure.
    Nothing but the lock file is written into the package.
    """
    started = time.monotonic()
    root = Path(package).expanduser()
    if not root.is_dir():
        raise FatalError(f"{package}: not a directory (envcheck lock takes a model package)")
    requirements = root / REQUIREMENTS_NAME
    if not requirements.is_file():
        raise FatalError(f"{requirements}: no such file; envcheck lock pins a package's "
                         f"{REQUIREMENTS_NAME}")
    target = Path(output).expanduser() if output is not None else root / LOCK_NAME
    _refuse_existing(target, force)

    interpreter = _interpreter_for(root, python)
    tool_python, piptools_version = ensure_piptools(interpreter.path, interpreter.version)

    text = _compile(tool_python, piptools_version, root, _header_command(package, python))
    pins = parse_lock(text)
    _write_atomically(target, text, force)
    elapsed = time.monotonic() - started
    return (f"wrote {target}: {len(pins)} pins with hashes for Python {interpreter.version} "
            f"(pip-tools {piptools_version}, {elapsed:.1f}s)")


def _refuse_existing(target: Path, force: bool) -> None:
    if target.is_dir():
        raise FatalError(f"{target} is a directory; pass a file to --output")
    if target.exists() and not force:
        raise FatalError(f"{target} already exists; pass --force to overwrite it")


def _header_command(package: Path, python: Optional[str]) -> str:
    """The command shown in the lock's header: how to regenerate it, with no temp paths.

    An absolute package path says nothing on another machine, so it becomes ``.`` (run
    from inside the package)."""
    shown = str(package)
    if Path(shown).is_absolute():
        shown = "."
    parts = ["envcheck", "lock", "--force"]
    if python:
        parts += ["--python", python]
    parts.append(shown)
    return " ".join(parts)


@dataclass(frozen=True)
class _Target:
    path: Path
    version: str


def _interpreter_for(root: Path, python: Optional[str]) -> _Target:
    """The interpreter the package asks for (``--python`` wins), as ``check`` chooses it."""
    requested = python
    source = "--python"
    if requested is None:
        requested, source = _requested_python(root)
    from envcheck.interpreters import find_interpreter

    found = find_interpreter(requested)
    if found is None:
        raise FatalError(f"Python {requested} (asked by {source}) was not found on PATH, "
                         "under pyenv or by uv; install it or pass --python VERSION")
    return _Target(Path(found.path), str(found.version))


def _requested_python(root: Path) -> tuple[Optional[str], str]:
    """What the package asks for, in check's order (env.python): ``python_version`` in
    metadata.yaml, ``python`` in reference/environment.json, ``.python-version``."""
    metadata = root / "metadata.yaml"
    if metadata.is_file():
        import yaml

        try:
            data = yaml.safe_load(metadata.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FatalError(f"{metadata} is not readable YAML ({first}); fix it or pass "
                             "--python VERSION") from exc
        if isinstance(data, dict) and data.get("python_version") is not None:
            return str(data["python_version"]), f"python_version in {metadata}"
    environment = root / "reference" / "environment.json"
    if environment.is_file():
        import json

        try:
            recorded = json.loads(environment.read_text(encoding="utf-8")).get("python")
        except (OSError, ValueError, AttributeError):
            recorded = None  # check reports an unreadable reference; here it just says nothing
        if recorded:
            # The recording machine's patch version is an accident; the minor is what matters.
            return ".".join(str(recorded).split(".")[:2]), str(environment)
    version_file = root / ".python-version"
    if version_file.is_file():
        for line in version_file.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                return line, str(version_file)
    return None, ""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - envcheck targets POSIX CI first
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def tools_dir() -> Path:
    from envcheck.options import default_cache_dir

    return default_cache_dir() / "tools"


def ensure_piptools(interpreter: Path, version: str) -> tuple[Path, str]:
    """A cached venv of ``interpreter`` with pip-tools; returns (its python, pip-tools version).

    The venv is complete only once its marker exists (written last, by ``os.replace``);
    a half-built one is removed and rebuilt.  A file lock serialises concurrent builds.
    """
    from filelock import FileLock

    base = tools_dir()
    base.mkdir(parents=True, exist_ok=True)
    venv = base / f"piptools-{version}"
    marker = venv / _MARKER
    with FileLock(str(base / f"piptools-{version}.lock")):
        if marker.is_file():
            recorded = marker.read_text(encoding="utf-8").split()
            if (len(recorded) == 2 and recorded[0] == str(TOOLS_FORMAT)
                    and _venv_python(venv).exists()):
                return _venv_python(venv), recorded[1]
        if venv.exists():
            shutil.rmtree(venv)
        _create_venv(interpreter, venv)
        py = _venv_python(venv)
        _run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "pip-tools"], f"installing pip-tools for Python {version}", INSTALL_TIMEOUT_S)
        shown = _run([str(py), "-m", "pip", "show", "--disable-pip-version-check",
                      "pip-tools"], f"asking pip for pip-tools' version (Python {version})", 60.0)
        found = re.search(r"^Version:\s*(\S+)", shown, re.MULTILINE)
        piptools_version = found.group(1) if found else "unknown"
        tmp = venv / f"{_MARKER}.tmp"
        tmp.write_text(f"{TOOLS_FORMAT} {piptools_version}\n", encoding="utf-8")
        os.replace(tmp, marker)
        return py, piptools_version


def _create_venv(interpreter: Path, venv: Path) -> None:
    """``python -m venv`` of the target (with pip); virtualenv when the stdlib one is absent
    (Debian's python3 without python3-venv)."""
    try:
        _run([str(interpreter), "-m", "venv", str(venv)],
             f"creating a venv with {interpreter}", INSTALL_TIMEOUT_S)
        return
    except FatalError as first:
        shutil.rmtree(venv, ignore_errors=True)
        try:
            _run([sys.executable, "-m", "virtualenv", "--quiet", "-p", str(interpreter),
                  str(venv)], f"creating a virtualenv with {interpreter}", INSTALL_TIMEOUT_S)
        except FatalError:
            shutil.rmtree(venv, ignore_errors=True)
            raise first


def _run(cmd: Sequence[str], doing: str, timeout: float, cwd: Optional[Path] = None,
         env: Optional[dict[str, str]] = None) -> str:
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                              cwd=str(cwd) if cwd else None, env=env or _clean_env(),
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise FatalError(f"{doing}: timed out after {timeout:.0f}s") from exc
    except OSError as exc:
        raise FatalError(f"{doing}: {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        raise FatalError(f"{doing} failed (exit {proc.returncode}): {_last_error(proc.stderr)}")
    return proc.stdout


def _last_error(stderr: str) -> str:
    """The line of a tool's stderr that says what went wrong, on one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    # pip's "Location ... is ignored" and similar are noise, not the cause.
    useful = [line for line in lines if not line.startswith("WARNING:")]
    for line in useful:
        low = line.lower()
        if "error" in low or "could not" in low or "no matching" in low or "conflict" in low:
            return line
    return (useful or lines or ["no output"])[-1]


def _compile(tool_python: Path, piptools_version: str, root: Path, header: str) -> str:
    """Run pip-compile on root/requirements.txt into a temp dir; return the lock's text.

    pip-compile runs *in* the package directory so that its annotations say
    ``# via -r requirements.txt`` (relative ``-r``/``-c`` includes resolve as pip does), but
    its output goes to a temp dir outside the package.
    """
    flags = ["--generate-hashes", "--allow-unsafe", "--no-emit-index-url",
             "--no-emit-find-links", "--no-emit-trusted-host", "--quiet"]
    if _supports_strip_extras(piptools_version):
        flags.append("--strip-extras")
    with tempfile.TemporaryDirectory(prefix="envcheck-lock-") as tmp:
        out = Path(tmp) / LOCK_NAME
        cmd = [str(tool_python), "-m", "piptools", "compile", *flags,
               "--output-file", str(out), REQUIREMENTS_NAME]
        env = _clean_env(CUSTOM_COMPILE_COMMAND=header)
        _run(cmd, f"pip-compile of {root / REQUIREMENTS_NAME}", COMPILE_TIMEOUT_S,
             cwd=root, env=env)
        try:
            text = out.read_text(encoding="utf-8")
        except OSError as exc:
            raise FatalError(f"pip-compile wrote no lock for {root / REQUIREMENTS_NAME}") from exc
    # Belt and braces: no temp path may survive into a committed file.
    return text.replace(str(out), LOCK_NAME).replace(tmp, ".")


def _supports_strip_extras(piptools_version: str) -> bool:
    try:
        return Version(piptools_version) >= Version("6.11")
    except InvalidVersion:
        return False


def _write_atomically(target: Path, text: str, force: bool) -> None:
    """Temp file in the target's directory, then ``os.replace`` (``--force``) or a hard
    link, which fails if someone created the target meanwhile: never a silent overwrite."""
    directory = target.parent if str(target.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise FatalError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp creates 0600; a lock is a normal file to commit and share: 0666 - umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError as exc:
                raise FatalError(f"{target} already exists; pass --force to overwrite it") from exc
            except OSError:  # a filesystem without hard links: check-then-replace
                if target.exists():
                    raise FatalError(f"{target} already exists; pass --force to overwrite it")
                os.replace(tmp, target)
    except OSError as exc:
        raise FatalError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- reading locks

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


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Lines with ``\\`` continuations joined and comments dropped, with their first line."""
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        # A comment starts at '#' at the line start or after whitespace (pip's rule).
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            buffer.append(line[:-1])
            continue
        buffer.append(line)
        joined = " ".join(part.strip() for part in buffer).strip()
        buffer = []
        if joined:
            yield start, joined
    if buffer:
        joined = " ".join(part.strip() for part in buffer).strip()
        if joined:
            yield start, joined


def parse_lock(text: str) -> dict[str, LockPin]:
    """Pins of a pip-compile lock: canonical name -> :class:`LockPin`.

    Option lines (``--index-url``...) are skipped; a line that is not ``name==version``
    (an unpinned or URL requirement) is skipped too -- it pins nothing to compare.
    """
    pins: dict[str, LockPin] = {}
    for number, line in _logical_lines(text):
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

def lock_disagreements(requirements: Sequence[Sequence[Any]], lock_pins: dict[str, str],
                       requirements_file: str = REQUIREMENTS_NAME,
                       lock_file: str = LOCK_NAME,
                       python_version: Optional[str] = None) -> list[Finding]:
    """Where requirements.txt and its lock disagree: one warning per direct requirement.

    ``requirements``: ``(name, SpecifierSet, line)`` per direct requirement of
    requirements.txt, optionally with a 4th item, its marker (``Marker``, text or None).
    ``lock_pins``: ``{name: version}`` (names are canonicalized here).  A requirement whose
    marker does not hold for ``python_version`` (the lock's Python) may be missing.

    Findings point at requirements.txt and the line (``file``/``line``, shown as the
    ``requirements.txt:2:`` prefix); the message names the lock.
    """
    pins = {canonicalize_name(name): version for name, version in lock_pins.items()}
    findings: list[Finding] = []
    fix = "regenerate it with 'envcheck lock --force'"
    for item in requirements:
        name, specifier, line = item[0], item[1], item[2]
        marker = item[3] if len(item) > 3 else None
        canonical = canonicalize_name(str(name))
        spec = specifier if isinstance(specifier, SpecifierSet) else SpecifierSet(str(specifier or ""))
        wanted = f"{name}{spec}" if str(spec) else str(name)
        details = {"requirement": wanted, "lock_file": lock_file, "package": canonical}
        locked = pins.get(canonical)
        if locked is None:
            if marker is not None and not _marker_holds(marker, python_version):
                continue
            findings.append(warning(
                f"{wanted} is not pinned in {lock_file}: the lock was made from another "
                f"{requirements_file}; {fix}",
                file=requirements_file, line=line, details=dict(details, locked=None)))
            continue
        if not _satisfies(spec, locked):
            findings.append(warning(
                f"{wanted} disagrees with {lock_file}, which pins {canonical}=={locked}: "
                f"the lock is stale; {fix}",
                file=requirements_file, line=line, details=dict(details, locked=locked)))
    return findings


def _satisfies(spec: SpecifierSet, version: str) -> bool:
    if not str(spec):
        return True
    try:
        # A pre-release pinned in the lock was allowed by whoever locked it.
        return spec.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return spec.contains(version, prereleases=True)


def _marker_holds(marker: Any, python_version: Optional[str]) -> bool:
    if python_version is None:
        return True  # cannot tell: assume it applies
    try:
        parsed = marker if isinstance(marker, Marker) else Marker(str(marker))
        return parsed.evaluate({"python_version": python_version,
                                "python_full_version": f"{python_version}.0"})
    except Exception:  # noqa: BLE001 - an undefined variable: assume it applies
        return True


def lock_findings(requirements: Iterable[Any], lock_path: Path,
                  requirements_file: str = REQUIREMENTS_NAME,
                  lock_file: Optional[str] = None) -> list[Finding]:
    """:func:`lock_disagreements` for parsed requirements (``envcheck.requirements``'
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
    pins = {name: pin.version for name, pin in parse_lock(text).items()}
    return lock_disagreements(items, pins, requirements_file, shown, lock_python(text))
