"""Isolated, cached environments (checks ``env.build``, ``env.consistency``, ``env.drift``).

The cache is content-addressed: the key is the sha256 of everything that decides what an
environment contains (requirements, interpreter facts, installer and its version, the
virtualenv that seeds it, a format version).  Layout under the cache root::

    envs/<key>/meta.json        inputs of the key, packages, last use, who used it
    envs/<key>/build.log        commands run and their output
    envs/<key>/requirements.txt what the installer got (constraints.txt when any)
    envs/<key>/venv/            the virtualenv
    envs/<key>/COMPLETE         written last (os.replace): only then is the env reused
    locks/<key>.lock            build lock (filelock): one builder per key at a time
    locks/<key>.use             shared flock held while a check uses the env (prune waits)
    journal.log                 one line per build / reuse / removal

A directory without its marker is never reused: it is removed and rebuilt.  Lock files
are never deleted -- deleting a lock file others may be waiting on lets two processes
"hold" the same lock on different inodes.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envcheck._files import read_json_object, write_text_atomic
from envcheck.findings import CheckResult, Finding, Stopwatch, error, info, warning
from envcheck.interpreters import Interpreter, find_uv, query_interpreter
from envcheck.package import ModelPackage
from envcheck.progress import Progress

try:  # POSIX: shared/exclusive flock for the "in use" lease.
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lease, prune relies on the build lock
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1
MARKER = "COMPLETE"
META = "meta.json"
LOCK_TIMEOUT_S = 3600.0  # waiting for another process's build of the same key
INSTALLERS = ("auto", "uv", "pip")
# Seeded by virtualenv, not declared by the package: drift ignores them unless pinned.
TOOLING = frozenset({"pip", "setuptools", "wheel", "distribute"})
MAX_USERS = 50

# Lists installed distributions; runs inside the env under Python >= 3.6 (no
# importlib.metadata before 3.8), so it falls back to reading dist-info files.
_PACKAGES_SCRIPT = r"""
import json, os, sys, glob
out = {}
try:
    from importlib import metadata as md
    for d in md.distributions():
        name = d.metadata["Name"]
        if name and name not in out:
            out[name] = d.version
except ImportError:
    for p in sys.path:
        for meta in (glob.glob(os.path.join(p, "*.dist-info", "METADATA"))
                     + glob.glob(os.path.join(p, "*.egg-info", "PKG-INFO"))):
            name = ver = None
            with open(meta, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("Name:"):
                        name = line[5:].strip()
                    elif line.startswith("Version:"):
                        ver = line[8:].strip()
                    elif not line.strip():
                        break
            if name and ver and name not in out:
                out[name] = ver
print(json.dumps(out))
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------- data


@dataclass
class BuiltEnv:
    key: str
    path: Path  # the virtualenv (sys.prefix inside it)
    python: Path  # the env's interpreter: the only thing that runs package code
    interpreter: Interpreter  # the base interpreter it was created from
    installer: str  # "uv" | "pip"
    installer_version: str
    reused: bool
    packages: dict[str, str] = field(default_factory=dict)  # canonical name -> version
    build_s: float = 0.0
    dir: Optional[Path] = None  # envs/<key>/
    consistency: Optional[dict[str, Any]] = None  # pip check output recorded at build
    _lease_fd: Optional[int] = field(default=None, repr=False, compare=False)

    def report_block(self) -> dict[str, Any]:
        """The JSON report's ``environment`` block."""
        return {"python": self.interpreter.version, "key": self.key, "reused": self.reused,
                "installer": self.installer, "packages": dict(sorted(self.packages.items()))}

    def release(self) -> None:
        """Drop the "in use" lease so prune may remove the env (also done at exit)."""
        if self._lease_fd is not None:
            try:
                os.close(self._lease_fd)
            except OSError:
                pass
            self._lease_fd = None

    def __enter__(self) -> "BuiltEnv":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class EnvInfo:
    key: str
    path: Path  # envs/<key>/
    status: str  # "ready" | "incomplete" | "building" | "failed"
    python: Optional[str] = None
    implementation: Optional[str] = None
    installer: Optional[str] = None
    size_bytes: int = 0
    created: Optional[float] = None
    last_used: Optional[float] = None
    users: list[str] = field(default_factory=list)
    packages: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "path": str(self.path), "status": self.status,
                "python": self.python, "installer": self.installer,
                "size_bytes": self.size_bytes, "created": self.created,
                "last_used": self.last_used, "users": self.users}


