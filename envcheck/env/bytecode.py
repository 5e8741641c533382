"""The bytecode store: each distribution's ``.pyc`` files compiled once, linked into every
env that installs the same wheel (so a pin bump compiles only the distribution that moved).

Layout under the cache root, beside ``envs/``::

    bytecode/<key>/entry.json     what the entry was compiled from (see Target.facts)
    bytecode/<key>/pycs/          the pycs, laid out as in site-packages
    bytecode/<key>/manifest.json  the manifest of pycs/ (envcheck.env.manifest)
    bytecode/<key>/COMPLETE       written last: only then is the entry linked from
    locks/bc-<key>.lock           one writer (or linker) of an entry at a time

Why a pyc can never be used for another source.  The key is the sha256 of the entry's
facts: distribution, version, wheel tag, interpreter version and cache tag, and the
sha256 of every source file, taken from the wheel's RECORD *and* checked against the
file on disk.  An env links an entry only if the facts of its own distribution -- its
files hashed again, there and then -- are exactly the entry's, so every linked pyc sits
beside the byte-identical source it was compiled from.  The pycs are PEP 552
``unchecked-hash`` pycs: valid wherever that source lands, whatever its mtime.  Before
an entry is linked its manifest is verified (a changed, added or removed pyc: the entry
is removed and the distribution compiled locally), and the env's own manifest, written
after linking, covers the linked pycs too.  The pycs are read-only (0444) and hard links
share one inode, so the sandbox keeping every env read-only keeps the store read-only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import uuid
from base64 import urlsafe_b64decode
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from envcheck.env import distributions, manifest
from envcheck.env.interpreters import Interpreter
from envcheck.model.files import read_json_object, write_text_atomic

STORE = "bytecode"
ENTRY = "entry.json"
MANIFEST = "manifest.json"
MARKER = "COMPLETE"
FORMAT = 1
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked at import
_MAX_RECORD_BYTES = 32 << 20
# The test suites wheels ship (pandas/tests, sklearn/*/tests: half the files of the
# scientific stack) are never imported to load a model and predict: they get no pyc.
# Importing one anyway still works, compiled in memory like any module without one.
SKIPPED_DIRS = frozenset({"tests", "test", "__pycache__"})

Journal = Callable[..., None]  # EnvCache._journal(event, key, **fields)


@dataclass(frozen=True)
class Target:
    """One distribution of one env, as the store keys it."""

    name: str  # canonical
    version: str
    tag: str  # the wheel's tags (WHEEL "Tag:" lines, sorted, joined)
    python: str  # the interpreter's version
    cache_tag: str  # "cpython-311": the pycs' file names
    site: Path  # the site-packages directory holding the distribution
    sources: tuple[tuple[str, str], ...]  # (path in site-packages, sha256 hex), sorted

    def facts(self) -> dict[str, Any]:
        return {"format": FORMAT, "name": self.name, "version": self.version,
                "tag": self.tag, "python": self.python, "cache_tag": self.cache_tag,
                "sources": [list(source) for source in self.sources]}

    @property
    def key(self) -> str:
        return entry_key(self.facts())

    def pyc(self, rel: str) -> str:
        """Where the interpreter looks for the pyc of ``rel`` (relative, '/'-separated)."""
        folder, _, name = rel.rpartition("/")
        pyc = f"__pycache__/{name[:-3]}.{self.cache_tag}.pyc"
        return f"{folder}/{pyc}" if folder else pyc


def entry_key(facts: dict[str, Any]) -> str:
    blob = json.dumps(facts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cache_tag(interpreter: Interpreter) -> Optional[str]:
    """The pycs' tag, for the interpreters the store serves (CPython 3.7+: PEP 552)."""
    parts = interpreter.version.split(".")
    if interpreter.implementation != "cpython" or len(parts) < 2 or not all(
            p.isdigit() for p in parts[:2]) or (int(parts[0]), int(parts[1])) < (3, 7):
        return None
    return f"cpython-{parts[0]}{parts[1]}"


def supported(interpreter: Interpreter) -> bool:
    return cache_tag(interpreter) is not None


# --------------------------------------------------------------------------- targets


