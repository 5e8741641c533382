"""envcheck.inspect.artifacts: every format a pickle hides in, on the real corpus.

fixtures/formats/benign holds files written by the real libraries (torch 2.13.0, numpy
2.4.6, skops 0.16.0, xgboost 3.2.0, lightgbm 4.7.0, skl2onnx 1.20.0, safetensors 0.8.0,
dill, cloudpickle); fixtures/formats/malicious a file per container technique whose
payload the generator proved to run under the real loader (MANIFEST.json).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "pickles"))

from envcheck.inspect.artifacts import inspect_all, inspect_artifact, is_inspected
from envcheck.inspect.pickles import check_safety
from envcheck.inspect.sniff import find_pickles
from envcheck.model.findings import Severity, Status
from envcheck.model.package import ModelPackage

FORMATS = Path(__file__).resolve().parents[2] / "fixtures" / "formats"
BENIGN = FORMATS / "benign"
MALICIOUS = FORMATS / "malicious"
MANIFEST = json.loads((MALICIOUS / "MANIFEST.json").read_text())
SENTINEL = "ENVCHECK_PWNED"
# Real files that build functions from code: refused as dangerous (see README, formats).
CODE_BUILDERS = {"dill_function.pkl": "dill._dill._create_function",
                 "cloudpickle_function.pkl": "cloudpickle.cloudpickle._make_function"}


def _pkg(root: Path) -> ModelPackage:
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py", pins={}, metadata={})


def _benign_files() -> list[Path]:
    return sorted(p for p in BENIGN.rglob("*") if p.is_file())


def test_the_corpus_covers_every_format_and_its_payloads_are_real() -> None:
    names = {p.name for p in _benign_files()}
    assert {"torch_state_dict.pt", "torch_legacy_state_dict.pt", "arrays.npz",
            "labels_object.npy", "pipeline.skops", "pipeline.onnx", "xgboost_model.json",
            "xgboost_model.ubj", "lightgbm_model.txt", "model.safetensors", "model.keras",
            "config.json"} <= names
    proven = {n for n, e in MANIFEST.items() if e.get("payload_runs")}
    assert proven == {"torch_zip_data_pkl.pt", "npz_pickle_member.npz", "model.bin",
                      "object_array_payload.npy", "torch_legacy_fourth_pickle.pt"}
    assert all(p.stat().st_size < 200_000 for p in _benign_files())


@pytest.mark.parametrize("path", _benign_files(), ids=lambda p: p.name)
def test_real_files_pass_or_are_refused_only_for_building_code(path: Path) -> None:
    inspections = inspect_artifact(path)
    check = check_safety(_pkg(BENIGN), inspections, trusted=[])
    if path.name in CODE_BUILDERS:
        assert check.status is Status.FAIL
        assert any(f"imports {CODE_BUILDERS[path.name]} at byte" in f.message
                   and f.details["dangerous"] for f in check.findings)
        return
    assert check.status is Status.PASS, [f.message for f in check.findings]
    assert all(i.error is None and not i.unsafe for i in inspections)


@pytest.mark.parametrize("name, member, fmt", [
    ("torch_state_dict.pt", "torch_state_dict/data.pkl", "torch-zip"),
    ("torch_checkpoint.bin", "torch_checkpoint/data.pkl", "torch-zip"),
    ("torch_legacy_state_dict.pt", None, "torch-legacy"),
    ("arrays.npz", "labels.npy", "npy-object"),
    ("labels_object.npy", None, "npy-object"),
    ("pipeline.skops", "schema.json", "skops"),
])
def test_each_pickle_stream_is_found_and_named(name: str, member: str, fmt: str) -> None:
    inspections = inspect_artifact(BENIGN / name)
    assert [(i.member, i.format) for i in inspections] == [(member, fmt)]
    assert inspections[0].globals or fmt == "npy-object"


def test_torch_storages_and_plain_arrays_are_not_walked() -> None:
    # the state dict's data/0, data/1 ... are raw tensor bytes; .npy without objects and
    # a compressed npz of floats hold no pickle at all
    assert len(inspect_artifact(BENIGN / "torch_state_dict.pt")) == 1
    assert inspect_artifact(BENIGN / "weights.npy") == []
    assert inspect_artifact(BENIGN / "arrays_compressed.npz") == []


@pytest.mark.parametrize("name, words", [
    ("torch_zip_data_pkl.pt", "torch_zip_data_pkl.pt!archive/data.pkl: imports os.system"),
    ("npz_pickle_member.npz", "npz_pickle_member.npz!evil.npy: imports os.system"),
    ("torchscript_os_system.pt", "torchscript_os_system.pt!m/data.pkl: imports os.system"),
    ("torchscript_os_system.pt", "torchscript_os_system.pt!m/data.pkl: imports "
                                 "__torch__.evil.Run at byte 2: dunder name"),
    ("object_array_payload.npy", "object_array_payload.npy: imports os.system"),
    ("torch_legacy_fourth_pickle.pt", "torch_legacy_fourth_pickle.pt: imports os.system"),
    ("skops_schema_os_system.skops",
     "skops_schema_os_system.skops!schema.json: imports os.system"),
    ("model.bin", "model.bin: imports os.system at byte 0"),
    ("zip_in_zip_pickle.zip", "archives nested more than 3 deep; refused as an expansion bomb"),
    ("zip_ratio_bomb.zip", "expands 20387 bytes to 20971520 (more than 200 times); refused "
                           "as an expansion bomb"),
    ("zip_overlap_bomb.zip", "members 'a' and 'b' overlap: refused as an expansion bomb"),
    ("archive.7z", "archive.7z: cannot be inspected (7z archive: envcheck cannot open this "
                   "format, so what it holds was not inspected"),
    # refused by the VM's expansion accounting before the key is even built
    ("hash_bomb_dup.pkl", "(resource limit: expansion bomb: a value that expands to "
                          "4194303 values from 46 bytes"),
    ("hash_bomb_memo.pkl", "(resource limit: expansion bomb: a value that expands to "
                           "4194303 values from 109 bytes"),
])
def test_every_malicious_file_is_refused_before_anything_runs(
        name: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a payload that ran would create ./ENVCHECK_PWNED
    check = check_safety(_pkg(MALICIOUS), inspect_artifact(MALICIOUS / name), trusted=[])
    assert check.id == "pickle.safety" and check.status is Status.FAIL
    assert any(words in f.message and f.severity is Severity.ERROR for f in check.findings), \
        [f.message for f in check.findings]
    assert not any(p.name.startswith(SENTINEL) for p in tmp_path.iterdir())


def test_a_key_sharing_sub_tuples_within_the_limit_passes(tmp_path: Path) -> None:
    import make_corpus as mc  # the opcode assembler (fixtures/pickles on sys.path)

    # {(t, t): 1} with t a 3-level shared tuple: 14 elements hashed, far below the limit
    data = mc.proto(4) + mc.EMPTY_DICT + mc.EMPTY_TUPLE + b"2\x86" * 3 + mc.NONE + b"s" \
        + mc.STOP
    (tmp_path / "k.pkl").write_bytes(data)
    assert inspect_artifact(tmp_path / "k.pkl")[0].safe


def test_findings_give_the_offset_inside_the_member() -> None:
    inspection, = inspect_artifact(MALICIOUS / "torch_zip_data_pkl.pt")
    ref, = [u for u in inspection.unsafe if u.module == "os"]
    assert ref.offset == 2  # PROTO 2, then the GLOBAL opcode at byte 2 of data.pkl


def test_every_malicious_file_is_sniffed_whatever_its_name(tmp_path: Path) -> None:
    for i, source in enumerate(sorted(p for p in MALICIOUS.iterdir()
                                      if p.name != "MANIFEST.json")):
        shutil.copy(source, tmp_path / f"blob{i}.data")  # no suffix says what it is
    found = find_pickles(tmp_path, [])
    assert len(found.pickles) == len(MANIFEST)
    check = check_safety(_pkg(tmp_path), inspect_all(found.pickles), trusted=[])
    assert check.status is Status.FAIL
    assert {f.file.split("!")[0] for f in check.findings if f.severity is Severity.ERROR} \
        == {p.name for p in found.pickles}


def test_text_and_unknown_binaries_are_not_inspected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Prose that ends with a full stop.")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    (tmp_path / "data.json").write_text('{"a": 1}')
    assert not any(is_inspected(p) for p in tmp_path.iterdir())
    assert find_pickles(tmp_path, []).pickles == []


def test_a_file_envcheck_cannot_read_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04" + bytes(40))  # a zip signature and nothing else
    inspection, = inspect_artifact(path)
    assert inspection.error is not None and "not a readable zip archive" in inspection.error


_CONTAINERS = [(BENIGN / n).read_bytes() for n in (
    "torch_state_dict.pt", "torch_legacy_state_dict.pt", "arrays.npz", "labels_object.npy",
    "pipeline.onnx", "model.safetensors", "xgboost_model.ubj", "torchscript_model.pt")]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), flips=st.integers(1, 8),
       which=st.integers(0, len(_CONTAINERS) - 1), cut=st.booleans())
def test_mutated_real_containers_never_raise(tmp_path: Path, seed: int, flips: int,
                                             which: int, cut: bool) -> None:
    (tmp_path / "model.pt").write_bytes(mutated(_CONTAINERS[which], seed, flips, cut))
    # a clean walk or a fail-closed error: never an exception, never an inspector bug
    for inspection in inspect_artifact(tmp_path / "model.pt"):
        assert inspection.error is None or not inspection.error.startswith("internal"), \
            inspection.error
