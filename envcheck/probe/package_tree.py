"""Did the probe change the package folder?  Before and after, compared by identity.

The sandbox makes the package read-only to the probe, and the probe's audit hook refuses
writes it can see; this is the backstop for what neither covers (a sandbox layer that
could not be applied, native code, an old Python).  Every entry's identity -- type, mode,
size, inode, link count, mtime and ctime -- is recorded; the kernel moves ctime on every
write, truncate, chmod, link or rename, and no unprivileged call sets it back, so a file
rewritten through a hard link with the same size and its old mtime still shows, and so
does the hard link itself (the link count).  Nothing is hashed, so any size costs one
``lstat`` per entry; past :data:`MAX_ENTRIES` the rest is not compared, and the result
says so instead of passing silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MAX_ENTRIES = 1_000_000

Identity = tuple[int, int, int, int, int, int]  # mode, size, ino, nlink, mtime_ns, ctime_ns


@dataclass
class Snapshot:
    entries: dict[str, Identity] = field(default_factory=dict)
    truncated: bool = False  # MAX_ENTRIES reached


def snapshot(root: Path, limit: int = MAX_ENTRIES) -> Snapshot:
    """Every entry under ``root`` (symlinks not followed) and its identity."""
    found = Snapshot()
    pending = [str(root)]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if len(found.entries) >= limit:
                found.truncated = True
                return found
            found.entries[os.path.relpath(entry.path, root)] = (
                st.st_mode, st.st_size, st.st_ino, st.st_nlink, st.st_mtime_ns, st.st_ctime_ns)
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
    return found


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """``["cache.bin (added)", "metadata.yaml (hard-linked from elsewhere)", ...]``,
    sorted by path (``Snapshot.truncated`` says when the comparison was cut short)."""
    out = []
    old, new = before.entries, after.entries
    for rel in sorted(set(old) | set(new)):
        if rel not in old:
            out.append(f"{rel} (added)")
        elif rel not in new:
            out.append(f"{rel} (removed)")
        elif old[rel] != new[rel]:
            if new[rel][3] > old[rel][3]:
                out.append(f"{rel} (hard-linked from elsewhere)")
            else:
                out.append(f"{rel} (changed)")
    return out
