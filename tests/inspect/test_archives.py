"""envcheck.inspect.archives: zip members by content, expansion bombs refused up front."""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from envcheck.inspect import archives
from envcheck.inspect.artifacts import inspect_artifact

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "pickles"))
import make_corpus as mc  # noqa: E402

PAYLOAD = mc.proto(2) + mc.glob("os", "system") + mc.s0("true") + mc.TUPLE1 + mc.REDUCE \
    + mc.STOP


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _errors(path: Path) -> list[str]:
    return [i.error for i in inspect_artifact(path) if i.error]


def test_a_pickle_at_any_member_name_is_walked(tmp_path: Path) -> None:
    path = _zip(tmp_path / "bundle.zip", {"docs/readme.txt": b"hello.",
                                          "assets/x.weights": PAYLOAD}, zipfile.ZIP_DEFLATED)
    inspection, = inspect_artifact(path)
    assert inspection.member == "assets/x.weights"
    assert [(u.module, u.name) for u in inspection.unsafe] == [("os", "system")]


def test_nested_members_are_named_with_the_whole_path(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("model.pkl", PAYLOAD)
    path = _zip(tmp_path / "outer.zip", {"inner.npz": inner.getvalue()})
    inspection, = inspect_artifact(path)
    assert inspection.member == "inner.npz!model.pkl" and inspection.unsafe


def test_torch_storages_are_skipped_even_when_they_look_like_pickles(tmp_path: Path) -> None:
    # a float tensor's bytes may start with 0x80 0x02: torch.load never unpickles them
    path = _zip(tmp_path / "m.pt", {"m/data.pkl": mc.proto(2) + mc.EMPTY_DICT + mc.STOP,
                                    "m/data/0": PAYLOAD, "m/version": b"3\n"})
    assert [i.member for i in inspect_artifact(path)] == ["m/data.pkl"]
    # ... but the same bytes elsewhere in the same archive are walked
    path = _zip(tmp_path / "n.pt", {"m/data.pkl": mc.proto(2) + mc.EMPTY_DICT + mc.STOP,
                                    "m/extra/0": PAYLOAD})
    assert [i.member for i in inspect_artifact(path) if i.unsafe] == ["m/extra/0"]


def test_a_torch_data_pkl_may_use_storage_persistent_ids_only(tmp_path: Path) -> None:
    storage = (mc.MARK + mc.s0("storage") + mc.glob("torch", "FloatStorage") + mc.s0("0")
               + mc.s0("cpu") + mc.binint(2) + mc.TUPLE + b"Q")
    path = _zip(tmp_path / "m.pt", {"m/data.pkl": mc.proto(2) + storage + mc.STOP})
    assert inspect_artifact(path)[0].safe
    odd = mc.MARK + mc.s0("storage") + mc.glob("torch", "FloatStorage") + mc.TUPLE + b"Q"
    path = _zip(tmp_path / "o.pt", {"m/data.pkl": mc.proto(2) + odd + mc.STOP})
    ref, = inspect_artifact(path)[0].unsafe
    assert "persistent id that torch.load does not read as a storage" in ref.reason
    assert ref.dangerous


@pytest.mark.parametrize("limit, value, words", [
    ("MAX_MEMBERS", 3, "5 archive members (more than 3)"),
    ("MAX_UNPACKED", 4000, "the archive expands to 5000 bytes (more than 4000)"),
])
def test_directory_limits_are_resource_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               limit: str, value: int, words: str) -> None:
    monkeypatch.setattr(archives, limit, value)
    path = _zip(tmp_path / "m.zip", {f"f{i}": bytes(1000) for i in range(5)})
    error, = _errors(path)
    assert words in error and error.startswith("resource limit:")


def test_a_high_ratio_member_is_refused_before_it_is_decompressed(tmp_path: Path) -> None:
    path = _zip(tmp_path / "m.zip", {"zeros": bytes(17 * 1024 * 1024)}, zipfile.ZIP_DEFLATED)
    error, = _errors(path)
    assert "member 'zeros' expands" in error and "(more than 200 times)" in error
    # the same data stored is only large, not a bomb
    assert _errors(_zip(tmp_path / "s.zip", {"zeros": bytes(17 * 1024 * 1024)})) == []


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("m/data.pkl", mc.proto(2) + mc.NONE + mc.STOP)
        with pytest.warns(UserWarning):
            archive.writestr("m/data.pkl", PAYLOAD)
    assert _errors(path) == ["member name 'm/data.pkl' appears twice: loaders disagree on "
                             "which one they read"]


