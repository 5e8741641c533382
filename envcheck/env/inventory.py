"""``envcheck env list | prune``: what the cache holds, and removing what nobody uses."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

from envcheck.env import bytecode
from envcheck.env.layout import MARKER, META, EnvInfo, _dir_size, _pid_alive
from envcheck.model.files import read_json_object


class EnvCache(Protocol):
    """What of :class:`envcheck.env.cache.EnvCache` listing and pruning use (the cache
    calls these functions with itself)."""

    root: Path
    envs_dir: Path
    trash_dir: Path

    def _build_lock(self, key: str) -> Any: ...
    def _lease(self, key: str, exclusive: bool, blocking: bool) -> Optional[int]: ...
    def _remove(self, env_dir: Path) -> None: ...
    def _journal(self, event: str, key: str, **extra: Any) -> None: ...


def _info(env_dir: Path) -> EnvInfo:
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


def list_envs(cache: EnvCache) -> list[EnvInfo]:
    """Every env directory, most recently used first (read-only; takes no locks)."""
    if not cache.envs_dir.is_dir():
        return []
    infos = [_info(d) for d in cache.envs_dir.iterdir() if d.is_dir()]
    return sorted(infos, key=lambda i: i.last_used or 0.0, reverse=True)


def prune_envs(cache: EnvCache, older_than_days: Optional[float] = None, all: bool = False
           ) -> list[EnvInfo]:
    """Remove envs nobody is building or using right now.

    ``all``: every env; ``older_than_days``: those last used before then; neither:
    only incomplete and failed ones.  An env whose build lock or "in use" lease is held
    is skipped (non-blocking), so a prune is safe while checks run.
    """
    from filelock import Timeout

    removed: list[EnvInfo] = []
    cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
    for env in list_envs(cache):
        wanted = (all or env.status != "ready"
                  or (cutoff is not None and (env.last_used or 0.0) < cutoff))
        if not wanted:
            continue
        lock = cache._build_lock(env.key)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue  # being built (or reused) right now
        try:
            lease = cache._lease(env.key, exclusive=True, blocking=False)
            if lease is None:
                continue  # a check is using it
            try:
                cache._remove(env.path)
                cache._journal("pruned", env.key)
                removed.append(env)
            finally:
                if lease >= 0:
                    os.close(lease)
        finally:
            lock.release()
    shutil.rmtree(cache.trash_dir, ignore_errors=True)
    return removed


# --------------------------------------------------------------------------- bytecode


@dataclass
class BytecodeInfo:
    """One entry of the bytecode store (see envcheck.env.bytecode)."""

    key: str
    path: Path  # bytecode/<key>/
    status: str  # "ready" | "incomplete"
    name: Optional[str] = None
    version: Optional[str] = None
    python: Optional[str] = None
    pycs: int = 0
    size_bytes: int = 0
    last_used: Optional[float] = None
    used_by: list[str] = field(default_factory=list)  # keys of the envs that link it

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "path": str(self.path), "status": self.status,
                "name": self.name, "version": self.version, "python": self.python,
                "pycs": self.pycs, "size_bytes": self.size_bytes,
                "last_used": self.last_used, "used_by": self.used_by}


def _users_of_entries(cache: EnvCache) -> dict[str, list[str]]:
    """Entry key -> the envs (complete or not) whose meta.json says they link it."""
    users: dict[str, list[str]] = {}
    if cache.envs_dir.is_dir():
        for env_dir in sorted(cache.envs_dir.iterdir()):
            meta = read_json_object(env_dir / META) or {}
            linked = meta.get("bytecode", {})
            for key in linked.get("entries", []) if isinstance(linked, dict) else []:
                users.setdefault(str(key), []).append(env_dir.name)
    return users


def list_bytecode(cache: EnvCache) -> list[BytecodeInfo]:
    """Every store entry, most recently used first (read-only; takes no locks)."""
    users = _users_of_entries(cache)
    infos = []
    for entry in bytecode.entries(cache.root):
        facts = read_json_object(entry / bytecode.ENTRY) or {}
        marker = entry / bytecode.MARKER
        ready = marker.is_file()
        pycs = sum(len(files) for _d, _s, files in os.walk(entry / "pycs"))
        infos.append(BytecodeInfo(
            key=entry.name, path=entry, status="ready" if ready else "incomplete",
            name=facts.get("name"), version=facts.get("version"), python=facts.get("python"),
            pycs=pycs, size_bytes=_dir_size(entry),
            last_used=marker.stat().st_mtime if ready else None,
            used_by=users.get(entry.name, [])))
    return sorted(infos, key=lambda i: i.last_used or 0.0, reverse=True)


def prune_bytecode(cache: EnvCache, older_than_days: Optional[float] = None,
                   all: bool = False) -> list[BytecodeInfo]:
    """Remove store entries no env links and nobody is writing or linking right now.

    ``all``: every such entry; ``older_than_days``: those last used before then;
    neither: only incomplete ones (interrupted compiles).  Run after the envs' prune,
    so the entries only pruned envs linked go too.  An env keeps working without the
    entries it linked (a hard link or copy is its own), but an entry some env still
    names stays: it is what that env's next rebuild reuses."""
    from filelock import Timeout

    removed = []
    cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
    for info in list_bytecode(cache):
        wanted = (info.status != "ready" or
                  (not info.used_by and (all or (cutoff is not None
                                                 and (info.last_used or 0.0) < cutoff))))
        if not wanted:
            continue
        lock = bytecode.entry_lock(cache.root, info.key)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue  # being compiled or linked right now
        try:
            if info.status == "ready" and _users_of_entries(cache).get(info.key):
                continue  # an env built meanwhile links it
            bytecode.remove_entry(info.path)
            cache._journal("bytecode-pruned", info.key, name=info.name or "?")
            removed.append(info)
        finally:
            lock.release()
    return removed
