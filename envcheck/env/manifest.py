"""Pin the exact content of an env directory when it is built; verify it before reuse.

A cached env is reused by every later check of every package with the same
requirements, so a module edited or a ``.pth`` file dropped into it would forge the
verdicts of all of them.  ``write_manifest`` records, for every entry under the root
(symlinks are never followed): its mode bits, a regular file's size and sha256, a
symlink's target text; ``verify_manifest`` reports every difference.

Why the fast check is enough.  Re-hashing ~400 MB before each warm check is not
affordable, so each file's stat identity (st_mode, st_size, st_mtime_ns, st_ctime_ns,
st_ino) is recorded too, and only a file whose identity differs is re-hashed.  The
kernel sets st_ctime to the current time on every change to an inode -- write,
truncate, chmod, chown, link, unlink, rename, utime -- and offers no call to set it
(``os.utime`` sets atime and mtime only); an unprivileged process cannot fake it short
of changing the system clock or writing the raw block device, which both need root.
So an unchanged identity means an untouched inode, and a changed one costs a re-hash,
not a false alarm: a touch or a ``cp -a`` restore verifies clean (and with ``refresh``
the new identity is recorded, so only the first verify pays).  One gap remains, git's
"racy clean" problem: a change within the same timestamp tick as the change before it
leaves st_ctime as it was.  A file whose st_ctime is less than ``RACY_NS`` older than
the walk that hashed it is therefore recorded as untrusted and re-hashed until a later
verify finds it old enough.  Every directory is listed, so an added entry (a new
``.pth``, module, hardlink or ``__pycache__``) is always found.

The fast path (nothing changed) stats each entry once, relative to its directory's fd,
and compares one digest of all the identities, the manifest's "fingerprint", so the
entries themselves are loaded only when something differs.

A new env's manifest may be hashed while the env is already in use (its first probe):
``take_snapshot`` records every entry and identity first, and ``write_manifest`` given
that snapshot records those entries and refuses any file that is no longer what the
snapshot saw, so what the manifest vouches for is the env as built.

This is defense in depth: the sandbox mounts the env read-only, so package code cannot
write it at all.  The manifest catches what the sandbox does not cover: writes by
anything else (another process, a half-finished or interrupted build, a restore, a
bug, a sandbox that is misconfigured or escaped).  It must live outside the root, where
sandboxed code cannot reach it (``write_manifest`` refuses otherwise).  It does not
pin what symlinks point to (``bin/python`` -> the base interpreter: only the link text),
nor resist root, nor a network filesystem whose clock is off by more than ``RACY_NS``.
A file hardlinked from the installer's cache (uv's default) shares its inode with the
cache, so linking another env to the same file changes its st_ctime: one re-hash.
POSIX only: Windows has no dir_fd, and its st_ctime is the creation time.

The manifest is two lines of JSON, the first small so the fast path parses only it::

    {"format": 1, "fingerprint": "<sha256 hex>"}
    {"mode": <the root's st_mode>,
     "dirs": {"<dir relative to the root, '/'-separated, '' for the root>":
              {"<name>": <entry>, ...}, ...}}

with an entry by the type in its st_mode: a regular file ``[st_mode, st_size,
st_mtime_ns, st_ctime_ns, st_ino, sha256 hex]`` (st_ctime_ns ``-1`` when untrusted), a
symlink ``[st_mode, target]``, a directory or special file ``[st_mode]``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import stat
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from envcheck.env.manifest_file import (
    Entry,
    Manifest,
    fingerprint_record,
    identities_digest,
    read_fingerprint,
    read_manifest,
    store_manifest,
)

# Longer than any local filesystem's timestamp granularity (ext3 1 s, FAT 2 s) plus the
# kernel's coarse-clock tick: a file changed less than this before it was hashed may
# change again with the same st_ctime.
RACY_NS = 2_000_000_000
_UNTRUSTED = -1  # no real st_ctime_ns: the identity never matches, so always re-hashed
# No symlink is followed and no FIFO blocks an open (getattr: the module still imports
# on Windows, where none of this works).
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_FILE = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
_BIG = 256 << 10  # bytes: hashed in a thread (see write_manifest)
_BATCH = 32
_KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "symlink"}

Listing = list[tuple[str, os.stat_result]]  # a directory's names and their lstat


@dataclass(frozen=True)
class Snapshot:
    """What is under a root at one moment, no file read: every directory's entries with
    their lstat.  Taken before a new env is handed to its first probe, so that the
    manifest hashed while that probe runs records what was built (see write_manifest)."""

    mode: int  # the root's st_mode
    # rel -> (name, entry): a regular file's is its raw identity (st_ctime_ns as is) and
    # its st_nlink; the others' as the manifest records them.
    dirs: dict[str, list[tuple[str, Entry]]]
    trusted_before: int  # st_ctime_ns older than this is trusted (see RACY_NS)


class ChangedSinceSnapshot(OSError):
    """Files differed, when they were hashed, from what the snapshot saw."""

    def __init__(self, differences: list[str]) -> None:
        super().__init__("; ".join(differences[:5]) + (
            f" and {len(differences) - 5} more" if len(differences) > 5 else ""))
        self.differences = differences


def take_snapshot(root: Path) -> Snapshot:
    """The entries under ``root`` and their identities, as ``write_manifest`` records
    them but without the files' sha256 (about 60 ms for an env of 10,000 files)."""
    trusted_before = time.time_ns() - RACY_NS
    dirs = {rel: [(name, _key(st) + [st.st_nlink] if stat.S_ISREG(st.st_mode)
                   else _other(name, fd, st)) for name, st in listing]
            for rel, fd, listing in _walk(root)}
    return Snapshot(os.stat(root).st_mode, dict(sorted(dirs.items())), trusted_before)