def targets(venv: Path, interpreter: Interpreter, check_files: bool = True) -> list[Target]:
    """The env's distributions the store can serve: installed from a wheel whose RECORD
    hashes every ``.py`` file with sha256, and whose files on disk match those hashes
    (``check_files=False``: not hashed here; ``bytecode_env.settle`` compares them with
    the env's manifest, which hashes every file anyway)."""
    tag = cache_tag(interpreter)
    if tag is None:
        return []
    found = []
    for name, dist in sorted(distributions.installed_distributions(venv).items()):
        if not dist.path.name.endswith(".dist-info") or not dist.path.is_dir():
            continue
        target = _target(name, dist.version, dist.path, interpreter.version, tag,
                         check_files)
        if target is not None:
            found.append(target)
    return found


def _target(name: str, version: str, info: Path, python: str, tag: str,
            check_files: bool = True) -> Optional[Target]:
    site = info.parent
    try:
        wheel = _read_small(info / "WHEEL").decode("utf-8", "replace")
        record = _read_small(info / "RECORD").decode("utf-8", "replace")
    except OSError:
        return None
    tags = sorted(line.split(":", 1)[1].strip() for line in wheel.splitlines()
                  if line.lower().startswith("tag:"))
    sources = []
    for row in csv.reader(record.splitlines()):
        if len(row) < 2 or not row[0].endswith(".py") or not _plain_relative(row[0]):
            continue
        if not SKIPPED_DIRS.isdisjoint(row[0].split("/")[:-1]):
            continue
        algorithm, _, encoded = row[1].partition("=")
        if algorithm != "sha256":
            return None  # a source the RECORD does not pin: compile this one locally
        try:
            recorded = urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()
            if check_files and manifest.file_sha256(site / row[0]) != recorded:
                return None  # the file is not what the wheel installed
        except (OSError, ValueError):
            return None
        sources.append((row[0], recorded))
    if not tags or not sources:
        return None
    return Target(name, version, " ".join(tags), python, tag, site, tuple(sorted(sources)))


def _plain_relative(rel: str) -> bool:
    """A path inside site-packages: relative, no ``..``, nothing odd in its names."""
    parts = rel.split("/")
    return (not rel.startswith("/") and "\\" not in rel and "\0" not in rel
            and "\n" not in rel and all(p not in ("", ".", "..") for p in parts))


