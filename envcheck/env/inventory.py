"""``envcheck env list | prune``: what the cache holds, and removing what nobody uses."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Optional, Protocol

from envcheck.env.layout import MARKER, META, EnvInfo, _dir_size, _pid_alive
from envcheck.model.files import read_json_object


class EnvCache(Protocol):
    """What of :class:`envcheck.env.cache.EnvCache` listing and pruning use (the cache
    calls these functions with itself)."""

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
