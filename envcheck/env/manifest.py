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
import json
import os
import stat
import struct
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

FORMAT = 1
# Longer than any local filesystem's timestamp granularity (ext3 1 s, FAT 2 s) plus the
# kernel's coarse-clock tick: a file changed less than this before it was hashed may
# change again with the same st_ctime.
RACY_NS = 2_000_000_000
_UNTRUSTED = -1  # no real st_ctime_ns: the identity never matches, so always re-hashed
# No symlink is followed and no FIFO blocks an open (getattr: the module still imports
# on Windows, where none of this works).
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_FILE = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
_IDENTITY = struct.Struct("<QQqqQ")  # st_mode, st_size, st_mtime_ns, st_ctime_ns, st_ino
_COUNT = struct.Struct("<Q")
_BIG = 256 << 10  # bytes: hashed in a thread (see write_manifest)
_BATCH = 32
_KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "symlink"}

Entry = list[Any]  # see the module docstring: [st_mode, ...] by type
Listing = list[tuple[str, os.stat_result]]  # a directory's names and their lstat
Record = tuple[str, Entry, str]  # what the fingerprint takes: name, 5 ints, link target


@dataclass(frozen=True)
class Manifest:
    mode: int  # the root's st_mode
    dirs: dict[str, dict[str, Entry]]  # dir relative to the root -> name -> entry

    def __len__(self) -> int:
        """The number of entries under the root."""
        return sum(len(entries) for entries in self.dirs.values())

    def fingerprint(self) -> str:
        """The digest of every recorded identity that the fast path compares."""
        return _digest(self.mode, {
            rel: [_record(name, entries[name]) for name in sorted(entries)]
            for rel, entries in self.dirs.items()})


def write_manifest(root: Path, manifest_path: Path) -> Manifest:
    """Walk ``root``, hash every regular file, and write the manifest atomically."""
    if _inside(os.path.realpath(manifest_path), os.path.realpath(root)):
        raise ValueError(f"the manifest {manifest_path} must be outside {root}")
    trusted_before = time.time_ns() - RACY_NS
    dirs: dict[str, dict[str, Entry]] = {}
    # Big files (the native libraries: most of an env's bytes) are hashed on every core:
    # opened here, hashed and closed in a thread (hashlib and os.read drop the GIL).
    pending: list[tuple[dict[str, Entry], str, concurrent.futures.Future[Any]]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for rel, fd, listing in _walk(root):
            entries: dict[str, Entry] = {}
            for name, st in listing:
                if stat.S_ISREG(st.st_mode) and st.st_size >= _BIG:
                    file = _open_regular(name, fd)
                    pending.append((entries, name, pool.submit(_hash_open, file)))
                    if len(pending) % _BATCH == 0:  # bounded: no more open files than that
                        concurrent.futures.wait([f for *_, f in pending[-_BATCH:]])
                elif stat.S_ISREG(st.st_mode):
                    st, digest = _hash_file(name, fd)  # the identity of what was hashed
                    entries[name] = _identity(st, trusted_before) + [digest]
                else:
                    entries[name] = _other(name, fd, st)
            dirs[rel] = entries
        for entries, name, future in pending:
            st, digest = future.result()
            entries[name] = _identity(st, trusted_before) + [digest]
    manifest = Manifest(os.stat(root).st_mode, dict(sorted(dirs.items())))
    _store(manifest, Path(manifest_path))
    return manifest


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
        if not deep and _live_fingerprint(root) == _load_fingerprint(manifest_path):
            return []
        manifest = _load(manifest_path)
        differences, refreshed = _compare(root, manifest, deep)
    except (OSError, ValueError, struct.error) as exc:  # unreadable, or malformed
        return [f"cannot verify {root}: {exc}"]
    if refresh and refreshed and not differences:
        try:
            _store(manifest, manifest_path)
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
    return _digest(os.stat(root).st_mode, {
        rel: [_record(name, _key(st) if stat.S_ISREG(st.st_mode) else _other(name, fd, st))
              for name, st in listing]
        for rel, fd, listing in _walk(root)})



def _record(name: str, entry: Entry) -> Record:
    """What the fingerprint takes of an entry: all but a file's sha256."""
    if stat.S_ISREG(entry[0]):
        return name, entry[:5], ""
    return name, [entry[0], 0, 0, 0, 0], entry[1] if stat.S_ISLNK(entry[0]) else ""


def _digest(root_mode: int, dirs: dict[str, list[Record]]) -> str:
    """sha256 over the root's mode, then per directory in sorted order: its number of
    records, their five ints each packed, then its path, their names and their link
    targets, each NUL-terminated.  No name or target holds a NUL, so two different
    trees never give the same bytes.  (Formatting the ints as text instead took three
    times as long, a sixth of the fast path.)"""
    digest = hashlib.sha256(_COUNT.pack(root_mode))
    for rel in sorted(dirs):
        records = dirs[rel]
        digest.update(_COUNT.pack(len(records)))
        digest.update(b"".join([_IDENTITY.pack(*ints) for _, ints, _ in records]))
        texts = [rel] + [name for name, _, _ in records] + [target for *_, target in records]
        digest.update(("\0".join(texts) + "\0").encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


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


def _store(manifest: Manifest, path: Path) -> None:
    """Write atomically: a reader sees the old manifest or the new one, never half."""
    header = {"format": FORMAT, "fingerprint": manifest.fingerprint()}
    body = {"mode": manifest.mode, "dirs": manifest.dirs}
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        # ASCII: json escapes the rest (odd file names too), so no newline either.
        tmp.write_text(json.dumps(header) + "\n" + json.dumps(body, separators=(",", ":")),
                       encoding="ascii")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _load_fingerprint(path: Path) -> str:
    with open(path, "rb") as f:
        return _header_fingerprint(f.readline(), path)


def _load(path: Path) -> Manifest:
    with open(path, "rb") as f:
        _header_fingerprint(f.readline(), path)
        body = json.loads(f.read())
    dirs = body.get("dirs") if isinstance(body, dict) else None
    if not (isinstance(dirs, dict) and isinstance(body.get("mode"), int)
            and all(isinstance(entries, dict) and all(map(_well_formed, entries.values()))
                    for entries in dirs.values())):
        raise ValueError(f"{path} has no format-{FORMAT} entries")
    return Manifest(body["mode"], dirs)


def _well_formed(entry: Any) -> bool:
    if not (isinstance(entry, list) and entry and isinstance(entry[0], int)):
        return False
    if stat.S_ISREG(entry[0]):
        return (len(entry) == 6 and all(isinstance(value, int) for value in entry[1:5])
                and isinstance(entry[5], str))
    if stat.S_ISLNK(entry[0]):
        return len(entry) == 2 and isinstance(entry[1], str)
    return len(entry) == 1


def _header_fingerprint(line: bytes, path: Path) -> str:
    header = json.loads(line)
    fingerprint = header.get("fingerprint") if isinstance(header, dict) else None
    if not (isinstance(fingerprint, str) and header.get("format") == FORMAT):
        raise ValueError(f"{path} is not a format-{FORMAT} manifest")
    return fingerprint


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "special file")


def _modes(old: int, new: int) -> str:
    return f"{stat.filemode(old)} -> {stat.filemode(new)}"


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)