def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_DEPTH", 1)
    data = PAYLOAD
    for level in range(3):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"l{level}.zip" if level else "model.pkl", data)
        data = buffer.getvalue()
    (tmp_path / "deep.zip").write_bytes(data)
    inspection, = inspect_artifact(tmp_path / "deep.zip")
    assert inspection.member == "l2.zip!l1.zip"
    assert inspection.error == ("resource limit: archives nested more than 1 deep; refused "
                                "as an expansion bomb")


def test_encrypted_and_unsupported_members_fail_closed(tmp_path: Path) -> None:
    path = _zip(tmp_path / "e.zip", {"model.pkl": PAYLOAD})
    data = bytearray(path.read_bytes())
    data[6] |= 1  # the local header's encryption flag ...
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 1  # ... and the directory's
    path.write_bytes(bytes(data))
    assert _errors(path) == ["encrypted archive member: cannot be inspected"]
    path = _zip(tmp_path / "u.zip", {"model.pkl": PAYLOAD})
    data = bytearray(path.read_bytes())
    for at in (8, data.index(b"PK\x01\x02") + 10):  # compression method 93 (zstd)
        data[at:at + 2] = (93).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    error, = _errors(path)
    assert "compressed with method 93, which envcheck cannot open" in error


def test_a_corrupt_member_fails_closed(tmp_path: Path) -> None:
    path = _zip(tmp_path / "c.zip", {"model.pkl": mc.proto(2) + mc.u("x" * 300) + mc.STOP})
    data = bytearray(path.read_bytes())
    data[data.index(b"xxxx")] = ord("y")  # the CRC no longer matches
    path.write_bytes(bytes(data))
    error, = _errors(path)
    assert "Bad CRC-32" in error


def test_a_zip_behind_other_bytes_is_opened_like_zipfile_opens_it(tmp_path: Path) -> None:
    # zipfile finds the directory from the end: data before the zip does not hide it
    archive = _zip(tmp_path / "a.zip", {"model.pkl": PAYLOAD}).read_bytes()
    (tmp_path / "model.bin").write_bytes(b"#!/bin/sh\nexit 0\n" + archive)
    with zipfile.ZipFile(tmp_path / "model.bin") as check:  # what interface.py would see
        assert check.read("model.pkl") == PAYLOAD
    inspection, = inspect_artifact(tmp_path / "model.bin")
    assert inspection.member == "model.pkl" and not inspection.safe


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_tar_members_are_walked_and_named(tmp_path: Path) -> None:
    # torch.load's oldest format is a tar whose members are pickles: tar is opened, not
    # refused, and a data tarball passes
    path = _tar(tmp_path / "model.tar", {"sys_info": PAYLOAD, "notes.txt": b"hello."})
    inspection, = inspect_artifact(path)
    assert inspection.member == "sys_info" and ("os", "system") in {
        (u.module, u.name) for u in inspection.unsafe}
    assert inspect_artifact(_tar(tmp_path / "data.tar", {"a.csv": b"x,y\n1,2\n"})) == []


def test_a_tar_inside_a_zip_is_walked(tmp_path: Path) -> None:
    inner = _tar(tmp_path / "inner.tar", {"m.pkl": PAYLOAD}).read_bytes()
    inspection, = inspect_artifact(_zip(tmp_path / "o.zip", {"inner.tar": inner}))
    assert inspection.member == "inner.tar!m.pkl" and not inspection.safe


def test_a_truncated_tar_fails_closed(tmp_path: Path) -> None:
    data = _tar(tmp_path / "t.tar", {"m.pkl": PAYLOAD * 20}).read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[:600])
    assert _errors(tmp_path / "cut.tar") == ["not a readable tar archive: unexpected end of "
                                             "data"]


def test_a_tar_with_too_many_members_is_a_resource_refusal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_MEMBERS", 2)
    path = _tar(tmp_path / "m.tar", {f"f{i}": b"x" for i in range(3)})
    inspection, = inspect_artifact(path)
    assert (inspection.format, inspection.error) == (
        "tar", "resource limit: 3 archive members (more than 2); refused")
