"""Building one env of the cache: the virtualenv, the install, the bytecode, the manifest
and the marker, each step logged and shown as a phase (see :mod:`envcheck.env.cache`
for the layout, the key and the locks).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

from envcheck.env import bytecode, bytecode_env, distributions, manifest
from envcheck.env.creation import create_env
from envcheck.env.installers import (
    _DISK_FULL,
    Installer,
    compile_files_command,
    env_python,
    install_command,
    summarize_install_failure,
)
from envcheck.env.interpreters import Interpreter
from envcheck.env.keys import FORMAT_VERSION
from envcheck.env.layout import (
    LOCK_TIMEOUT_S,
    MANIFEST,
    MARKER,
    META,
    VERIFIER,
    BuiltEnv,
    _write_json_atomic,
    dir_inode,
)
from envcheck.env.steps import install_sandboxed, run_check, run_logged, run_phased
from envcheck.model.findings import Finding, error, info
from envcheck.model.progress import Progress, Step

Journal = Callable[..., None]  # EnvCache._journal(event, key, **fields)


def build_env(root: Path, allow_build: bool, journal: Journal, env_dir: Path, key: str, inputs: dict[str, Any], reqs: list[str],
           cons: list[str], interpreter: Interpreter, tool: Installer,
           user: Optional[str], progress: Progress, findings: list[Finding],
           lock: Any, defer: bool = False) -> Optional[BuiltEnv]:
    """Build the env.  Its last stage -- the manifest (every file hashed), the store
    entries its linked pycs came from compared with it, what it compiled stored, the
    marker -- runs here, or with ``defer`` in a thread while the caller probes the env
    (``BuiltEnv.verified`` waits for it; the lock is released when it is done).  The
    env is snapshot first, so the manifest records it as built, whatever runs in it."""
    start = time.perf_counter()
    outcome: Optional[bytecode_env.Outcome] = None
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
    journal("build-start", key, installer=tool.name, python=interpreter.version)
    label = (f"Building env {key[:12]} (Python {interpreter.version}, {tool.name}, "
             f"{len(reqs)} requirements)" + (f" for {user}" if user else ""))

    def fail(message: str, output: str, **details: Any) -> None:
        meta["status"] = "failed"
        _write_json_atomic(env_dir / META, meta)
        shutil.rmtree(venv, ignore_errors=True)  # keep the log, drop the half env
        journal("build-failed", key)
        findings.append(error(message, details={"key": key, "log": str(env_dir /
                                                                      "build.log"),
                                                **details}))

    with progress.step(label) as step, open(env_dir / "build.log", "a",
                                            encoding="utf-8") as log:
        # 1. The virtualenv, seeded offline (envcheck.env.creation).
        step.phase("venv")
        proc = create_env(venv, python, interpreter, tool, log, lock)
        if proc.returncode != 0:
            _, short = summarize_install_failure(proc.stdout + proc.stderr, [])
            fail(f"could not create a virtualenv with Python {interpreter.version} "
                 f"({interpreter.path}): {short}", proc.stdout + proc.stderr)
            return None

        # 2. The requirements, then their bytecode (from the store where it can).
        if reqs:
            store = bytecode.supported(interpreter)
            cmd = install_command(tool, python, req_file, con_file if cons else None,
                                  allow_build, compile_later=store)
            if allow_build:  # build backends will run: sandboxed, like the probe
                step.phase("install")
                proc = install_sandboxed(cmd, env_dir, python, reqs, tool, log,
                                         LOCK_TIMEOUT_S)
            else:
                proc = run_phased(cmd, log, lock, tool.name, step)
            if proc.returncode == 0 and (store or tool.name == "uv"):  # pip compiled
                step.phase("compile")
                proc, outcome = _compile(root, allow_build, journal, env_dir, venv, python, interpreter, log,
                                              lock, step, meta, findings, defer)
            if proc.returncode != 0:
                output = proc.stdout + "\n" + proc.stderr
                failed, short = summarize_install_failure(output, reqs)
                what = f"could not install {failed}" if failed else "installation failed"
                if _DISK_FULL.search(output):  # not the requirement's fault: say so
                    failed = None
                    what = (f"the disk holding the environment cache ({root}) is "
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
            problem = (bytecode_env.settle(root, venv, env_manifest, outcome,
                                       journal) if outcome is not None else None)
        except manifest.ChangedSinceSnapshot as exc:
            problem = f"it changed while it was first used ({exc})"
        except OSError as exc:
            problem = f"its manifest could not be written ({exc})"
        if problem is not None:
            meta.update(status="failed", problem=problem)  # why, for whoever looks
            _write_json_atomic(env_dir / META, meta)
            journal("build-failed", key, reason="untrusted")
            return problem
        if outcome is not None:
            meta["bytecode"] = outcome.to_dict()
            for note in outcome.notes[shown:]:  # what could not be stored, and why
                if defer:  # the findings went out with the env: the journal keeps it
                    journal("bytecode-note", key, note=repr(note))
                else:
                    findings.append(info(note, details={"key": key}))
        meta.update(status="complete", packages=dict(sorted(packages.items())),
                    build_s=round(build_s, 3), last_used=time.time())
        _write_json_atomic(env_dir / META, meta)
        marker_tmp = env_dir / f".{MARKER}.{uuid.uuid4().hex}.tmp"
        marker_tmp.write_text(json.dumps({"key": key, "completed": time.time()}),
                              encoding="utf-8")
        os.replace(marker_tmp, env_dir / MARKER)  # last: now the env may be reused
        journal("built", key, seconds=f"{build_s:.1f}")
        return None

    verification: Optional[concurrent.futures.Future[Optional[str]]] = None
    if defer:
        def complete_and_release() -> Optional[str]:
            try:
                return complete()
            finally:
                lock.release()

        verification = VERIFIER.submit(complete_and_release)
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
                    dir_inode=dir_inode(env_dir),
                    consistency=meta["consistency"], _verification=verification)

def _compile(root: Path, allow_build: bool, journal: Journal, env_dir: Path, venv: Path, python: Path, interpreter: Interpreter,
             log: Any, lock: Any, step: Step, meta: dict[str, Any],
             findings: list[Finding], defer: bool
             ) -> tuple[subprocess.CompletedProcess[str], bytecode_env.Outcome]:
    """Bytecode for the env: linked from the store, compiled for what it lacks."""
    file_list = env_dir / "compile.list"

    def compile_here(sources: list[Path]) -> subprocess.CompletedProcess[str]:
        file_list.write_bytes(b"\0".join(map(os.fsencode, sources)))
        return run_logged(compile_files_command(python, file_list), log, lock)

    # --allow-build: the build backends had the env writable, and what they may leave
    # running must never hold a pyc other envs share: such an env compiles its own.
    # ``defer``: the linked pycs are compared with their entries once the env's
    # manifest has hashed them (bytecode_env.settle), each hashed once.
    outcome, proc = bytecode_env.provide(root, venv, interpreter, compile_here,
                                     journal, share=not allow_build,
                                     verify_stored=not defer)
    meta["bytecode"] = outcome.to_dict()
    _write_json_atomic(env_dir / META, meta)  # prune sees the entries in use
    step.detail(f"{len(outcome.linked)} distributions linked from the bytecode store, "
                f"{len(outcome.compiled)} compiled ({outcome.files_compiled} files)")
    for note in outcome.notes:
        findings.append(info(note, details={"key": meta["key"]}))
    return proc or subprocess.CompletedProcess([], 0, "", ""), outcome