@dataclass(frozen=True)
class Installer:
    name: str  # "uv" | "pip"
    version: str
    uv: Optional[str] = None  # uv's binary when name == "uv"


class InstallerUnavailable(Exception):
    pass


# --------------------------------------------------------------------------- key


def split_requirements(lines: Sequence[str]) -> tuple[list[str], list[str]]:
    """Normalized requirement lines and constraint lines, each sorted and de-duplicated.

    ``--constraint X`` / ``--constraint=X`` / ``-c X`` lines are constraints.  Hash options
    are kept, sorted within their line: their order never changes what gets installed.
    """
    reqs: set[str] = set()
    cons: set[str] = set()
    for raw in lines:
        line = " ".join(str(raw).split())
        if not line or line.startswith("#"):
            continue
        target = reqs
        m = re.match(r"^(?:--constraint[ =]|-c\s*:?\s*)(.*)$", line)
        if m:
            target, line = cons, m.group(1).strip()
            if not line:
                continue
        tokens = line.split(" ")
        hashes = sorted(t for t in tokens if t.startswith("--hash"))
        rest = [t for t in tokens if not t.startswith("--hash")]
        target.add(" ".join(rest + hashes))
    return sorted(reqs), sorted(cons)


def key_inputs(requirements: Sequence[str], constraints: Sequence[str],
               interpreter: Interpreter, installer: Installer) -> dict[str, Any]:
    from importlib.metadata import version

    # The version from metadata, not `import virtualenv`: a warm check should not pay
    # ~60 ms to import the env creator it will not use.
    return {"format": FORMAT_VERSION, "requirements": list(requirements),
            "constraints": list(constraints), "implementation": interpreter.implementation,
            "python": interpreter.version, "platform": interpreter.platform,
            "installer": installer.name, "installer_version": installer.version,
            "virtualenv": version("virtualenv")}


def compute_key(inputs: dict[str, Any]) -> str:
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- installers

_VERSION_CACHE: dict[str, str] = {}


