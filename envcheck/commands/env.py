"""``envcheck env list | prune``: the environment cache, for people and scripts."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Optional, Sequence

from envcheck.env.cache import EnvCache
from envcheck.env.inventory import BytecodeInfo
from envcheck.env.layout import EnvInfo
from envcheck.model.options import default_cache_dir


def run(action: str, cache_dir: Optional[Path], args: argparse.Namespace) -> str:
    """The output of ``envcheck env ACTION`` (``list`` or ``prune``)."""
    cache = EnvCache(cache_dir or default_cache_dir())
    if action == "list":
        if getattr(args, "bytecode", False):  # the store alone: its own array in JSON
            entries = cache.list_bytecode()
            if args.format == "json":
                return json.dumps([e.to_dict() for e in entries], indent=2) + "\n"
            return render_bytecode_list(entries).lstrip("\n") or "0 entries\n"
        infos = cache.list()
        if args.format == "json":  # an array of envs, as ever: the store has --bytecode
            return json.dumps([i.to_dict() for i in infos], indent=2) + "\n"
        return render_env_list(infos) + "\n" + render_bytecode_list(cache.list_bytecode())
    removed = cache.prune(args.older_than, args.all)
    freed = sum(i.size_bytes for i in removed)
    entries = cache.prune_bytecode(args.older_than, args.all)  # after: what they linked
    return (f"removed {len(removed)} environment{'s' * (len(removed) != 1)}, "
            f"{freed / 1e6:.1f} MB freed (environments in use were kept)\n"
            f"removed {len(entries)} bytecode store entr{'y' if len(entries) == 1 else 'ies'}"
            f", {sum(i.size_bytes for i in entries) / 1e6:.1f} MB freed (entries an "
            "environment links were kept)\n")


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
    lines = _table(header, rows)
    total = sum(i.size_bytes for i in infos)
    lines.append(f"{len(infos)} environments, {_human_size(total)}")
    return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell; the last one, a free-form list, is not."""
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header) - 1)]
    return ["  ".join(str(v).ljust(w) for v, w in zip(r[:-1], widths)) + "  " + r[-1]
            for r in [header, *rows]]


def render_bytecode_list(infos: Sequence[BytecodeInfo], now: Optional[float] = None) -> str:
    """The bytecode store under ``envcheck env list``: one line per distribution entry."""
    if not infos:
        return ""
    now = time.time() if now is None else now
    header = ("KEY", "DISTRIBUTION", "PYTHON", "PYCS", "SIZE", "LAST USED", "STATUS",
              "LINKED BY")
    rows = [(i.key[:12], f"{i.name or '?'} {i.version or '?'}", i.python or "?", str(i.pycs),
             _human_size(i.size_bytes), _ago(i.last_used, now), i.status,
             f"{len(i.used_by)} env{'s' * (len(i.used_by) != 1)}") for i in infos]
    total = sum(i.size_bytes for i in infos)
    return ("\nbytecode store\n" + "\n".join(_table(header, rows))
            + f"\n{len(infos)} entries, {_human_size(total)}\n")