def write_manifest(root: Path, manifest_path: Path,
                   snapshot: Optional[Snapshot] = None) -> Manifest:
    """Walk ``root``, hash every regular file, and write the manifest atomically.

    With ``snapshot`` the entries are the snapshot's, and a file that, when hashed, is
    not what the snapshot saw raises :class:`ChangedSinceSnapshot` (nothing is written):
    the manifest vouches for the tree as it was when the snapshot was taken, however
    long the hashing takes and whatever runs meanwhile.  One change is not one: a link
    count that moved, with it st_ctime, and nothing else (mode, size, mtime, inode).
    That is another env linking or unlinking the same inode -- uv hard-links wheel files
    from its cache into every env, the bytecode store its pycs -- and a write that kept
    the size and put the mtime back would also have to add or drop a hard link of the
    file at the same time.  (Whatever could do that while a probe runs could rewrite
    manifest.json as well: the sandbox keeps both out of the probe's reach.)"""
    if _inside(os.path.realpath(manifest_path), os.path.realpath(root)):
        raise ValueError(f"the manifest {manifest_path} must be outside {root}")
    compare = snapshot is not None
    if snapshot is None:  # hashed now: identities as the hashing fstat sees them
        snapshot = take_snapshot(root)
    dirs: dict[str, dict[str, Entry]] = {}
    changed: list[str] = []
    # Big files (the native libraries: most of an env's bytes) are hashed on every core:
    # opened here, hashed and closed in a thread (hashlib and os.read drop the GIL).
    # (Small ones too was slower: 0.49 s against 0.33 s for an env of 10,000 files.)
    pending: list[tuple[dict[str, Entry], str, str, Entry,
                        concurrent.futures.Future[Any]]] = []
    root_dir = os.fspath(root)

    def record(entries: dict[str, Entry], rel: str, name: str, seen: Entry,
               st: os.stat_result, digest: str) -> None:
        if compare and not _same_inode_content(seen, st):
            changed.append(f"changed {_join(rel, name)} after the build")
        entries[name] = _identity(st, snapshot.trusted_before) + [digest]

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for rel, listing in snapshot.dirs.items():
            entries: dict[str, Entry] = {}
            dirs[rel] = entries
            try:
                fd = os.open(os.path.join(root_dir, rel), _DIR)
            except OSError as exc:
                changed.append(f"{rel or '.'} could not be read: {exc}")
                continue
            try:
                for name, seen in listing:
                    if not stat.S_ISREG(seen[0]):
                        entries[name] = list(seen)
                        continue
                    try:
                        file = _open_regular(name, fd)
                    except OSError as exc:
                        changed.append(f"{_join(rel, name)} could not be read: {exc}")
                        continue
                    if seen[1] >= _BIG:
                        pending.append((entries, rel, name, seen,
                                        pool.submit(_hash_open, file)))
                        if len(pending) % _BATCH == 0:  # bounded: no more open files
                            concurrent.futures.wait([f for *_, f in pending[-_BATCH:]])
                    else:
                        record(entries, rel, name, seen, *_hash_open(file))
            finally:
                os.close(fd)
        for entries, rel, name, seen, future in pending:
            record(entries, rel, name, seen, *future.result())
    if changed:
        raise ChangedSinceSnapshot(sorted(changed))
    manifest = Manifest(snapshot.mode, dirs)
    store_manifest(manifest, Path(manifest_path))
    return manifest


