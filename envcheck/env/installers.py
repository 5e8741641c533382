"""The installers (uv, pip), how they are run, and what their failures mean.

Every installer command gets :func:`~envcheck.launch.environment.installer_environment`,
an allowlist; and, unless the
user passes ``--allow-build``, installs wheels only: a requirement that exists only as
an sdist would run its build backend -- code from the package's world -- during the build.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from packaging.utils import canonicalize_name

from envcheck.env.interpreters import Interpreter, find_uv
from envcheck.model.errors import EnvcheckError
from envcheck.model.options import INSTALLERS

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Installer:
    name: str  # "uv" | "pip"
    version: str
    uv: Optional[str] = None  # uv's binary when name == "uv"


class InstallerUnavailable(EnvcheckError):
    pass


_VERSION_CACHE: dict[str, str] = {}


def _uv_version(uv: str) -> str:
    if uv not in _VERSION_CACHE:
        proc = subprocess.run([uv, "--version"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        parts = proc.stdout.split()
        _VERSION_CACHE[uv] = parts[1] if len(parts) > 1 else proc.stdout.strip()
    return _VERSION_CACHE[uv]


def seed_wheels(interpreter: Interpreter) -> list[Path]:
    """The wheels virtualenv seeds an env of this Python with (pip, setuptools...), as
    files of its own package; [] when it ships none for this Python."""
    try:
        from virtualenv.seed.wheels.embed import BUNDLE_SUPPORT, get_embed_wheel

        names = sorted(BUNDLE_SUPPORT.get(interpreter.major_minor) or {})
        wheels = [get_embed_wheel(name, interpreter.major_minor) for name in names]
    except Exception:  # noqa: BLE001 - virtualenv internals: treat as "no wheels"
        return []
    paths = [Path(wheel.path) for wheel in wheels if wheel is not None]
    if len(paths) != len(names) or not all(path.is_file() for path in paths):
        return []
    return paths


def seed_command(tool: Installer, python: Path, wheels: list[Path]) -> list[str]:
    """uv installing virtualenv's seed wheels into a ``--no-seed`` env: the same pip and
    setuptools, hard-linked from uv's cache instead of ~2,000 files copied one by one
    from virtualenv's (0.4 to 0.9 s a build, measured here, against about 30 ms).
    Local files, no dependencies: nothing is resolved or downloaded."""
    assert tool.uv is not None
    return [tool.uv, "pip", "install", "--python", str(python), "--no-progress",
            "--no-deps", "--offline", *map(str, wheels)]


def _embedded_pip(interpreter: Interpreter) -> Optional[str]:
    """The pip virtualenv seeds for this Python; None when it ships none for it."""
    try:
        from virtualenv.seed.wheels.embed import get_embed_wheel

        wheel = get_embed_wheel("pip", interpreter.major_minor)
    except Exception:  # noqa: BLE001 - virtualenv internals: treat as "no wheel"
        return None
    return str(wheel.version) if wheel is not None else None


def _ensurepip_version(interpreter: Interpreter) -> str:
    cache_key = f"ensurepip:{interpreter.path}"
    if cache_key not in _VERSION_CACHE:
        proc = subprocess.run([str(interpreter.path), "-c",
                               "import ensurepip; print(ensurepip.version())"],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        _VERSION_CACHE[cache_key] = proc.stdout.strip() if proc.returncode == 0 else "none"
    return _VERSION_CACHE[cache_key]


def resolve_installer(requested: str, interpreter: Interpreter) -> Installer:
    """auto: uv when available (Python package ``uv`` or PATH), pip otherwise."""
    if requested not in INSTALLERS:
        raise InstallerUnavailable(f"unknown installer {requested!r} "
                                   f"(expected one of {', '.join(INSTALLERS)})")
    if requested in ("auto", "uv"):
        uv = find_uv()
        if uv is not None:
            try:
                return Installer("uv", _uv_version(uv), uv)
            except (OSError, subprocess.SubprocessError) as exc:
                if requested == "uv":
                    raise InstallerUnavailable(f"uv at {uv} does not run: {exc}") from exc
        elif requested == "uv":
            raise InstallerUnavailable("--installer uv was asked for but uv is not installed "
                                       "(pip install uv, or use --installer pip)")
    version = _embedded_pip(interpreter) or f"ensurepip-{_ensurepip_version(interpreter)}"
    return Installer("pip", version)


def env_python(venv: Path) -> Path:
    if sys.platform == "win32":  # pragma: no cover
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


_REQ_PATTERNS = [
    r"satisfies the requirement (\S+)",
    r"No matching distribution found for (\S+)",
    r"there is no version of (\S+?)(?:\s+and\b|,|$)",
    r"Because (\S+) was not found in the package registry",
    r"Failed to (?:build|download|download and build|install|prepare)[^`]*`([^`]+)`",
    r"Failed (?:building wheel for|to build) (\S+)",
    r"Cannot install (\S+?)(?:,| and| because)",
    r"you require (\S+?)(?:,|$|\s+and\b)",
]
_DIAGNOSTIC = re.compile(
    r"^\s{0,2}(?:error|ERROR|cause|Caused by|hint|help|×|╰─[>▶]|Because|Failed|Cannot|"
    r"The conflict|ResolutionImpossible)")


def _req_name(text: str) -> str:
    return canonicalize_name(re.split(r"[\s<>=!~;\[@(]", text.strip("`'\",."), maxsplit=1)[0])


_DISK_FULL = re.compile(r"No space left on device|os error 28|Disk quota exceeded", re.I)


def summarize_install_failure(output: str, requirements: Sequence[str]
                              ) -> tuple[Optional[str], str]:
    """(the requirement that failed, the installer's explanation in <= ~10 lines)."""
    text = _ANSI.sub("", output)
    lines = [ln.rstrip() for ln in text.splitlines()]
    by_name = {_req_name(r): r.split(" --hash")[0] for r in requirements}
    failed: Optional[str] = None
    for pattern in _REQ_PATTERNS:
        for m in re.finditer(pattern, text, flags=re.MULTILINE):
            name = _req_name(m.group(1))
            if name in by_name:
                failed = by_name[name]
                break
            if failed is None and name:
                failed = m.group(1).strip("`'\",.")
        if failed is not None and _req_name(failed) in by_name:
            break
    diagnostic = [ln.strip() for ln in lines if _DIAGNOSTIC.match(ln)]
    chosen = diagnostic or [ln.strip() for ln in lines if ln.strip()]
    chosen = list(dict.fromkeys(chosen))[-10:]
    short = "\n".join(ln if len(ln) <= 300 else ln[:297] + "..." for ln in chosen)
    return failed, short


def install_command(tool: Installer, python: Path, req_file: Path,
                    con_file: Optional[Path], allow_build: bool,
                    compile_later: bool = False) -> list[str]:
    """The command that installs ``req_file`` into the env of ``python``
    (``compile_later``: no bytecode, the bytecode store provides it)."""
    if tool.name == "uv":
        assert tool.uv is not None
        # No --compile-bytecode: uv compiles by running the env's interpreter with site
        # enabled, which runs every .pth file just installed (see compile_files_command).
        cmd = [tool.uv, "pip", "install", "--python", str(python), "--no-progress",
               "-r", str(req_file)]
        if not allow_build:
            cmd.append("--no-build")
    else:
        cmd = [str(python), "-m", "pip", "install", "--no-input",
               "--disable-pip-version-check", "--progress-bar", "off", "-r", str(req_file)]
        if not allow_build:
            cmd.append("--only-binary=:all:")
        if compile_later:
            cmd.append("--no-compile")
    if con_file is not None:
        cmd += ["-c", str(con_file)]
    return cmd


# Run by the env's interpreter under -I -S: the NUL-separated sources in argv[1], as PEP
# 552 unchecked-hash pycs (timestamp pycs before 3.7, which has no others), on every core.
# A source that does not compile (a Python 2 leftover in a wheel, a setuptools newer than
# the interpreter) gets no pyc, as with pip, instead of failing the build.
_COMPILE_FILES = """\
import functools, os, py_compile, sys
with open(sys.argv[1], "rb") as handle:
    files = [os.fsdecode(name) for name in handle.read().split(b"\\0") if name]
modes = getattr(py_compile, "PycInvalidationMode", None)
extra = {"invalidation_mode": modes.UNCHECKED_HASH} if modes else {}
compile_one = functools.partial(py_compile.compile, doraise=False, **extra)
workers = min(os.cpu_count() or 1, max(1, len(files) // 64))
if workers > 1:
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(compile_one, files, chunksize=32))
else:
    list(map(compile_one, files))
"""


def compile_files_command(python: Path, file_list: Path) -> list[str]:
    """Bytecode for the sources listed in ``file_list`` (NUL-separated), compiled by the
    env's interpreter with ``-I -S``: without site, no ``.pth`` file (code any wheel may
    install) runs.  What py_compile does is read sources and write ``.pyc`` files;
    nothing of the package executes."""
    return [str(python), "-I", "-S", "-c", _COMPILE_FILES, str(file_list)]


def check_command(python: Path, installer: str, uv: Optional[str]) -> list[str]:
    """``uv pip check`` (reads metadata itself) or ``pip check`` (runs in the env)."""
    if installer == "uv":
        uv = uv or find_uv()
        if uv:
            return [uv, "pip", "check", "--python", str(python)]
    return [str(python), "-I", "-m", "pip", "check", "--disable-pip-version-check"]


def check_label(installer: str) -> str:
    return "uv pip check" if installer == "uv" else "pip check"
