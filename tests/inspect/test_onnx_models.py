"""envcheck.inspect.onnx_models: a protobuf reader for four ModelProto fields."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from envcheck.inspect.onnx_models import (
    ONNXRUNTIME_SUPPORT,
    ProtobufError,
    onnxruntime_problem,
    read_model,
    requirement_text,
)

ONNX = Path(__file__).resolve().parents[2] / "fixtures" / "formats" / "benign" / "pipeline.onnx"


def _varint(n: int) -> bytes:
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _model(ir: int, opsets: dict[str, int], graph: bytes = b"") -> bytes:
    out = _varint(1 << 3) + _varint(ir) + _field(2, b"test") + _field(3, b"0.1")
    for domain, version in opsets.items():
        out += _field(8, _field(1, domain.encode()) + _varint(2 << 3) + _varint(version))
    return out + _field(7, graph)


def test_the_real_skl2onnx_model_is_read() -> None:
    data = ONNX.read_bytes()
    model = read_model(io.BytesIO(data), len(data))
    assert model == {"ir_version": 10, "producer": "skl2onnx 1.20.0",
                     "opsets": {"ai.onnx.ml": 1, "": 9}}
    assert requirement_text(model) == "ir=10;ai.onnx=9;ai.onnx.ml=1"


def test_the_graph_is_skipped_not_read() -> None:
    data = _model(8, {"": 17}, graph=b"\xff" * 100_000)  # not valid protobuf inside
    assert read_model(io.BytesIO(data), len(data))["opsets"] == {"": 17}


@pytest.mark.parametrize("data, words", [
    (b"\x08", "truncated varint"),
    (_varint(1 << 3) + _varint(8), "no ir_version or opset_import"),
    (_varint(2 << 3 | 2) + _varint(50) + b"x", "runs past the end"),
    (_varint(1 << 3 | 3), "unsupported wire type 3"),
])
def test_what_is_not_a_model_fails(data: bytes, words: str) -> None:
    with pytest.raises(ProtobufError, match=words):
        read_model(io.BytesIO(data), len(data))


@pytest.mark.parametrize("needs, ort, problem", [
    ("ir=10;ai.onnx=9;ai.onnx.ml=1", "1.14.1", "it needs IR version 10, and onnxruntime 1.14 "
                                               "supports up to 8"),
    ("ir=8;ai.onnx=18", "1.13.1", "it needs ai.onnx opset 18, and onnxruntime 1.13 supports "
                                  "up to 17"),
    ("ir=8;ai.onnx.ml=4", "1.16.3", "it needs ai.onnx.ml opset 4, and onnxruntime 1.16 "
                                    "supports up to 3"),
    ("ir=10;ai.onnx=21", "1.18.0", None),
    ("ir=11;ai.onnx=23", "1.30.0", None),  # newer than the table: its last row
    ("ir=3;ai.onnx=8", "0.5.0", None),  # older than the table: not judged
])
def test_the_onnxruntime_table(needs: str, ort: str, problem: str) -> None:
    assert onnxruntime_problem(needs, ort) == problem


def test_the_table_never_goes_backwards() -> None:
    rows = [ONNXRUNTIME_SUPPORT[k] for k in sorted(ONNXRUNTIME_SUPPORT)]
    assert all(all(a <= b for a, b in zip(x, y)) for x, y in zip(rows, rows[1:]))