def _uv_version(uv: str) -> str:
    if uv not in _VERSION_CACHE:
        proc = subprocess.run([uv, "--version"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        parts = proc.stdout.split()
        _VERSION_CACHE[uv] = parts[1] if len(parts) > 1 else proc.stdout.strip()
    return _VERSION_CACHE[uv]


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


def _child_env() -> dict[str, str]:
    """Environment for installers and env interpreters.

    PYTHONDONTWRITEBYTECODE is dropped so installs compile bytecode (an uncompiled env pays
    for it on every import); PYTHONPATH/PYTHONHOME would leak the host into the env.
    """
    drop = {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONHOME", "PIP_USER",
            "VIRTUAL_ENV", "CONDA_PREFIX", "PIP_REQUIRE_VIRTUALENV"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["UV_PYTHON_DOWNLOADS"] = "never"  # never let uv fetch a Python behind our back
    env["NO_COLOR"] = "1"
    return env


def env_python(venv: Path) -> Path:
    if sys.platform == "win32":  # pragma: no cover
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


# --------------------------------------------------------------------------- failure text

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


# --------------------------------------------------------------------------- helpers


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def _dir_size(path: Path) -> int:
    total, seen = 0, set()
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _lock_fd(lock: Any) -> Optional[int]:
    """The flock'ed descriptor inside a held filelock (best effort, internal attribute).

    Installer children inherit it: if envcheck is SIGKILLed mid-install the orphaned
    installer keeps the lock until it exits, so the next check cannot rebuild the directory
    while the orphan is still writing into it.
    """
    fd = getattr(getattr(lock, "_context", None), "lock_file_fd", None)
    return fd if isinstance(fd, int) else None


# --------------------------------------------------------------------------- the cache


class EnvCache:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.envs_dir = self.root / "envs"
        self.locks_dir = self.root / "locks"
        self.trash_dir = self.root / "trash"

    # ---- locks

    def _build_lock(self, key: str) -> Any:
        from filelock import FileLock

        self.locks_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.locks_dir / f"{key}.lock"))

    def _lease(self, key: str, exclusive: bool, blocking: bool) -> Optional[int]:
        """An fd holding a shared ("in use") or exclusive (prune) flock; None if refused."""
        if fcntl is None:  # pragma: no cover
            return -1
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.locks_dir / f"{key}.use", os.O_RDWR | os.O_CREAT, 0o644)
        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if not blocking:
            flags |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flags)
        except OSError:
            os.close(fd)
            return None
        return fd

    def _journal(self, event: str, key: str, **extra: Any) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fields = " ".join(f"{k}={v}" for k, v in extra.items())
        line = (f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {event} {key} pid={os.getpid()} "
                f"{fields}".rstrip() + "\n")
        with open(self.root / "journal.log", "a", encoding="utf-8") as f:
            f.write(line)

    def journal(self) -> list[str]:
        try:
            return (self.root / "journal.log").read_text(encoding="utf-8").splitlines()
        except OSError:
            return []

    # ---- ensure

    def ensure(self, requirement_lines: Sequence[str], interpreter: Interpreter,
               installer: str = "auto", progress: Optional[Progress] = None,
               user: Optional[str] = None) -> tuple[Optional[BuiltEnv], CheckResult]:
        """The env for these requirements and this interpreter: reused or built."""
        from filelock import Timeout

        progress = progress or Progress.disabled()
        findings: list[Finding] = []
        with Stopwatch() as sw:
            try:
                tool = resolve_installer(installer, interpreter)
            except (InstallerUnavailable, OSError, subprocess.SubprocessError) as exc:
                findings.append(error(str(exc), details={"installer": installer}))
                return None, CheckResult.from_findings("env.build", findings, sw.elapsed)
            reqs, cons = split_requirements(requirement_lines)
            inputs = key_inputs(reqs, cons, interpreter, tool)
            key = compute_key(inputs)
            env_dir = self.envs_dir / key
            lock = self._build_lock(key)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                progress.note(f"Waiting for another envcheck building env {key[:12]}...")
                try:
                    lock.acquire(timeout=LOCK_TIMEOUT_S)
                except Timeout:
                    findings.append(error(
                        f"timed out after {LOCK_TIMEOUT_S:.0f}s waiting for another process "
                        f"building env {key[:12]} (lock {self.locks_dir / (key + '.lock')})",
                        details={"key": key}))
                    return None, CheckResult.from_findings("env.build", findings, sw.elapsed)
            env: Optional[BuiltEnv] = None
            try:
                env = self._reuse(env_dir, key, interpreter, tool, user, findings)
                if env is None:
                    env = self._build(env_dir, key, inputs, reqs, cons, interpreter, tool,
                                      user, progress, findings, lock)
                if env is not None:
                    env._lease_fd = self._lease(key, exclusive=False, blocking=True)
            except (OSError, subprocess.SubprocessError) as exc:
                # A full disk, a vanished interpreter...: a finding, never a traceback.
                env = None
                findings.append(error(f"could not build env {key[:12]}: {exc}",
                                      details={"key": key, "path": str(env_dir)}))
            finally:
                lock.release()
        return env, CheckResult.from_findings("env.build", findings, sw.elapsed)

    def _reuse(self, env_dir: Path, key: str, interpreter: Interpreter, tool: Installer,
               user: Optional[str], findings: list[Finding]) -> Optional[BuiltEnv]:
        """The cached env when complete and healthy; else clears the directory."""
        if not env_dir.exists():
            return None
        meta = read_json_object(env_dir / META) if (env_dir / MARKER).is_file() else None
        problem = None
        if not (env_dir / MARKER).is_file():
            problem = "it has no completion marker (an interrupted or failed build)"
        elif meta is None or meta.get("key") != key:
            problem = "its metadata file is missing or unreadable"
        else:
            python = env_python(env_dir / "venv")
            facts = query_interpreter(python)
            if facts is None:
                problem = f"its interpreter {python} no longer runs"
            elif facts.version != meta.get("inputs", {}).get("python"):
                problem = (f"its interpreter now reports Python {facts.version}, "
                           f"not {meta.get('inputs', {}).get('python')}")
        if problem is None and meta is not None:
            meta["last_used"] = time.time()
            if user:
                users = [u for u in meta.get("users", []) if u != user] + [user]
                meta["users"] = users[-MAX_USERS:]
            _write_json_atomic(env_dir / META, meta)
            self._journal("reused", key)
            findings.append(info(
                f"reused env {key[:12]} (Python {interpreter.version}, {tool.name} "
                f"{tool.version}, {len(meta.get('packages', {}))} distributions)",
                details={"key": key, "reused": True, "path": str(env_dir)}))
            return BuiltEnv(key=key, path=env_dir / "venv", python=env_python(env_dir / "venv"),
                            interpreter=interpreter, installer=tool.name,
                            installer_version=tool.version, reused=True,
                            packages=dict(meta.get("packages", {})),
                            build_s=float(meta.get("build_s", 0.0)), dir=env_dir,
                            consistency=meta.get("consistency"))
        findings.append(info(f"cached env {key[:12]} was not reused: {problem}; rebuilding",
                             details={"key": key, "path": str(env_dir)}))
        self._journal("discard", key, reason=problem.split(" ")[0] if problem else "")
        self._remove(env_dir)
        return None

    def _remove(self, env_dir: Path) -> None:
        """Marker first (the env stops counting at once), then move aside and delete."""
        try:
            (env_dir / MARKER).unlink()
        except FileNotFoundError:
            pass
        self.trash_dir.mkdir(parents=True, exist_ok=True)
        aside = self.trash_dir / f"{env_dir.name}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(env_dir, aside)
        except FileNotFoundError:
            return
        except OSError:
            aside = env_dir
        shutil.rmtree(aside, ignore_errors=True)

    def _run(self, cmd: list[str], log: Any, lock: Any, timeout: Optional[float] = None
             ) -> subprocess.CompletedProcess[str]:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        fd = _lock_fd(lock)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(),
                              stdin=subprocess.DEVNULL, timeout=timeout,
                              pass_fds=(fd,) if fd is not None else ())
        log.write(proc.stdout + proc.stderr + f"[exit {proc.returncode}]\n")
        log.flush()
        return proc

    def _build(self, env_dir: Path, key: str, inputs: dict[str, Any], reqs: list[str],
               cons: list[str], interpreter: Interpreter, tool: Installer,
               user: Optional[str], progress: Progress, findings: list[Finding],
               lock: Any) -> Optional[BuiltEnv]:
        start = time.perf_counter()
        env_dir.mkdir(parents=True, exist_ok=True)
        venv = env_dir / "venv"
        python = env_python(venv)
        meta: dict[str, Any] = {"key": key, "format": FORMAT_VERSION, "inputs": inputs,
                                "status": "building", "interpreter": str(interpreter.path),
                                "created": time.time(), "last_used": time.time(),
                                "users": [user] if user else [], "build_pid": os.getpid()}
        _write_json_atomic(env_dir / META, meta)
        req_file = env_dir / "requirements.txt"
        req_file.write_text("".join(r + "\n" for r in reqs), encoding="utf-8")
        con_file = env_dir / "constraints.txt"
        if cons:
            con_file.write_text("".join(c + "\n" for c in cons), encoding="utf-8")
        self._journal("build-start", key, installer=tool.name, python=interpreter.version)
        label = (f"Building env {key[:12]} (Python {interpreter.version}, {tool.name}, "
                 f"{len(reqs)} requirements)" + (f" for {user}" if user else ""))

        def fail(message: str, output: str, **details: Any) -> None:
            meta["status"] = "failed"
            _write_json_atomic(env_dir / META, meta)
            shutil.rmtree(venv, ignore_errors=True)  # keep the log, drop the half env
            self._journal("build-failed", key)
            findings.append(error(message, details={"key": key, "log": str(env_dir /
                                                                          "build.log"),
                                                    **details}))

        with progress.step(label), open(env_dir / "build.log", "a", encoding="utf-8") as log:
            # 1. The virtualenv, seeded offline from virtualenv's embedded wheels.
            seed = _embedded_pip(interpreter) is not None
            cmd = [sys.executable, "-m", "virtualenv", str(venv), "-p", str(interpreter.path),
                   "--no-download", "--no-periodic-update", "--quiet"]
            if not seed:
                cmd.append("--no-seed")  # virtualenv ships no pip for this Python
            proc = self._run(cmd, log, lock)
            if proc.returncode == 0 and not seed:
                # Offline and bundled with the interpreter: what `python -m venv` would do.
                proc = self._run([str(python), "-m", "ensurepip", "--default-pip"], log, lock)
            if proc.returncode != 0:
                _, short = summarize_install_failure(proc.stdout + proc.stderr, [])
                fail(f"could not create a virtualenv with Python {interpreter.version} "
                     f"({interpreter.path}): {short}", proc.stdout + proc.stderr)
                return None

            # 2. The requirements.
            if reqs:
                if tool.name == "uv":
                    assert tool.uv is not None
                    cmd = [tool.uv, "pip", "install", "--python", str(python),
                           "--compile-bytecode", "--no-progress", "-r", str(req_file)]
                else:
                    cmd = [str(python), "-m", "pip", "install", "--no-input",
                           "--disable-pip-version-check", "--progress-bar", "off",
                           "-r", str(req_file)]
                if cons:
                    cmd += ["-c", str(con_file)]
                proc = self._run(cmd, log, lock)
                if proc.returncode != 0:
                    output = proc.stdout + "\n" + proc.stderr
                    failed, short = summarize_install_failure(output, reqs)
                    what = f"could not install {failed}" if failed else "installation failed"
                    if _DISK_FULL.search(output):  # not the requirement's fault: say so
                        failed = None
                        what = (f"the disk holding the environment cache ({self.root}) is "
                                "full (No space left on device): free space or point "
                                "ENVCHECK_CACHE_DIR elsewhere")
                    fail(f"{what} ({tool.name} {tool.version}, Python {interpreter.version}):"
                         f"\n{short}", output, requirement=failed, installer=tool.name,
                         explanation=short)
                    return None

            # 3. What got installed, and whether it hangs together (stored: envs are
            #    immutable once complete, so a reuse never pays for either again).
            proc = self._run([str(python), "-I", "-c", _PACKAGES_SCRIPT], log, lock)
            try:
                raw = json.loads(proc.stdout.strip().splitlines()[-1])
                packages = {canonicalize_name(k): str(v) for k, v in raw.items()}
            except (ValueError, IndexError):
                fail(f"the env's interpreter {python} could not list installed "
                     f"distributions: {(proc.stderr or proc.stdout).strip()[-500:]}",
                     proc.stdout + proc.stderr)
                return None
            meta["consistency"] = self._run_check(python, tool, log, lock)

        build_s = time.perf_counter() - start
        meta.update(status="complete", packages=dict(sorted(packages.items())),
                    build_s=round(build_s, 3), last_used=time.time())
        _write_json_atomic(env_dir / META, meta)
        marker_tmp = env_dir / f".{MARKER}.{uuid.uuid4().hex}.tmp"
        marker_tmp.write_text(json.dumps({"key": key, "completed": time.time()}),
                              encoding="utf-8")
        os.replace(marker_tmp, env_dir / MARKER)  # last: from now on the env may be reused
        self._journal("built", key, seconds=f"{build_s:.1f}")
        findings.append(info(
            f"built env {key[:12]} with {tool.name} {tool.version} for Python "
            f"{interpreter.version} in {build_s:.1f}s ({len(packages)} distributions)",
            details={"key": key, "reused": False, "path": str(env_dir),
                     "build_s": round(build_s, 3)}))
        return BuiltEnv(key=key, path=venv, python=python, interpreter=interpreter,
                        installer=tool.name, installer_version=tool.version, reused=False,
                        packages=dict(sorted(packages.items())), build_s=build_s, dir=env_dir,
                        consistency=meta["consistency"])

    def _run_check(self, python: Path, tool: Installer, log: Any, lock: Any
                   ) -> dict[str, Any]:
        cmd = _check_command(python, tool.name, tool.uv)
        proc = self._run(cmd, log, lock)
        return {"command": _check_label(tool.name), "returncode": proc.returncode,
                "output": (proc.stdout + "\n" + proc.stderr).strip()}

    # ---- list / prune

    def _info(self, env_dir: Path) -> EnvInfo:
        meta = read_json_object(env_dir / META) or {}
        inputs = meta.get("inputs", {})
        if (env_dir / MARKER).is_file():
            status = "ready"
        elif meta.get("status") == "failed":
            status = "failed"
        elif meta.get("status") == "building" and _pid_alive(meta.get("build_pid")):
            status = "building"
        else:
            status = "incomplete"
        return EnvInfo(key=env_dir.name, path=env_dir, status=status,
                       python=inputs.get("python"), implementation=inputs.get("implementation"),
                       installer=inputs.get("installer"), size_bytes=_dir_size(env_dir),
                       created=meta.get("created"), last_used=meta.get("last_used"),
                       users=list(meta.get("users", [])), packages=meta.get("packages", {}))

    # builtins.list: in this class body `list` is this method, not the type.
    def list(self) -> builtins.list[EnvInfo]:
        """Every env directory, most recently used first (read-only; takes no locks)."""
        if not self.envs_dir.is_dir():
            return []
        infos = [self._info(d) for d in self.envs_dir.iterdir() if d.is_dir()]
        return sorted(infos, key=lambda i: i.last_used or 0.0, reverse=True)

    def prune(self, older_than_days: Optional[float] = None, all: bool = False
              ) -> builtins.list[EnvInfo]:
        """Remove envs nobody is building or using right now.

        ``all``: every env; ``older_than_days``: those last used before then; neither:
        only incomplete and failed ones.  An env whose build lock or "in use" lease is held
        is skipped (non-blocking), so a prune is safe while checks run.
        """
        from filelock import Timeout

        removed: list[EnvInfo] = []
        cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
        for env in self.list():
            wanted = (all or env.status != "ready"
                      or (cutoff is not None and (env.last_used or 0.0) < cutoff))
            if not wanted:
                continue
            lock = self._build_lock(env.key)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue  # being built (or reused) right now
            try:
                lease = self._lease(env.key, exclusive=True, blocking=False)
                if lease is None:
                    continue  # a check is using it
                try:
                    self._remove(env.path)
                    self._journal("pruned", env.key)
                    removed.append(env)
                finally:
                    if lease >= 0:
                        os.close(lease)
            finally:
                lock.release()
        shutil.rmtree(self.trash_dir, ignore_errors=True)
        return removed


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _ago(ts: Optional[float], now: float) -> str:
    if not ts:
        return "-"
    s = max(0.0, now - ts)
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= length:
            return f"{s / length:.0f}{unit} ago"
    return "just now"


