"""What a file (or an archive member) is, from its first bytes: never from its name.

Each loader a model package may call picks its format by content too (``torch.load``
checks for a zip's ``PK\\x03\\x04``, ``numpy.load`` for ``\\x93NUMPY`` or a zip,
``joblib.load`` for its compressors' magic numbers, ``pickle.load`` reads anything), so
envcheck must classify a file the way they do: a protocol-0 pickle named ``model.bin``
is a pickle.  Protocols 0 and 1 have no magic: a candidate (first byte an opcode, last
byte STOP) is a pickle when the static VM walks it cleanly to its last byte.
"""

from __future__ import annotations

import os
from typing import IO, Callable, Optional

from envcheck.inspect.containers import detect_compressor, open_stream
from envcheck.inspect.pickle_reader import Reader
from envcheck.inspect.pickle_values import Collector, PickleError
from envcheck.inspect.pickle_vm import VM

ZIP = "zip"
NPY = "npy"
PICKLE = "pickle"
COMPRESSED_PICKLE = "compressed-pickle"  # joblib's compressors (or joblib < 0.9.3's ZF)
TORCH_LEGACY = "torch-legacy"  # torch.save(..., _use_new_zipfile_serialization=False)
SAFETENSORS = "safetensors"
TAR = "tar"  # uncompressed: torch.load's oldest format is one (its members are pickles)
UNOPENABLE_ARCHIVE = "unopenable"  # see :func:`unopenable` for which

# Archive formats no loader in a model package reads by itself and envcheck cannot open
# without a new dependency: they fail closed (what is inside was not inspected).
UNOPENABLE = (
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"MSCF", "CAB archive"),
    (b"\x1f\x9d", "compress (.Z) data"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
NPY_MAGIC = b"\x93NUMPY"
# pickle.dumps(torch.serialization.MAGIC_NUMBER): LONG1 of 10 bytes, the first of the
# legacy format's pickles.
TORCH_LEGACY_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
HEAD = 512  # bytes a caller reads for :func:`kind_of` (a tar header is 512)

# Opcodes a protocol 0/1 pickle can start with (pickletools.opcodes, protocols < 2).
_FIRST_OPCODES = frozenset(b"(.0123456789FGIJKLMNPSTUVXacdeghijlopqrstu}])")
MAX_SNIFF_BYTES = 64 * 1024 * 1024  # a larger protocol 0/1 candidate counts as a pickle
# without a confirming walk (inspection walks it anyway): no text file is that big and
# shaped like one.


def unopenable(head: bytes) -> Optional[str]:
    """The name of an archive format envcheck cannot open, or None."""
    for magic, name in UNOPENABLE:
        if head.startswith(magic):
            return name
    return None


def is_tar_head(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def is_pickle_head(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def kind_of(head: bytes, size: int, opener: Callable[[], IO[bytes]],
            tail: Optional[bytes] = None) -> Optional[str]:
    """The format of the bytes ``opener()`` yields (``head`` are their first bytes; the
    last ones in ``tail`` when the caller has them, which saves opening it again)."""
    if head.startswith(_ZIP_MAGIC):
        return ZIP
    if head.startswith(NPY_MAGIC):
        return NPY
    if unopenable(head):
        return UNOPENABLE_ARCHIVE
    if is_tar_head(head):
        return TAR
    if is_pickle_head(head):
        at = 2 if head[1] < 4 else 11  # protocol 4+ opens a FRAME (opcode + 8 bytes)
        if head[at:at + len(TORCH_LEGACY_MAGIC)] == TORCH_LEGACY_MAGIC:
            return TORCH_LEGACY
        return PICKLE
    if _is_safetensors(head, size):
        return SAFETENSORS
    compressor = detect_compressor(head)
    if compressor == "compat":
        return COMPRESSED_PICKLE
    if compressor is not None and _decompresses_to_pickle(compressor, opener):
        return COMPRESSED_PICKLE
    if head[:1] and head[0] in _FIRST_OPCODES and (tail is None or tail[-1:] == b".") \
            and is_old_protocol_pickle(opener, size):
        return PICKLE
    return None


def tail_is_zip(tail: bytes) -> bool:
    """The last 22+ bytes end in a zip's end-of-directory record (see ends_like_zip)."""
    return len(tail) >= 22 and tail[-22:-18] == b"PK\x05\x06"


def ends_like_zip(opener: Callable[[], IO[bytes]], size: int) -> bool:
    """A zip with data before it (a self-extractor's layout): ``zipfile`` -- and so an
    ``interface.py`` that opens it -- finds the directory from the end of the file."""
    if size < 22:
        return False
    with opener() as handle:
        handle.seek(size - 22)
        return tail_is_zip(handle.read(22))


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= size - 8


def _decompresses_to_pickle(compressor: str, opener: Callable[[], IO[bytes]]) -> bool:
    try:
        with opener() as raw:
            return is_pickle_head(open_stream(compressor, raw).read(2))
    except Exception:  # not a compressed pickle after all (or lz4 missing)
        return False


def is_old_protocol_pickle(opener: Callable[[], IO[bytes]], size: int) -> bool:
    """A protocol 0 or 1 pickle: starts with an opcode, ends with STOP, walks cleanly."""
    try:
        with opener() as handle:
            first = handle.read(1)
            handle.seek(-1, os.SEEK_END)
            last = handle.read(1)
            if not first or first[0] not in _FIRST_OPCODES or last[0:1] != b".":
                return False
            if size > MAX_SNIFF_BYTES:
                return True
            handle.seek(0)
            reader = Reader(handle)
            vm = VM(reader, Collector(), raw_arrays=False, py_framing=False)
            vm.run()
            return reader.at_eof()
    except (OSError, PickleError, ValueError, IndexError, KeyError, TypeError, RecursionError,
            MemoryError, OverflowError, EOFError):
        return False
