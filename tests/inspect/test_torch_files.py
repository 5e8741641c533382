"""envcheck.inspect.torch_files: legacy torch.save files, every byte accounted for."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from envcheck.inspect.artifacts import inspect_artifact
from envcheck.inspect.formats import TORCH_LEGACY, kind_of
from envcheck.inspect.torch_files import torchscript_modules

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BENIGN = FIXTURES / "formats" / "benign"
sys.path.insert(0, str(FIXTURES / "pickles"))
import make_corpus as mc  # noqa: E402

MAGIC = mc.proto(2) + b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + mc.STOP
VERSION = mc.proto(2) + b"M" + struct.pack("<H", 1001) + mc.STOP
SYS_INFO = mc.proto(2) + mc.EMPTY_DICT + mc.STOP


def _tensor(key: str, numel: int) -> bytes:
    """_rebuild_tensor_v2(<storage pid>, 0, (numel,), (1,), False, OrderedDict())"""
    pid = (mc.MARK + mc.s0("storage") + mc.glob("torch", "FloatStorage") + mc.s0(key)
           + mc.s0("cpu") + mc.binint(numel) + mc.NONE + mc.TUPLE + b"Q")
    return (mc.glob("torch._utils", "_rebuild_tensor_v2") + mc.MARK + pid + mc.binint(0)
            + mc.binint(numel) + mc.TUPLE1 + mc.binint(1) + mc.TUPLE1 + mc.NEWFALSE
            + mc.glob("collections", "OrderedDict") + mc.EMPTY_TUPLE + mc.REDUCE + mc.TUPLE
            + mc.REDUCE)


def _legacy(obj: bytes, keys: list[str], tail: bytes) -> bytes:
    key_list = mc.proto(2) + mc.MARK + b"".join(mc.s0(k) for k in keys) + b"l" + mc.STOP
    return MAGIC + VERSION + SYS_INFO + mc.proto(2) + obj + mc.STOP + key_list + tail


def _inspect(tmp_path: Path, data: bytes):
    path = tmp_path / "model.pt"
    path.write_bytes(data)
    inspection, = inspect_artifact(path)
    return inspection


def _storage(count: int, itemsize: int = 4) -> bytes:
    return struct.pack("<q", count) + bytes(count * itemsize)


def test_real_legacy_files_pass_and_are_recognised() -> None:
    for name in ("torch_legacy_state_dict.pt", "torch_legacy_double.pt"):
        data = (BENIGN / name).read_bytes()
        assert kind_of(data[:512], len(data), lambda: open(BENIGN / name, "rb")) \
            == TORCH_LEGACY
        inspection, = inspect_artifact(BENIGN / name)
        assert inspection.format == "torch-legacy" and inspection.safe, inspection.error
        assert ("torch._utils", "_rebuild_tensor_v2") in {(g.module, g.name)
                                                          for g in inspection.globals}


def test_a_hand_made_legacy_file_with_exact_storages_passes(tmp_path: Path) -> None:
    inspection = _inspect(tmp_path, _legacy(_tensor("k1", 3), ["k1"], _storage(3)))
    assert inspection.safe, (inspection.error, inspection.unsafe)


@pytest.mark.parametrize("tail, words", [
    (_storage(3) + mc.proto(2) + mc.NONE + mc.STOP, "data after the last storage"),
    (_storage(2), "storage 'k1' holds 2 elements, its tensor says 3"),
    (struct.pack("<q", 3) + bytes(5), "storage data: pickle data was truncated"),
])
def test_storage_bytes_must_match_the_tensors_exactly(tmp_path: Path, tail: bytes,
                                                      words: str) -> None:
    inspection = _inspect(tmp_path, _legacy(_tensor("k1", 3), ["k1"], tail))
    assert inspection.error is not None and words in inspection.error


def test_a_listed_storage_no_tensor_uses_is_refused(tmp_path: Path) -> None:
    inspection = _inspect(tmp_path, _legacy(_tensor("k1", 3), ["k1", "k2"], _storage(3)))
    assert inspection.error == ("legacy torch file: storage 'k2' is listed but no tensor "
                                "uses it")


def test_a_payload_in_any_of_the_five_pickles_is_found(tmp_path: Path) -> None:
    payload = mc.os_system_p4() + mc.STOP
    for position in range(5):
        parts = [MAGIC, VERSION, SYS_INFO, mc.proto(2) + mc.NONE + mc.STOP,
                 mc.proto(2) + b"]" + mc.STOP]
        parts[position] = mc.proto(4) + payload
        inspection = _inspect(tmp_path, b"".join(parts))
        assert ("os", "system") in {(u.module, u.name) for u in inspection.unsafe}, position


def test_a_wrong_protocol_version_is_refused(tmp_path: Path) -> None:
    other = mc.proto(2) + b"M" + struct.pack("<H", 1000) + mc.STOP
    inspection = _inspect(tmp_path, MAGIC + other + SYS_INFO + mc.proto(2) + mc.NONE
                          + mc.STOP + mc.proto(2) + b"]" + mc.STOP)
    assert inspection.error == ("legacy torch file: protocol version 1000, torch reads only "
                                "1001")


def test_a_module_persistent_id_is_accepted_and_others_refused(tmp_path: Path) -> None:
    module = (mc.MARK + mc.s0("module") + mc.glob("collections", "OrderedDict") + mc.NONE
              + mc.NONE + mc.TUPLE + b"Q")
    assert _inspect(tmp_path, _legacy(module, [], b"")).safe
    other = mc.MARK + mc.s0("tensorflow") + mc.TUPLE + b"Q"
    ref, = _inspect(tmp_path, _legacy(other, [], b"")).unsafe
    assert ref.dangerous and "needs a custom loader" in ref.reason


def test_a_real_torchscript_archive_passes_as_torchscript() -> None:
    inspections = inspect_artifact(BENIGN / "torchscript_model.pt")
    assert {i.format for i in inspections} == {"torchscript"}
    assert all(i.safe for i in inspections)
    data_pkl, = [i for i in inspections if i.member == "torchscript_model/data.pkl"]
    assert ("__torch__.torch.nn.modules.linear", "Linear") in {
        (g.module, g.name) for g in data_pkl.globals}


def test_torchscript_classes_must_be_defined_by_the_archive_code() -> None:
    names = ["m/data.pkl", "m/constants.pkl", "m/code/__torch__/a/b.py",
             "m/code/__torch__/a/b.py.debug_pkl", "m/code/other.py"]
    assert torchscript_modules(names, "m") == {"__torch__.a.b"}
    assert torchscript_modules(["m/data.pkl", "m/code/__torch__/a.py"], "m") == set()
