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
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from envcheck.env.installers import (
    Installer,
    InstallerUnavailable,
    env_python,
    resolve_installer,
)
from envcheck.env.interpreters import Interpreter
from envcheck.env.keys import compute_key, key_inputs, split_requirements
from envcheck.env.layout import (
    LOCK_TIMEOUT_S,
    MARKER,
    META,
    VERIFIER,
    BuiltEnv,
    EnvInfo,
    _interpreter_changed,
    _tampering,
    _write_json_atomic,
    dir_inode,
)
from envcheck.model import checks
from envcheck.model.files import read_json_object
from envcheck.model.findings import CheckResult, Finding, Stopwatch, error, info
from envcheck.model.progress import Progress

if TYPE_CHECKING:  # imported where used: a warm check builds nothing and lists nothing
    from envcheck.env import inventory

try:  # POSIX: shared/exclusive flock for the "in use" lease.
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lease, prune relies on the build lock
    fcntl = None  # type: ignore[assignment]

MAX_USERS = 50


# --------------------------------------------------------------------------- the cache


class EnvCache:
    def __init__(self, root: Union[Path, str], allow_build: bool = False) -> None:
        self.root = Path(root)
        # --allow-build: requirements may be built from sdists (their build backend runs).
        # Part of the key: an env built that way is not the one a wheels-only check gets.
        self.allow_build = allow_build
        self.envs_dir = self.root / "envs"
        self.locks_dir = self.root / "locks"
        self.trash_dir = self.root / "trash"

    # ---- locks

    def _build_lock(self, key: str) -> Any:
        from filelock import FileLock

        self.locks_dir.mkdir(parents=True, exist_ok=True)
        # Not thread-local: a build's last stage (the manifest, the marker) may finish in
        # a thread while the probe runs, and releases the lock there (see _build).
        return FileLock(str(self.locks_dir / f"{key}.lock"), thread_local=False)

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
               user: Optional[str] = None, verify_later: bool = False
               ) -> tuple[Optional[BuiltEnv], CheckResult]:
        """The env for these requirements and this interpreter: reused or built.

        ``verify_later``: a reused env's manifest is compared in the background, and a new
        env's is written in the background (with what its bytecode store entries hold
        compared to it, then its marker); the caller must ask ``env.verified()`` before
        trusting what ran in it, and ``discard()`` it when that names a problem."""
        from filelock import Timeout

        progress = progress or Progress.disabled()
        findings: list[Finding] = []
        with Stopwatch() as sw:
            try:
                tool = resolve_installer(installer, interpreter)
            except (InstallerUnavailable, OSError, subprocess.SubprocessError) as exc:
                findings.append(error(str(exc), details={"installer": installer}))
                return None, checks.ENV_BUILD.result(findings, sw.elapsed)
            reqs, cons = split_requirements(requirement_lines)
            inputs = key_inputs(reqs, cons, interpreter, tool, self.allow_build)
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
                    return None, checks.ENV_BUILD.result(findings, sw.elapsed)
            env: Optional[BuiltEnv] = None
            handed_off = False  # the build's last stage runs on and releases the lock
            try:
                env = self._reuse(env_dir, key, interpreter, tool, user, findings,
                                  verify_later)
                if env is None:
                    from envcheck.env.build import build_env

                    env = build_env(self.root, self.allow_build, self._journal, env_dir,
                                    key, inputs, reqs, cons, interpreter, tool, user,
                                    progress, findings, lock, defer=verify_later)
                    handed_off = env is not None and env._verification is not None
                if env is not None:
                    env._lease_fd = self._lease(key, exclusive=False, blocking=True)
            except (OSError, subprocess.SubprocessError) as exc:
                # A full disk, a vanished interpreter...: a finding, never a traceback.
                env = None
                findings.append(error(f"could not build env {key[:12]}: {exc}",
                                      details={"key": key, "path": str(env_dir)}))
            finally:
                if not handed_off:
                    lock.release()
        return env, checks.ENV_BUILD.result(findings, sw.elapsed)

    def _reuse(self, env_dir: Path, key: str, interpreter: Interpreter, tool: Installer,
               user: Optional[str], findings: list[Finding], verify_later: bool = False
               ) -> Optional[BuiltEnv]:
        """The cached env when complete and healthy; else clears the directory."""
        if not env_dir.exists():
            return None
        meta = read_json_object(env_dir / META) if (env_dir / MARKER).is_file() else None
        problem = None
        if not (env_dir / MARKER).is_file():
            problem = "it has no completion marker (an interrupted or failed build)"
        elif meta is None or meta.get("key") != key:
            problem = "its metadata file is missing or unreadable"
        elif verify_later:  # the manifest is compared while the env is used
            problem = _interpreter_changed(env_dir, meta)
        else:
            # Read, never run: the env's interpreter would execute every .pth file in it.
            problem = _tampering(env_dir, meta)
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
            env = BuiltEnv(key=key, path=env_dir / "venv", python=env_python(env_dir / "venv"),
                           interpreter=interpreter, installer=tool.name,
                           installer_version=tool.version, reused=True,
                           packages=dict(meta.get("packages", {})),
                           build_s=float(meta.get("build_s", 0.0)), dir=env_dir,
                           dir_inode=dir_inode(env_dir),
                           consistency=meta.get("consistency"))
            if verify_later:
                env._verification = VERIFIER.submit(_tampering, env_dir, meta)
            return env
        findings.append(info(f"cached env {key[:12]} was not reused: {problem}; rebuilding",
                             details={"key": key, "path": str(env_dir)}))
        self._journal("discard", key, reason=problem.split(" ")[0] if problem else "")
        self._remove_when_unused(key, env_dir)
        return None

    def discard(self, env: BuiltEnv, problem: str) -> None:
        """Remove an env found changed after it was handed out (see ensure) -- unless
        the directory is another env by now: one a process built after this one was
        found wanting, which may be in use."""
        lock = self._build_lock(env.key)
        with lock:
            if env.dir is None or dir_inode(env.dir) != env.dir_inode:
                return
            self._journal("discard", env.key, reason="changed")
            self._remove_when_unused(env.key, env.dir)

    def _remove_when_unused(self, key: str, env_dir: Path) -> None:
        """``_remove`` once no check holds the env's "in use" lease.  An env without its
        marker may be in use too: a new env's probe runs before its manifest is done.
        (The caller holds the build lock; no check waits for it while holding a lease.)"""
        lease = self._lease(key, exclusive=True, blocking=True)
        try:
            self._remove(env_dir)
        finally:
            if lease is not None and lease >= 0:
                os.close(lease)

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

    # ---- list / prune (envcheck.env.inventory)

    def list(self) -> builtins.list[EnvInfo]:  # `list` here is this method, not the type
        """Every env directory, most recently used first (read-only; takes no locks)."""
        from envcheck.env import inventory

        return inventory.list_envs(self)

    def prune(self, older_than_days: Optional[float] = None, all: bool = False
              ) -> builtins.list[EnvInfo]:
        """Remove envs nobody is building or using right now (see inventory.prune_envs)."""
        from envcheck.env import inventory

        return inventory.prune_envs(self, older_than_days, all)

    def list_bytecode(self) -> builtins.list[inventory.BytecodeInfo]:
        """Every entry of the bytecode store, most recently used first."""
        from envcheck.env import inventory

        return inventory.list_bytecode(self)

    def prune_bytecode(self, older_than_days: Optional[float] = None, all: bool = False
                       ) -> builtins.list[inventory.BytecodeInfo]:
        """Remove store entries no env links (see inventory.prune_bytecode)."""
        from envcheck.env import inventory

        return inventory.prune_bytecode(self, older_than_days, all)
