"""The manifest's file: what ``envcheck.env.manifest`` writes and reads back.

Two lines of JSON, the first small so that the fast path parses only it (see the
manifest module for what the entries mean and why the fast path is enough)::

    {"format": 1, "fingerprint": "<sha256 hex>"}
    {"mode": <the root's st_mode>, "dirs": {"<dir>": {"<name>": <entry>, ...}, ...}}
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

FORMAT = 1
_IDENTITY = struct.Struct("<QQqqQ")  # st_mode, st_size, st_mtime_ns, st_ctime_ns, st_ino
_COUNT = struct.Struct("<Q")

Entry = list[Any]  # see the manifest module's docstring: [st_mode, ...] by type
Record = tuple[str, Entry, str]  # what the fingerprint takes: name, 5 ints, link target


@dataclass(frozen=True)
class Manifest:
    mode: int  # the root's st_mode
    dirs: dict[str, dict[str, Entry]]  # dir relative to the root -> name -> entry

    def __len__(self) -> int:
        """The number of entries under the root."""
        return sum(len(entries) for entries in self.dirs.values())

    def sha256(self, rel: str) -> Optional[str]:
        """The recorded sha256 of the regular file at ``rel`` ('/'-separated), or None."""
        folder, _, name = rel.rpartition("/")
        entry = self.dirs.get(folder, {}).get(name)
        return entry[5] if entry is not None and stat.S_ISREG(entry[0]) else None

    def fingerprint(self) -> str:
        """The digest of every recorded identity that the fast path compares."""
        return identities_digest(self.mode, {
            rel: [fingerprint_record(name, entries[name]) for name in sorted(entries)]
            for rel, entries in self.dirs.items()})


def fingerprint_record(name: str, entry: Entry) -> Record:
    """What the fingerprint takes of an entry: all but a file's sha256."""
    if stat.S_ISREG(entry[0]):
        return name, entry[:5], ""
    return name, [entry[0], 0, 0, 0, 0], entry[1] if stat.S_ISLNK(entry[0]) else ""


def identities_digest(root_mode: int, dirs: dict[str, list[Record]]) -> str:
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


def store_manifest(manifest: Manifest, path: Path) -> None:
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


def read_fingerprint(path: Path) -> str:
    with open(path, "rb") as f:
        return header_fingerprint(f.readline(), path)


def read_manifest(path: Path) -> Manifest:
    with open(path, "rb") as f:
        header_fingerprint(f.readline(), path)
        body = json.loads(f.read())
    dirs = body.get("dirs") if isinstance(body, dict) else None
    if not (isinstance(dirs, dict) and isinstance(body.get("mode"), int)
            and all(isinstance(entries, dict) and all(map(well_formed, entries.values()))
                    for entries in dirs.values())):
        raise ValueError(f"{path} has no format-{FORMAT} entries")
    return Manifest(body["mode"], dirs)


def well_formed(entry: Any) -> bool:
    if not (isinstance(entry, list) and entry and isinstance(entry[0], int)):
        return False
    if stat.S_ISREG(entry[0]):
        return (len(entry) == 6 and all(isinstance(value, int) for value in entry[1:5])
                and isinstance(entry[5], str))
    if stat.S_ISLNK(entry[0]):
        return len(entry) == 2 and isinstance(entry[1], str)
    return len(entry) == 1


def header_fingerprint(line: bytes, path: Path) -> str:
    header = json.loads(line)
    fingerprint = header.get("fingerprint") if isinstance(header, dict) else None
    if not (isinstance(fingerprint, str) and header.get("format") == FORMAT):
        raise ValueError(f"{path} is not a format-{FORMAT} manifest")
    return fingerprint
