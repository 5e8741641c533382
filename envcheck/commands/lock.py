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
from typing import Optional, Sequence

from packaging.version import InvalidVersion, Version

from envcheck.env.interpreters import find_interpreter, requested_python
from envcheck.launch.environment import installer_environment
from envcheck.model import checks
from envcheck.model.errors import FatalError
from envcheck.model.options import Options, default_cache_dir
from envcheck.model.package import METADATA_FILE
from envcheck.read.formats import read_package
from envcheck.read.lockfile import parse_lock

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
    """The interpreter the package asks for (``--python`` wins), chosen as ``check``
    chooses it (the one resolver, env.interpreters.requested_python)."""
    pkg, results = read_package(root, Options())
    if pkg is None or (python is None and pkg.metadata_path.is_file() and not pkg.metadata):
        # Nothing of metadata.yaml could be read: its python_version is unknown.
        schema = next((r for r in results if r.id == checks.METADATA_SCHEMA.id), None)
        why = schema.headline if schema is not None else "not a model package"
        raise FatalError(f"{root / METADATA_FILE} is not readable YAML ({why}); fix it or "
                         "pass --python VERSION")
    requested, source, _file, _findings = requested_python(pkg, python)
    found = find_interpreter(requested, allow_path=source == "--python")
    if found is None:
        raise FatalError(f"Python {requested} (asked by {source}) was not found on PATH, "
                         "under pyenv or by uv; install it or pass --python VERSION")
    return _Target(Path(found.path), str(found.version))


def _clean_env(**extra: str) -> dict[str, str]:
    """pip-tools is an installer: it gets the installer's allowlist, never envcheck's
    environment (pip-compile may build an sdist to learn its dependencies)."""
    return {**installer_environment(), **extra}


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - envcheck targets POSIX CI first
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def tools_dir() -> Path:
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