def _same_inode_content(seen: Entry, st: os.stat_result) -> bool:
    """Whether ``st`` (when hashed) is the file the snapshot saw as ``seen`` (its raw
    identity and link count), unchanged but for another link of it (write_manifest)."""
    now = _key(st)
    if now == seen[:5]:
        return True
    return (now[:3] == seen[:3] and now[4] == seen[4] and st.st_nlink != seen[5])


def load_manifest(manifest_path: Path) -> Manifest:
    """The manifest written at ``manifest_path`` (OSError, ValueError when unreadable)."""
    return read_manifest(Path(manifest_path))


def verify_manifest(root: Path, manifest_path: Path, *, deep: bool = False,
                    refresh: bool = True) -> list[str]:
    """What differs under ``root`` from its manifest, one line each; [] if intact.

    Only if the identities' fingerprint differs (or with ``deep``) are the entries
    compared one by one, re-hashing each file whose identity changed (``deep``: every
    file).  With ``refresh``, when all is intact but some identities changed (a touch,
    a restore, a new hardlink), the manifest is rewritten with them so the next verify
    is fast again.  A missing or unreadable manifest, or a directory that cannot be
    listed, is a difference too: nothing then vouches for the env.
    """
    manifest_path = Path(manifest_path)
    try:
        if not deep and _live_fingerprint(root) == read_fingerprint(manifest_path):
            return []
        manifest = read_manifest(manifest_path)
        differences, refreshed = _compare(root, manifest, deep)
    except (OSError, ValueError, struct.error) as exc:  # unreadable, or malformed
        return [f"cannot verify {root}: {exc}"]
    if refresh and refreshed and not differences:
        try:
            store_manifest(manifest, manifest_path)
        except OSError:
            pass  # a read-only cache: the env verified all the same, re-hashed next time
    return differences


def _compare(root: Path, manifest: Manifest, deep: bool) -> tuple[list[str], bool]:
    """The differences, sorted by path, and whether an identity of ``manifest`` was
    updated (only ever to that of a file re-hashed to the recorded content)."""
    trusted_before = time.time_ns() - RACY_NS
    found: list[tuple[str, str]] = []
    root_mode = os.stat(root).st_mode
    if root_mode != manifest.mode:
        found.append((".", f"mode changed . ({_modes(manifest.mode, root_mode)})"))
    refreshed = False
    for rel, fd, listing in _walk(root):
        expected = manifest.dirs.get(rel, {})  # {} in an added directory
        for name, st in listing:
            path = _join(rel, name)
            entry = expected.get(name)
            if entry is None:
                found.append((path, f"added {path}"))
                continue
            if stat.S_IFMT(st.st_mode) != stat.S_IFMT(entry[0]):
                found.append((path, f"type changed {path} "
                                    f"({_kind(entry[0])} -> {_kind(st.st_mode)})"))
                continue
            if st.st_mode != entry[0]:
                found.append((path, f"mode changed {path} ({_modes(entry[0], st.st_mode)})"))
            if stat.S_ISREG(st.st_mode):
                if deep or _key(st) != entry[:5]:
                    before = entry[:5]
                    change = _content_change(name, fd, st, entry, trusted_before)
                    if change is not None:
                        found.append((path, f"changed {path} ({change})"))
                    refreshed = refreshed or entry[:5] != before
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(name, dir_fd=fd)
                if target != entry[1]:
                    found.append((path, f"changed {path} (symlink to {target!r}, "
                                        f"was {entry[1]!r})"))
        names = {name for name, _ in listing}
        found.extend((_join(rel, name), f"removed {_join(rel, name)}")
                     for name in expected if name not in names)
    return [difference for _, difference in sorted(found)], refreshed


