"""Zip archives: torch ``.pt``/``.bin`` zips, ``.npz``, skops, ``.keras`` -- any zip.

Every member is classified by its content (:mod:`envcheck.inspect.formats`) and walked
by the caller's inspector (a pickle, an object ``.npy``, a nested zip ...), except the
raw tensor storages of a torch zip (``<prefix>/data/<key>`` beside
``<prefix>/data.pkl``), which ``torch.load`` only ever copies into tensors.  In a
TorchScript archive (``<prefix>/constants.pkl``) the ``__torch__.*`` classes its
``code/`` defines are TorchScript's, not Python imports
(:func:`envcheck.inspect.torch_files.drop_torchscript_names`); the TorchScript code itself
is not inspected.

Before any member is read, the archive's directory is judged for expansion bombs (all
refused as a resource finding, before memory or time is spent): more than
:data:`MAX_MEMBERS` members, more than :data:`MAX_UNPACKED` bytes declared in all, a
member larger than :data:`RATIO_FLOOR` that expands more than :data:`MAX_RATIO` times,
members whose data overlap (the non-recursive zip bomb, which also lets two readers see
different bytes), duplicate names (readers disagree on which one counts), and archives
nested more than :data:`MAX_DEPTH` deep.  A member is never decompressed past the size
its directory entry declares (``zipfile`` stops there and checks the CRC).
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import IO, Callable, Optional

from envcheck.inspect.formats import HEAD
from envcheck.inspect.policy import PickleInspection
from envcheck.inspect.torch_files import torchscript_modules

MAX_MEMBERS = 10_000
MAX_UNPACKED = 64 * 1024 ** 3  # declared bytes of all members (a 30B-parameter fp16 zip)
MAX_RATIO = 200  # deflate reaches ~1000x only on data no model has (long runs of zeros)
RATIO_FLOOR = 16 * 1024 ** 2  # smaller members are not judged by their ratio
MAX_DEPTH = 3  # a zip inside a zip inside a zip inside the file
_LOCAL_HEADER = 30  # fixed part of a zip local file header

# The caller's inspector of one member: (path, opener, size, head, label, depth, torch);
# torch: None outside a torch zip, else the TorchScript classes its code defines.
MemberInspector = Callable[[Path, Callable[[], IO[bytes]], int, bytes, str, int,
                            Optional[frozenset[str]]], list[PickleInspection]]


def _refusal(path: Path, label: Optional[str], message: str, archive: str = "zip"
             ) -> list[PickleInspection]:
    return [PickleInspection(path=path, format=archive, member=label, error=message)]


def _too_deep(path: Path, label: Optional[str]) -> list[PickleInspection]:
    return _refusal(path, label, f"resource limit: archives nested more than {MAX_DEPTH} "
                                 "deep; refused as an expansion bomb")


def bomb_problem(infos: list[zipfile.ZipInfo]) -> Optional[str]:
    """Why this directory is refused as an expansion bomb (or malformed), or None."""
    if len(infos) > MAX_MEMBERS:
        return (f"resource limit: {len(infos)} archive members (more than {MAX_MEMBERS}); "
                "refused as an expansion bomb")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNPACKED:
        return (f"resource limit: the archive expands to {total} bytes (more than "
                f"{MAX_UNPACKED}); refused as an expansion bomb")
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(
                info.compress_size, 1):
            return (f"resource limit: member {info.filename!r} expands {info.compress_size}"
                    f" bytes to {info.file_size} (more than {MAX_RATIO} times); refused as "
                    "an expansion bomb")
    names: set[str] = set()
    for info in infos:
        if info.filename in names:
            return (f"member name {info.filename!r} appears twice: loaders disagree on "
                    "which one they read")
        names.add(info.filename)
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for this, after in zip(ordered, ordered[1:]):
        if after.header_offset < this.header_offset + _LOCAL_HEADER + this.compress_size:
            return (f"members {this.filename!r} and {after.filename!r} overlap: refused as "
                    "an expansion bomb (one compressed block read as many files)")
    return None


def torch_prefixes(names: list[str]) -> set[str]:
    """The record prefixes of torch zips (``<prefix>/data.pkl``) in this archive."""
    return {n[:-len("/data.pkl")] for n in names
            if n.endswith("/data.pkl") and n.count("/") == 1}


def _is_storage(name: str, prefixes: set[str]) -> bool:
    prefix, _, rest = name.partition("/")
    return prefix in prefixes and rest.startswith("data/") and "/" not in rest[5:]


def inspect_zip(path: Path, opener: Callable[[], IO[bytes]], label: Optional[str],
                depth: int, inspect_member: MemberInspector) -> list[PickleInspection]:
    """Every pickle inside the zip ``opener()`` yields, one inspection per member."""
    if depth > MAX_DEPTH:
        return _too_deep(path, label)
    out: list[PickleInspection] = []
    with opener() as raw:
        try:
            archive = zipfile.ZipFile(raw)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError,
                NotImplementedError) as exc:
            return _refusal(path, label, f"not a readable zip archive: {exc}")
        with archive:
            infos = archive.infolist()
            problem = bomb_problem(infos)
            if problem is not None:
                return _refusal(path, label, problem)
            names = [i.filename for i in infos]
            prefixes = torch_prefixes(names)
            scripts = {p: torchscript_modules(names, p) for p in prefixes}
            for info in infos:
                if info.is_dir() or _is_storage(info.filename, prefixes):
                    continue
                name = f"{label}!{info.filename}" if label else info.filename
                head, problem = _member_head(archive, info)
                if problem is not None:
                    out.extend(_refusal(path, name, problem))
                    continue
                torch = scripts.get(info.filename.partition("/")[0])
                out.extend(inspect_member(path, _opener(archive, info), info.file_size,
                                          head, name, depth + 1, torch))
    return out


def _opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: archive.open(info)


def _member_head(archive: zipfile.ZipFile, info: zipfile.ZipInfo
                 ) -> tuple[bytes, Optional[str]]:
    if info.flag_bits & 0x1:
        return b"", "encrypted archive member: cannot be inspected"
    try:
        with archive.open(info) as member:
            return member.read(HEAD), None
    except NotImplementedError:
        return b"", (f"archive member compressed with method {info.compress_type}, "
                     "which envcheck cannot open: not inspected")
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
            ValueError) as exc:
        return b"", f"archive member cannot be read: {exc}"


def inspect_tar(path: Path, opener: Callable[[], IO[bytes]], label: Optional[str],
                depth: int, inspect_member: MemberInspector) -> list[PickleInspection]:
    """Every pickle inside an uncompressed tar (as the zip members are found).  Its members
    are stored, not compressed, so they cannot expand -- except sparse ones, refused."""
    if depth > MAX_DEPTH:
        return _too_deep(path, label)
    out: list[PickleInspection] = []
    with opener() as raw:
        try:
            archive = tarfile.open(fileobj=raw, mode="r:")
            members = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            return _refusal(path, label, f"not a readable tar archive: {exc}", "tar")
        if len(members) > MAX_MEMBERS:
            return _refusal(path, label, f"resource limit: {len(members)} archive members "
                                         f"(more than {MAX_MEMBERS}); refused", "tar")
        for member in members:
            if not member.isfile():
                continue  # directories, links (whose data is another member's), devices
            name = f"{label}!{member.name}" if label else member.name
            if member.issparse():
                out.extend(_refusal(path, name, "resource limit: a sparse tar member "
                                                "(expands holes); refused", "tar"))
                continue
            opener_ = _tar_opener(archive, member)
            with opener_() as data:
                head = data.read(HEAD)
            out.extend(inspect_member(path, opener_, member.size, head, name, depth + 1,
                                      None))
    return out


def _tar_opener(archive: tarfile.TarFile, member: tarfile.TarInfo
                ) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        handle = archive.extractfile(member)
        assert handle is not None  # a regular file always has data
        return handle
    return open_member