def _read_small(path: Path) -> bytes:
    fd = manifest.open_regular(path)
    try:
        data = os.read(fd, _MAX_RECORD_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_RECORD_BYTES:
        raise OSError(f"{path} is too large")
    return data


def pyc_flags(path: Path) -> Optional[int]:
    """The PEP 552 flags word of a pyc's header (0: timestamp; 1: unchecked hash)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(8)
    except OSError:
        return None
    return int.from_bytes(header[4:8], "little") if len(header) == 8 else None


# --------------------------------------------------------------------------- entries


def store_dir(root: Path) -> Path:
    return Path(root) / STORE


def entry_lock(root: Path, key: str) -> Any:
    from filelock import FileLock

    locks = Path(root) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(str(locks / f"bc-{key}.lock"))


def entry_problem(entry: Path, facts: Optional[dict[str, Any]] = None,
                  pycs: bool = True) -> Optional[str]:
    """Why the entry may not be linked from (incomplete, or changed), or None
    (``pycs=False``: its pycs are not verified here; see ``bytecode_env.settle``)."""
    if not (entry / MARKER).is_file():
        return "it has no completion marker (an interrupted compile)"
    recorded = read_json_object(entry / ENTRY)
    if recorded is None or entry_key(recorded) != entry.name or (
            facts is not None and recorded != facts):
        return "its entry.json does not match its key"
    if not pycs:
        return None
    differences = manifest.verify_manifest(entry / "pycs", entry / MANIFEST)
    if differences:
        return f"its pycs changed since they were compiled ({'; '.join(differences[:3])})"
    return None


def remove_entry(entry: Path) -> None:
    """Marker first (the entry stops counting at once), then the rest."""
    try:
        (entry / MARKER).unlink()
    except FileNotFoundError:
        pass
    aside = entry.with_name(f".{entry.name}.{uuid.uuid4().hex[:8]}.removed")
    try:
        os.rename(entry, aside)
    except OSError:
        aside = entry
    shutil.rmtree(aside, ignore_errors=True)


def link(root: Path, target: Target, journal: Journal, verify: bool = True
         ) -> tuple[Optional[int], str]:
    """Link the entry's pycs into the env: (pycs linked, "") or (None, why not).

    ``verify=False``: the pycs are linked unverified, and ``bytecode_env.settle`` compares
    them with the entry's manifest once the env's own manifest has hashed them (each pyc hashed
    once, not twice: linking changes an inode's st_ctime, so verifying the entry before
    each link re-hashed all of it every time)."""
    from filelock import Timeout

    entry = store_dir(root) / target.key
    if not entry.is_dir():
        return None, ""
    lock = entry_lock(root, target.key)
    try:
        lock.acquire(timeout=600)
    except Timeout:
        return None, "its lock is held by another envcheck"
    try:
        problem = entry_problem(entry, target.facts(), pycs=verify)
        if problem is not None:
            # An incomplete one was interrupted (its writer holds this lock until the
            # marker is written): adopt() replaces it.  A changed one goes now.
            if (entry / MARKER).is_file():
                journal("bytecode-discard", target.key, name=target.name)
                remove_entry(entry)
            return None, problem
        count = _link_all(entry / "pycs", target)
        os.utime(entry / MARKER)  # last used
    finally:
        lock.release()
    journal("bytecode-linked", target.key, name=target.name, version=target.version,
            pycs=count)
    return count, ""


def adopt(root: Path, target: Target, journal: Journal) -> bool:
    """Put the pycs just compiled into the env into the store (hard links to them).

    Only pycs of unchecked-hash kind that this build compiled (the caller removed any
    the wheel shipped before compiling) are taken; the entry is written marker-last."""
    from filelock import Timeout

    lock = entry_lock(root, target.key)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False  # another build is storing the same entry
    try:
        entry = store_dir(root) / target.key
        if (entry / MARKER).is_file():
            return False
        if entry.exists():
            remove_entry(entry)  # an interrupted compile: never used, replaced
        pycs = entry / "pycs"
        pycs.mkdir(parents=True)
        for rel, _sha in target.sources:
            pyc = target.pyc(rel)
            source = target.site / pyc
            if pyc_flags(source) != UNCHECKED_HASH or source.is_symlink():
                continue
            if source.stat().st_mode & 0o777 != 0o444:  # bytecode_env.provide() did
                os.chmod(source, 0o444)  # read-only, in the env and in the store alike
            (pycs / pyc).parent.mkdir(parents=True, exist_ok=True)
            _place(source, pycs / pyc)
        write_text_atomic(entry / ENTRY, json.dumps(target.facts(), sort_keys=True))
        manifest.write_manifest(pycs, entry / MANIFEST)
        write_text_atomic(entry / MARKER, target.key)  # last: now it may be linked from
    finally:
        lock.release()
    journal("bytecode-stored", target.key, name=target.name, version=target.version)
    return True


def _link_all(pycs: Path, target: Target) -> int:
    """Link every pyc the entry has into the env; how many.  (Strings and one link call
    a file: 2,000 of them are linked in a cold check.)"""
    count, made = 0, set()
    for rel, _sha in target.sources:
        pyc = target.pyc(rel)
        source, dest = os.path.join(pycs, pyc), os.path.join(target.site, pyc)
        folder = os.path.dirname(dest)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        try:
            os.link(source, dest)
        except FileNotFoundError:
            continue  # the source did not compile: no pyc, in the store as here
        except OSError:  # one the wheel shipped (replaced), another filesystem (copied)
            _place(Path(source), Path(dest))
        count += 1
    return count


def _place(source: Path, dest: Path) -> None:
    """Hard-link ``source`` at ``dest`` (a copy across filesystems), replacing any file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        os.link(source, tmp)
    except OSError:  # EXDEV, EMLINK, a filesystem without hard links
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o444)
    os.replace(tmp, dest)


def entries(root: Path) -> Iterator[Path]:
    store = store_dir(root)
    if store.is_dir():
        for entry in sorted(store.iterdir()):
            if entry.is_dir() and not entry.name.startswith("."):
                yield entry
