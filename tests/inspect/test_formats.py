"""envcheck.inspect.formats: what a file is, from its first bytes."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from envcheck.inspect import formats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "pickles"))
import make_corpus as mc  # noqa: E402


def _kind(data: bytes) -> object:
    return formats.kind_of(data[:formats.HEAD], len(data), lambda: io.BytesIO(data))


@pytest.mark.parametrize("data, kind", [
    (b"PK\x03\x04" + bytes(30), formats.ZIP),
    (b"PK\x05\x06" + bytes(18), formats.ZIP),  # an empty zip
    (b"\x93NUMPY\x01\x00", formats.NPY),
    (mc.proto(2) + mc.NONE + mc.STOP, formats.PICKLE),
    (mc.proto(5) + mc.NONE + mc.STOP, formats.PICKLE),
    (mc.os_system_p0() + mc.STOP, formats.PICKLE),  # protocol 0: no magic at all
    (mc.glob("os", "system") + mc.EMPTY_TUPLE + mc.REDUCE + mc.STOP, formats.PICKLE),
    (mc.proto(2) + formats.TORCH_LEGACY_MAGIC + mc.STOP, formats.TORCH_LEGACY),
    (mc.proto(4) + b"\x95" + bytes(8) + formats.TORCH_LEGACY_MAGIC + mc.STOP,
     formats.TORCH_LEGACY),
    (b"7z\xbc\xaf\x27\x1c" + bytes(30), formats.UNOPENABLE_ARCHIVE),
    (b"Rar!\x1a\x07\x00" + bytes(30), formats.UNOPENABLE_ARCHIVE),
    (b"\x28\xb5\x2f\xfd" + bytes(30), formats.UNOPENABLE_ARCHIVE),
    (bytes(257) + b"ustar\x0000" + bytes(250), formats.TAR),
    (b"Prose that ends in a full stop.", None),  # walked as protocol 0, rejected
    (b"x" + b"not zlib at all", None),  # 'x' is zlib's magic: decompressing decides
    (b"\x00" * 64, None),
])
def test_kinds_by_content(data: bytes, kind: object) -> None:
    assert _kind(data) == kind


@pytest.mark.parametrize("data, name", [
    (b"7z\xbc\xaf\x27\x1c", "7z archive"), (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"), (b"MSCF", "CAB archive"),
])
def test_unopenable_formats_are_named(data: bytes, name: str) -> None:
    assert formats.unopenable(data + bytes(10)) == name
