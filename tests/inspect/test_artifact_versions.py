"""envcheck.inspect.artifact_versions: versions in xgboost/LightGBM/HF/Keras files, and
safetensors headers that must be well-formed."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest

from envcheck.inspect.artifact_versions import reader_for
from envcheck.inspect.artifacts import inspect_artifact

BENIGN = Path(__file__).resolve().parents[2] / "fixtures" / "formats" / "benign"


@pytest.mark.parametrize("name, library, version", [
    ("xgboost_model.json", "xgboost", "3.2.0"),
    ("xgboost_model.ubj", "xgboost", "3.2.0"),
    ("lightgbm_model.txt", "lightgbm", "4.0"),
    ("hf-model/config.json", "transformers", "4.44.2"),
    ("model.keras", "keras", "3.6.0"),
    ("pipeline.skops", "skops", "0.16.0"),
])
def test_the_version_each_real_file_records(name: str, library: str, version: str) -> None:
    inspection, = inspect_artifact(BENIGN / name)
    assert [(r.distribution, r.version) for r in inspection.recorded] == [(library, version)]
    assert inspection.error is None


def test_the_readers_go_by_content_not_by_suffix(tmp_path: Path) -> None:
    for source in ("xgboost_model.json", "xgboost_model.ubj", "lightgbm_model.txt"):
        data = (BENIGN / source).read_bytes()
        assert reader_for("weights.bin", data[:512]) is not None
    assert reader_for("model.json", b'{"trees": []}') is None
    assert reader_for("notes/config.json", b'{"a": 1}') == "hf-config"
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')  # nothing recorded
    assert inspect_artifact(tmp_path / "config.json") == []


@pytest.mark.parametrize("generation, recorded, problem", [
    ("v3", "2.3", None), ("v2", "2.0", None),
    ("v9", None, "model format v9, which no known lightgbm writes"),
])
def test_lightgbm_format_generations(tmp_path: Path, generation: str, recorded: str,
                                     problem: str) -> None:
    text = (BENIGN / "lightgbm_model.txt").read_text()
    (tmp_path / "m.txt").write_text(text.replace("version=v4", f"version={generation}"))
    found = inspect_artifact(tmp_path / "m.txt")
    assert [r.version for i in found for r in i.recorded] == ([recorded] if recorded else [])
    assert [i.error for i in found if i.error] == ([f"lightgbm-text: {problem}"] if problem
                                                   else [])


def _safetensors(header: dict, data: bytes, length: int = -1) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length < 0 else length) + text + data


def test_the_real_safetensors_file_is_well_formed() -> None:
    inspection, = inspect_artifact(BENIGN / "model.safetensors")
    assert inspection.format == "safetensors" and inspection.error is None
    assert not inspection.walked


@pytest.mark.parametrize("header, data, words", [
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12),
     "tensor 'b' starts at 4, expected 8 (overlapping or with a gap)"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(4),
     "tensor data ends at byte"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8),
     "shape [3] of F32 needs 12 bytes, its offsets span 8"),
    ({"a": {"dtype": "PY_OBJECT", "shape": [1], "data_offsets": [0, 8]}}, bytes(8),
     "unknown dtype 'PY_OBJECT'"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, bytes(8),
     "invalid data_offsets [8, 0]"),
    ({"__metadata__": {"format": "pt"}, "a": [1]}, b"", "is not described by an object"),
])
def test_malformed_safetensors_headers_fail_closed(tmp_path: Path, header: dict, data: bytes,
                                                   words: str) -> None:
    (tmp_path / "m.safetensors").write_bytes(_safetensors(header, data))
    inspection, = inspect_artifact(tmp_path / "m.safetensors")
    assert inspection.error is not None and words in inspection.error


def test_a_header_length_past_the_end_is_not_safetensors_at_all(tmp_path: Path) -> None:
    # the 8-byte length is how the format is recognised: a lie makes it no safetensors
    (tmp_path / "m.safetensors").write_bytes(_safetensors({}, b"", length=10_000))
    assert inspect_artifact(tmp_path / "m.safetensors") == []


def test_a_keras_archive_without_metadata_records_nothing(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as archive:
        archive.writestr("config.json", '{"class_name": "Sequential"}')
    assert inspect_artifact(tmp_path / "m.keras") == []