def _walk(root: Path) -> Iterator[tuple[str, int, Listing]]:
    """Each directory under ``root`` (relative to it, "" for the root itself), an fd
    of it, and its entries sorted by name with their lstat; no symlink is followed."""
    root_dir = os.fspath(root)
    pending = [""]
    while pending:
        rel = pending.pop()
        fd = os.open(os.path.join(root_dir, rel), _DIR)
        try:
            # Relative to the directory's fd, a stat resolves one path component, not
            # ten: a quarter cheaper, and no symlink swapped into the path can redirect it.
            listing = [(name, os.stat(name, dir_fd=fd, follow_symlinks=False))
                       for name in sorted(os.listdir(fd))]
            pending.extend(_join(rel, name) for name, st in listing
                           if stat.S_ISDIR(st.st_mode))
            yield rel, fd, listing
        finally:
            os.close(fd)


def _live_fingerprint(root: Path) -> str:
    """``Manifest.fingerprint`` of what is under ``root`` now (no file is read)."""
    return identities_digest(os.stat(root).st_mode, {
        rel: [fingerprint_record(name, _key(st) if stat.S_ISREG(st.st_mode) else _other(name, fd, st))
              for name, st in listing]
        for rel, fd, listing in _walk(root)})



def _other(name: str, fd: int, st: os.stat_result) -> Entry:
    """The entry of a symlink, a directory or a special file."""
    if stat.S_ISLNK(st.st_mode):
        return [st.st_mode, os.readlink(name, dir_fd=fd)]
    return [st.st_mode]


def _content_change(name: str, fd: int, st: os.stat_result, entry: Entry,
                    trusted_before: int) -> Optional[str]:
    """How the regular file ``name`` in the directory ``fd`` differs from ``entry``;
    None if its content is the recorded one, and then ``entry`` takes its identity."""
    if st.st_size != entry[1]:
        return f"size {entry[1]} -> {st.st_size}"
    try:
        st, digest = _hash_file(name, fd)
    except OSError as exc:  # replaced since it was listed
        return str(exc)
    if digest != entry[5]:
        return "sha256 differs"
    entry[:5] = _identity(st, trusted_before)
    return None


def _key(st: os.stat_result) -> list[int]:
    return [st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _identity(st: os.stat_result, trusted_before: int) -> list[int]:
    """The identity to record: untrusted if ``st`` is too recent (the racy case)."""
    key = _key(st)
    if st.st_ctime_ns >= trusted_before:
        key[3] = _UNTRUSTED
    return key


def _hash_file(name: str, fd: int) -> tuple[os.stat_result, str]:
    """The stat and sha256 of the regular file ``name`` in the directory ``fd``, both
    from one open file (a symlink or FIFO swapped in since the listing is refused)."""
    return _hash_open(_open_regular(name, fd))


def file_sha256(path: Path) -> str:
    """The sha256 of the regular file at ``path`` (not followed if it is a symlink)."""
    return _hash_open(_open_regular(os.fspath(path), None))[1]


def open_regular(path: Path) -> int:
    """An fd of the regular file at ``path``: no symlink followed, no FIFO blocking."""
    return _open_regular(os.fspath(path), None)


def _open_regular(name: str, fd: Optional[int]) -> int:
    file = os.open(name, _FILE, dir_fd=fd)
    if not stat.S_ISREG(os.fstat(file).st_mode):
        os.close(file)
        raise OSError(f"{name} is no longer a regular file")
    return file


def _hash_open(file: int) -> tuple[os.stat_result, str]:
    """The stat and sha256 of an open regular file, which it closes."""
    try:
        st = os.fstat(file)
        digest = hashlib.sha256()
        for chunk in iter(lambda: os.read(file, 1 << 20), b""):
            digest.update(chunk)
        return st, digest.hexdigest()
    finally:
        os.close(file)


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "special file")


def _modes(old: int, new: int) -> str:
    return f"{stat.filemode(old)} -> {stat.filemode(new)}"


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)
