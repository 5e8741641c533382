"""envcheck.inspect.npy: the pickle of an object array, after numpy's header."""

from __future__ import annotations

import io
import struct
import sys
from pathlib import Path

import pytest

from envcheck.inspect.artifacts import inspect_artifact
from envcheck.inspect.npy import holds_objects, read_header

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
sys.path.insert(0, str(FIXTURES / "pickles"))
import make_corpus as mc  # noqa: E402


def _npy(header: str, body: bytes, version: int = 1) -> bytes:
    text = header.encode("latin1")
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + body


@pytest.mark.parametrize("descr, objects", [
    ("|O", True), ("<f8", False), ("|S3", False), ([("a", "<i4"), ("b", "|O")], True),
    ([("a", "<i4"), ("b", [("c", "|O")])], True), ([("a", "<f4", (2,))], False),
])
def test_which_dtypes_hold_python_objects(descr: object, objects: bool) -> None:
    assert holds_objects(descr) is objects


def test_header_versions_and_the_data_offset() -> None:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
    for version, start in ((1, 10), (2, 12), (3, 12)):
        parsed, offset = read_header(io.BytesIO(_npy(header, bytes(16), version)))
        assert parsed["shape"] == (2,) and offset == start + len(header)


@pytest.mark.parametrize("data, words", [
    (_npy("{'descr': '|O'}", b""), "not numpy's descr/fortran_order/shape dict"),
    (_npy("__import__('os')", b""), "malformed .npy header"),
    (b"\x93NUMPY\x01\x00" + struct.pack("<H", 20000) + bytes(20000),
     "header of 20000 bytes (numpy reads at most 10000)"),
    (b"\x93NUMPY\x09\x00", "not a .npy file of a known version"),
])
def test_headers_numpy_would_not_read_fail_closed(tmp_path: Path, data: bytes,
                                                  words: str) -> None:
    (tmp_path / "a.npy").write_bytes(data)
    inspection, = inspect_artifact(tmp_path / "a.npy")
    assert inspection.error is not None and words in inspection.error


def test_an_object_array_pickle_is_walked_as_pickle_load_reads_it(tmp_path: Path) -> None:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    (tmp_path / "a.npy").write_bytes(_npy(header, mc.proto(4) + mc.os_system_p4() + mc.STOP))
    inspection, = inspect_artifact(tmp_path / "a.npy")
    assert inspection.format == "npy-object"
    assert [(u.module, u.name) for u in inspection.unsafe] == [("os", "system")]
    # pickle.load stops at STOP: bytes after it are np.load's business, not a second pickle
    (tmp_path / "b.npy").write_bytes(_npy(header, mc.proto(4) + mc.NONE + mc.STOP + b"x"))
    inspection, = inspect_artifact(tmp_path / "b.npy")
    assert inspection.error is not None and "after the pickle's STOP" in inspection.error