def render_env_list(infos: Sequence[EnvInfo], now: Optional[float] = None) -> str:
    """``envcheck env list`` as plain text: key, python, size, last used, status, users."""
    now = time.time() if now is None else now
    header = ("KEY", "PYTHON", "INSTALLER", "SIZE", "LAST USED", "STATUS", "USED BY")
    rows = [(i.key[:12], i.python or "?", i.installer or "?", _human_size(i.size_bytes),
             _ago(i.last_used, now), i.status, ", ".join(i.users) or "-") for i in infos]
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header) - 1)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r[:-1], widths)) + "  " + r[-1]
             for r in [header, *rows]]
    total = sum(i.size_bytes for i in infos)
    lines.append(f"{len(infos)} environments, {_human_size(total)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- checks


def _check_command(python: Path, installer: str, uv: Optional[str]) -> list[str]:
    if installer == "uv":
        uv = uv or find_uv()
        if uv:
            return [uv, "pip", "check", "--python", str(python)]
    return [str(python), "-m", "pip", "check", "--disable-pip-version-check"]


def _check_label(installer: str) -> str:
    return "uv pip check" if installer == "uv" else "pip check"


_PIP_PROBLEM = re.compile(r"^(\S+) (\S+) (?:has requirement|requires|is not supported)")
_UV_PROBLEM = re.compile(r"^The package `([^`]+)` (requires|has)")


def check_consistency(env: BuiltEnv, use_cached: bool = True) -> CheckResult:
    """``env.consistency``: broken or conflicting dependencies inside the built env.

    The build records the check's output (a complete env never changes), so a reused env
    costs nothing; ``use_cached=False`` runs it again.
    """
    with Stopwatch() as sw:
        result = env.consistency if use_cached else None
        if result is None:
            cmd = _check_command(env.python, env.installer, None)
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(),
                                      stdin=subprocess.DEVNULL, timeout=300)
            except (OSError, subprocess.SubprocessError) as exc:
                return CheckResult.from_findings("env.consistency", [error(
                    f"could not run {_check_label(env.installer)}: {exc}")], sw.elapsed)
            result = {"command": _check_label(env.installer), "returncode": proc.returncode,
                      "output": (proc.stdout + "\n" + proc.stderr).strip()}
        findings: list[Finding] = []
        output = _ANSI.sub("", str(result.get("output", "")))
        if result.get("returncode") == 0:
            findings.append(info(f"no broken or conflicting dependencies "
                                 f"({result.get('command')})"))
        else:
            for line in output.splitlines():
                line = line.strip()
                m = _PIP_PROBLEM.match(line) or _UV_PROBLEM.match(line)
                if m:
                    findings.append(error(line.rstrip("."), details={
                        "package": canonicalize_name(m.group(1)), "problem": line}))
            if not findings:
                tail = "\n".join(output.splitlines()[-10:])
                findings.append(error(f"{result.get('command')} failed: {tail}"))
    return CheckResult.from_findings("env.consistency", findings, sw.elapsed)


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def check_drift(pkg: ModelPackage, env: BuiltEnv, strict: bool = False) -> CheckResult:
    """``env.drift``: installed versions that differ from reference/environment.json."""
    path = pkg.reference_dir / "environment.json"
    rel = pkg.relative(path)
    if not path.is_file():
        return CheckResult.skipped("env.drift", f"no {rel}: nothing recorded to compare "
                                   "(envcheck record writes it)")
    make = error if strict else warning
    with Stopwatch() as sw:
        findings: list[Finding] = []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            findings.append(make(f"{rel} is not readable JSON: {exc}", file=rel))
            return CheckResult.from_findings("env.drift", findings, sw.elapsed)
        recorded_raw = data.get("packages") or {}
        recorded = {canonicalize_name(str(k)): str(v) for k, v in recorded_raw.items()} \
            if isinstance(recorded_raw, dict) else {}
        built = env.packages
        pinned = set(pkg.pins)
        rows: list[dict[str, Optional[str]]] = []
        rec_python = data.get("python")
        if rec_python and not _same_version(str(rec_python), env.interpreter.version):
            rows.append({"name": "python", "recorded": str(rec_python),
                         "built": env.interpreter.version})
        for name in sorted(recorded):
            if name in TOOLING and name not in pinned:
                continue
            have = built.get(name)
            if have is None or not _same_version(recorded[name], have):
                rows.append({"name": name, "recorded": recorded[name], "built": have})
        for row in rows:
            shown = row["built"] if row["built"] is not None else "not installed"
            findings.append(make(f"{row['name']}: recorded {row['recorded']}, built {shown}",
                                 file=rel, details=dict(row)))
        if not rows:
            findings.append(info(f"{len(recorded)} recorded distributions match the built env",
                                 file=rel))
        extra = sorted(n for n in built if n not in recorded and n not in TOOLING)
        if extra and recorded:
            findings.append(info(f"installed but not recorded in {rel}: {', '.join(extra)}",
                                 file=rel, details={"extra": extra}))
    return CheckResult.from_findings("env.drift", findings, sw.elapsed)
