"""Every artifact format that can hide a pickle or record a version: one dispatcher.

:func:`inspect_artifact` reads a file's first bytes (:mod:`envcheck.inspect.formats`) and
hands it to the inspector of that format, recursively for archive members:

=====================  ==========================================================
plain pickle, joblib   :func:`envcheck.inspect.pickles.inspect_stream`
zip (torch, npz, any)  :mod:`envcheck.inspect.archives`, each member by content
legacy torch.save      :mod:`envcheck.inspect.torch_files` (five pickles + storages)
``.npy``               :mod:`envcheck.inspect.npy` (the pickle of an object array)
skops                  :mod:`envcheck.inspect.skops_files` (its schema's types)
tar (uncompressed)     :mod:`envcheck.inspect.archives`, each member by content
7z, RAR, zstd, CAB     refused: envcheck cannot open them (fails closed)
models with versions   :mod:`envcheck.inspect.artifact_versions`
=====================  ==========================================================

One file yields one inspection per pickle stream (or versioned document) it holds; the
inspection of an archive member names it (``member``, shown as ``model.pt!archive/data.pkl``).
"""

from __future__ import annotations

import os
import stat
import time
import zipfile
from pathlib import Path
from typing import IO, Callable, Optional

from envcheck.inspect import archives, artifact_versions, formats, npy, skops_files
from envcheck.inspect.pickle_vm import VM
from envcheck.inspect.pickles import INTERNAL_ERROR, PICKLE_SUFFIXES, inspect_stream
from envcheck.inspect.policy import PickleInspection
from envcheck.inspect.torch_files import TorchVM, drop_torchscript_names, inspect_legacy

Opener = Callable[[], IO[bytes]]


def is_inspected(path: Path) -> bool:
    """Whether ``path`` is a pickle, holds one, or records versions (by content), or has
    a pickle suffix (then inspected whatever it holds)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return path.suffix.lower() in PICKLE_SUFFIXES  # inspection reports the error
    if not stat.S_ISREG(st.st_mode):  # never open a FIFO (blocks) or a device
        return False
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as raw:  # one open for both ends: most files are neither
            head = raw.read(formats.HEAD)
            if st.st_size > len(head):
                raw.seek(max(st.st_size - 22, 0))
            tail = raw.read(22) if st.st_size > len(head) else head
    except OSError:
        return False
    opener: Opener = lambda: open(path, "rb")  # noqa: E731
    return bool(head) and (formats.kind_of(head, st.st_size, opener, tail) is not None
                           or artifact_versions.reader_for(path.name, head) is not None
                           or formats.tail_is_zip(tail))


def inspect_artifact(path: Path, max_bytes: Optional[int] = None) -> list[PickleInspection]:
    """Every pickle stream (and versioned document) in the file.  Never raises."""
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return [PickleInspection(path=path, error="not a regular file")]
        if max_bytes is not None and st.st_size > max_bytes:
            return [PickleInspection(path=path, size=st.st_size, error=(
                f"{st.st_size} bytes is more than the {max_bytes}-byte limit"))]
        with open(path, "rb") as raw:
            head = raw.read(formats.HEAD)
        return _Inspector(max_bytes).any(path, lambda: open(path, "rb"), st.st_size, head,
                                         None, 0, None)
    except OSError as exc:
        return [PickleInspection(path=path, error=f"cannot read: {exc.strerror or exc}")]
    except Exception as exc:  # a bug in the inspector must still fail closed
        return [PickleInspection(path=path, error=f"{INTERNAL_ERROR}: "
                                                  f"{type(exc).__name__}: {exc}")]


class _Inspector:
    def __init__(self, max_bytes: Optional[int]) -> None:
        self.max_bytes = max_bytes

    def any(self, path: Path, opener: Opener, size: int, head: bytes, label: Optional[str],
            depth: int, torch: Optional[frozenset[str]]) -> list[PickleInspection]:
        """The inspections of the bytes ``opener()`` yields (a file or a member)."""
        start = time.perf_counter()
        try:
            out = self._dispatch(path, opener, size, head, label, depth, torch)
        except zipfile.BadZipFile as exc:  # a member's CRC or header is wrong
            out = [PickleInspection(path=path, member=label, size=size,
                                    error=f"archive member cannot be read: {exc}")]
        for insp in out:
            if not insp.duration_s:
                insp.duration_s = time.perf_counter() - start
        return out

    def _dispatch(self, path: Path, opener: Opener, size: int, head: bytes,
                  label: Optional[str], depth: int, torch: Optional[frozenset[str]]
                  ) -> list[PickleInspection]:
        name = (label or path.name).rsplit("!", 1)[-1]
        kind = formats.kind_of(head, size, opener)
        if kind is None and label is None and formats.ends_like_zip(opener, size):
            kind = formats.ZIP  # a file (not a member: seeking one is decompressing it)
        if kind == formats.ZIP:
            return archives.inspect_zip(path, opener, label, depth, self.any)
        if kind == formats.TAR:
            return archives.inspect_tar(path, opener, label, depth, self.any)
        if label is not None and name == "schema.json" and head.lstrip()[:1] == b"{":
            return [skops_files.inspect_schema(path, opener, size, label)]
        if label is not None and name == "metadata.json" and head.lstrip()[:1] == b"{":
            return _versions("keras", path, opener, size, label)
        result = PickleInspection(path=path, member=label, size=size)
        seekable = label is None  # a member seeks by decompressing
        if kind == formats.UNOPENABLE_ARCHIVE:
            result.format = str(formats.unopenable(head))
            result.error = (f"{result.format}: envcheck cannot open this format, so what "
                            "it holds was not inspected; ship its files unarchived or as zip")
        elif kind == formats.TORCH_LEGACY:
            inspect_legacy(opener, result, self.max_bytes, seekable)
        elif kind == formats.NPY:
            result.format = "npy"
            inner = npy.object_pickle(opener, result)
            if inner is not None:
                result.format = "npy-object"
                # numpy.load(allow_pickle=True) is pickle.load: no joblib reading.
                inspect_stream(inner, result, self.max_bytes, seekable=True, joblib=False)
            elif result.error is None:
                return []  # a plain array: no pickle, nothing recorded
        elif kind in (formats.PICKLE, formats.COMPRESSED_PICKLE) or (
                kind is None and label is None and Path(name).suffix.lower()
                in PICKLE_SUFFIXES):
            if torch is not None:
                result.format = "torchscript" if torch else "torch-zip"
            inspect_stream(opener, result, self.max_bytes, seekable=seekable,
                           joblib=torch is None, vm_class=VM if torch is None else TorchVM)
            if torch:
                drop_torchscript_names(result, torch)
        elif kind == formats.SAFETENSORS:
            return [artifact_versions.read("safetensors", path, opener, size, label)]
        else:
            reader = artifact_versions.reader_for(name, head)
            if reader is None or (reader == "hf-config" and label is not None):
                return []  # a config.json inside an archive is that format's own
            return _versions(reader, path, opener, size, label)
        return [result]


def _versions(reader: str, path: Path, opener: Opener, size: int, label: Optional[str]
              ) -> list[PickleInspection]:
    """A document that records versions: reported when it records one or is malformed."""
    found = artifact_versions.read(reader, path, opener, size, label)
    return [found] if found.recorded or found.error else []


def inspect_all(paths: list[Path]) -> list[PickleInspection]:
    """The inspections of every file, in order."""
    return [insp for path in paths for insp in inspect_artifact(path)]
