"""The env cache on disk: the names of its files, what a built env is, and whether a
complete env still is what was built (see :mod:`envcheck.env.cache` for the layout)."""

from __future__ import annotations

import concurrent.futures
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.env import distributions, manifest
from envcheck.env.interpreters import Interpreter
from envcheck.model.files import write_text_atomic

MARKER = "COMPLETE"
META = "meta.json"
MANIFEST = "manifest.json"  # beside venv/, never inside it: the probe cannot reach it
LOCK_TIMEOUT_S = 3600.0  # waiting for another process's build of the same key
# Compares manifests of reused envs while they are used, and writes those of new envs
# while their first probe runs (one env per check at a time).
VERIFIER = concurrent.futures.ThreadPoolExecutor(max_workers=2,
                                                 thread_name_prefix="envcheck-verify")


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
    dir_inode: Optional[int] = None  # which envs/<key>/ (see EnvCache.discard)
    consistency: Optional[dict[str, Any]] = None  # pip check output recorded at build
    _lease_fd: Optional[int] = field(default=None, repr=False, compare=False)
    # A reused env whose manifest is being verified, or a new one whose manifest is being
    # written, while it is used (see verified()).
    _verification: Optional["concurrent.futures.Future[Optional[str]]"] = field(
        default=None, repr=False, compare=False)

    def verified(self) -> Optional[str]:
        """Why this env may not be trusted (it changed since it was built), or None.

        ``EnvCache.ensure(verify_later=True)`` hands a reused env out while its manifest
        is still being compared, and a new one while its manifest is still being written
        (against a snapshot taken before, and the store entries it linked compared with
        it), so that the hashing overlaps the probe; the caller
        asks here before it believes anything the probe said, and on a problem discards
        the result, the env with it, and checks again in a rebuilt one.  That is safe
        because whatever an unverified env runs, runs inside the sandbox."""
        return self._verification.result() if self._verification is not None else None

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


def _interpreter_changed(env_dir: Path, meta: dict[str, Any]) -> Optional[str]:
    """Why the env's pyvenv.cfg no longer fits what it was built for, or None."""
    recorded = meta.get("inputs", {}).get("python")
    version = distributions.read_pyvenv_cfg(env_dir / "venv").get("version")
    if version != recorded:
        return f"its pyvenv.cfg says Python {version}, not {recorded}"
    return None


def _tampering(env_dir: Path, meta: dict[str, Any]) -> Optional[str]:
    """Why a complete env may not be reused (changed since it was built), or None."""
    venv = env_dir / "venv"
    changed = _interpreter_changed(env_dir, meta)
    if changed:
        return changed
    differences = manifest.verify_manifest(venv, env_dir / MANIFEST)
    if differences:
        shown = "; ".join(differences[:5]) + (
            f" and {len(differences) - 5} more" if len(differences) > 5 else "")
        return f"it changed since it was built ({shown})"
    return None


def dir_inode(path: Path) -> Optional[int]:
    """Which directory ``path`` is now (a rebuild makes a new one), None if none."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
