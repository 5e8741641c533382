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
import concurrent.futures
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from envcheck.env import bytecode, distributions, inventory, manifest
from envcheck.env.creation import create_virtualenv
from envcheck.env.installers import (
    _DISK_FULL,
    Installer,
    InstallerUnavailable,
    _embedded_pip,
    compile_files_command,
    env_python,
    install_command,
    resolve_installer,
    seed_command,
    seed_wheels,
    summarize_install_failure,
)
from envcheck.env.interpreters import Interpreter
from envcheck.env.keys import (
    FORMAT_VERSION,
    compute_key,
    key_inputs,
    split_requirements,
)
from envcheck.env.layout import (
    MANIFEST,
    MARKER,
    META,
    BuiltEnv,
    EnvInfo,
    _interpreter_changed,
    _tampering,
    _write_json_atomic,
)
from envcheck.env.steps import install_sandboxed, run_check, run_logged, run_phased
from envcheck.model import checks
from envcheck.model.files import read_json_object
from envcheck.model.findings import CheckResult, Finding, Stopwatch, error, info
from envcheck.model.progress import Progress, Step

try:  # POSIX: shared/exclusive flock for the "in use" lease.
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lease, prune relies on the build lock
    fcntl = None  # type: ignore[assignment]

LOCK_TIMEOUT_S = 3600.0  # waiting for another process's build of the same key
MAX_USERS = 50
# Compares manifests of reused envs while they are used (one env per check at a time).
_VERIFIER = concurrent.futures.ThreadPoolExecutor(max_workers=2,
                                                  thread_name_prefix="envcheck-verify")


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
                    env = self._build(env_dir, key, inputs, reqs, cons, interpreter, tool,
                                      user, progress, findings, lock, defer=verify_later)
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
                           consistency=meta.get("consistency"))
            if verify_later:
                env._verification = _VERIFIER.submit(_tampering, env_dir, meta)
            return env
        findings.append(info(f"cached env {key[:12]} was not reused: {problem}; rebuilding",
                             details={"key": key, "path": str(env_dir)}))
        self._journal("discard", key, reason=problem.split(" ")[0] if problem else "")
        self._remove(env_dir)
        return None

    def discard(self, env: BuiltEnv, problem: str) -> None:
        """Remove a reused env found changed after it was handed out (see ensure)."""
        lock = self._build_lock(env.key)
        with lock:
            self._journal("discard", env.key, reason="changed")
            if env.dir is not None:
                self._remove(env.dir)

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

    def _build(self, env_dir: Path, key: str, inputs: dict[str, Any], reqs: list[str],
               cons: list[str], interpreter: Interpreter, tool: Installer,
               user: Optional[str], progress: Progress, findings: list[Finding],
               lock: Any, defer: bool = False) -> Optional[BuiltEnv]:
        """Build the env.  Its last stage -- the manifest (every file hashed), the store
        entries its linked pycs came from compared with it, what it compiled stored, the
        marker -- runs here, or with ``defer`` in a thread while the caller probes the env
        (``BuiltEnv.verified`` waits for it; the lock is released when it is done).  The
        env is snapshot first, so the manifest records it as built, whatever runs in it."""
        start = time.perf_counter()
        outcome: Optional[bytecode.Outcome] = None
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

        with progress.step(label) as step, open(env_dir / "build.log", "a",
                                                encoding="utf-8") as log:
            # 1. The virtualenv, seeded offline from virtualenv's embedded wheels (with
            #    uv: the same wheels, installed by uv; see seed_command).
            step.phase("venv")
            wheels = seed_wheels(interpreter) if tool.name == "uv" else []
            seed = bool(wheels) or _embedded_pip(interpreter) is not None
            # Unseeded when uv seeds it, or when virtualenv has no pip for this Python.
            created, why = create_virtualenv(venv, interpreter, seed and not wheels, log)
            proc = subprocess.CompletedProcess([], 0 if created else 1, "", why)
            if proc.returncode == 0 and wheels:
                proc = run_logged(seed_command(tool, python, wheels), log, lock)
            if proc.returncode == 0 and not seed:
                # Offline and bundled with the interpreter: what `python -m venv` would do.
                proc = run_logged([str(python), "-m", "ensurepip", "--default-pip"], log,
                                  lock)
            if proc.returncode != 0:
                _, short = summarize_install_failure(proc.stdout + proc.stderr, [])
                fail(f"could not create a virtualenv with Python {interpreter.version} "
                     f"({interpreter.path}): {short}", proc.stdout + proc.stderr)
                return None

            # 2. The requirements, then their bytecode (from the store where it can).
            if reqs:
                store = bytecode.supported(interpreter)
                cmd = install_command(tool, python, req_file, con_file if cons else None,
                                      self.allow_build, compile_later=store)
                if self.allow_build:  # build backends will run: sandboxed, like the probe
                    step.phase("install")
                    proc = install_sandboxed(cmd, env_dir, python, reqs, tool, log,
                                             LOCK_TIMEOUT_S)
                else:
                    proc = run_phased(cmd, log, lock, tool.name, step)
                if proc.returncode == 0 and (store or tool.name == "uv"):  # pip compiled
                    step.phase("compile")
                    proc, outcome = self._compile(env_dir, venv, python, interpreter, log,
                                                  lock, step, meta, findings, defer)
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

            # 3. What got installed (read from its dist-info: running the env's
            #    interpreter would run every .pth file a wheel installed), and whether it
            #    hangs together.  Stored: envs are immutable once complete, so a reuse
            #    never pays for either again.
            step.phase("finish")
            packages = {name: dist.version for name, dist in
                        distributions.installed_distributions(venv).items()}
            meta["consistency"] = run_check(python, tool, log, lock)
            meta["pth_files"] = [p.name for p in distributions.pth_files(venv)]
            snapshot = manifest.take_snapshot(venv) if defer else None

        build_s = time.perf_counter() - start

        def complete() -> Optional[str]:
            """4. The manifest, last: from now on any change to the env is found.  Then
            the marker; or why the env may not be trusted (it is left unmarked)."""
            shown = len(outcome.notes) if outcome is not None else 0
            try:
                env_manifest = manifest.write_manifest(venv, env_dir / MANIFEST, snapshot)
                problem = (bytecode.settle(self.root, venv, env_manifest, outcome,
                                           self._journal) if outcome is not None else None)
            except manifest.ChangedSinceSnapshot as exc:
                problem = f"it changed while it was first used ({exc})"
            except OSError as exc:
                problem = f"its manifest could not be written ({exc})"
            if problem is not None:
                meta["status"] = "failed"
                _write_json_atomic(env_dir / META, meta)
                self._journal("build-failed", key)
                return problem
            if outcome is not None:
                meta["bytecode"] = outcome.to_dict()
                for note in outcome.notes[shown:]:  # what could not be stored, and why
                    if defer:  # the findings went out with the env: the journal keeps it
                        self._journal("bytecode-note", key, note=repr(note))
                    else:
                        findings.append(info(note, details={"key": key}))
            meta.update(status="complete", packages=dict(sorted(packages.items())),
                        build_s=round(build_s, 3), last_used=time.time())
            _write_json_atomic(env_dir / META, meta)
            marker_tmp = env_dir / f".{MARKER}.{uuid.uuid4().hex}.tmp"
            marker_tmp.write_text(json.dumps({"key": key, "completed": time.time()}),
                                  encoding="utf-8")
            os.replace(marker_tmp, env_dir / MARKER)  # last: now the env may be reused
            self._journal("built", key, seconds=f"{build_s:.1f}")
            return None

        verification: Optional[concurrent.futures.Future[Optional[str]]] = None
        if defer:
            def complete_and_release() -> Optional[str]:
                try:
                    return complete()
                finally:
                    lock.release()

            verification = _VERIFIER.submit(complete_and_release)
        else:
            problem = complete()
            if problem is not None:
                fail(f"could not build env {key[:12]}: {problem}", "")
                return None
        findings.append(info(
            f"built env {key[:12]} with {tool.name} {tool.version} for Python "
            f"{interpreter.version} in {build_s:.1f}s ({len(packages)} distributions)",
            details={"key": key, "reused": False, "path": str(env_dir),
                     "build_s": round(build_s, 3)}))
        return BuiltEnv(key=key, path=venv, python=python, interpreter=interpreter,
                        installer=tool.name, installer_version=tool.version, reused=False,
                        packages=dict(sorted(packages.items())), build_s=build_s, dir=env_dir,
                        consistency=meta["consistency"], _verification=verification)

    def _compile(self, env_dir: Path, venv: Path, python: Path, interpreter: Interpreter,
                 log: Any, lock: Any, step: Step, meta: dict[str, Any],
                 findings: list[Finding], defer: bool
                 ) -> tuple[subprocess.CompletedProcess[str], bytecode.Outcome]:
        """Bytecode for the env: linked from the store, compiled for what it lacks."""
        file_list = env_dir / "compile.list"

        def compile_here(sources: list[Path]) -> subprocess.CompletedProcess[str]:
            file_list.write_bytes(b"\0".join(map(os.fsencode, sources)))
            return run_logged(compile_files_command(python, file_list), log, lock)

        # --allow-build: the build backends had the env writable, and what they may leave
        # running must never hold a pyc other envs share: such an env compiles its own.
        # ``defer``: the linked pycs are compared with their entries once the env's
        # manifest has hashed them (bytecode.settle), each hashed once.
        outcome, proc = bytecode.provide(self.root, venv, interpreter, compile_here,
                                         self._journal, share=not self.allow_build,
                                         verify_stored=not defer)
        meta["bytecode"] = outcome.to_dict()
        _write_json_atomic(env_dir / META, meta)  # prune sees the entries in use
        step.detail(f"{len(outcome.linked)} distributions linked from the bytecode store, "
                    f"{len(outcome.compiled)} compiled ({outcome.files_compiled} files)")
        for note in outcome.notes:
            findings.append(info(note, details={"key": meta["key"]}))
        return proc or subprocess.CompletedProcess([], 0, "", ""), outcome

    # ---- list / prune (envcheck.env.inventory)

    def list(self) -> builtins.list[EnvInfo]:  # `list` here is this method, not the type
        """Every env directory, most recently used first (read-only; takes no locks)."""
        return inventory.list_envs(self)

    def prune(self, older_than_days: Optional[float] = None, all: bool = False
              ) -> builtins.list[EnvInfo]:
        """Remove envs nobody is building or using right now (see inventory.prune_envs)."""
        return inventory.prune_envs(self, older_than_days, all)

    def list_bytecode(self) -> builtins.list[inventory.BytecodeInfo]:
        """Every entry of the bytecode store, most recently used first."""
        return inventory.list_bytecode(self)

    def prune_bytecode(self, older_than_days: Optional[float] = None, all: bool = False
                       ) -> builtins.list[inventory.BytecodeInfo]:
        """Remove store entries no env links (see inventory.prune_bytecode)."""
        return inventory.prune_bytecode(self, older_than_days, all)
