"""ONNX models: the IR version and opsets they need, against what onnxruntime supports.

An ONNX file is a protobuf ``ModelProto``.  Only four of its fields matter here, so a
minimal reader of the protobuf wire format (varints and length-delimited fields, the
rest skipped) replaces a dependency on ``onnx``/``protobuf``: ``ir_version`` (field 1),
``producer_name`` (2), ``producer_version`` (3) and ``opset_import`` (8, each an
``OperatorSetIdProto``: ``domain`` 1, ``version`` 2).  The graph itself (field 7, the
bulk of the file) is skipped without being read.

:data:`ONNXRUNTIME_SUPPORT` is the "version matrix" of ONNX Runtime's compatibility
documentation (onnxruntime.ai/docs/reference/compatibility.html, the same table as
docs/Versioning.md in the onnxruntime repository): per release, the highest ai.onnx
opset, ai.onnx.ml opset and IR version it implements.  A release newer than the table
is taken to support at least its last row; one older than the first row is not judged.
"""

from __future__ import annotations

from typing import IO, Optional

from packaging.version import InvalidVersion, Version

# onnxruntime minor release -> (ai.onnx opset, ai.onnx.ml opset, IR version)
ONNXRUNTIME_SUPPORT: dict[tuple[int, int], tuple[int, int, int]] = {
    (1, 0): (11, 2, 6), (1, 1): (11, 2, 6), (1, 2): (11, 2, 6), (1, 3): (12, 2, 7),
    (1, 4): (12, 2, 7), (1, 5): (12, 2, 7), (1, 6): (13, 2, 7), (1, 7): (13, 2, 7),
    (1, 8): (14, 2, 7), (1, 9): (15, 2, 7), (1, 10): (15, 2, 8), (1, 11): (15, 2, 8),
    (1, 12): (16, 2, 8), (1, 13): (17, 3, 8), (1, 14): (18, 3, 8), (1, 15): (19, 3, 9),
    (1, 16): (19, 3, 9), (1, 17): (20, 4, 9), (1, 18): (21, 4, 10), (1, 19): (21, 4, 10),
    (1, 20): (21, 4, 10), (1, 21): (22, 5, 10), (1, 22): (23, 5, 11),
}
_DOMAINS = {"": "ai.onnx", "ai.onnx": "ai.onnx", "ai.onnx.ml": "ai.onnx.ml"}
MAX_FIELDS = 1_000_000  # top-level fields read before giving up (a real model has < 100)


class ProtobufError(ValueError):
    pass


def _varint(data: IO[bytes]) -> int:
    shift = value = 0
    while True:
        byte = data.read(1)
        if not byte:
            raise ProtobufError("truncated varint")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ProtobufError("varint longer than 10 bytes")


def _fields(data: IO[bytes], end: int):  # -> Iterator[(field, wire type, value or length)]
    count = 0
    while data.tell() < end:
        count += 1
        if count > MAX_FIELDS:
            raise ProtobufError("too many fields")
        key = _varint(data)
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, _varint(data)
        elif wire == 2:
            length = _varint(data)
            if data.tell() + length > end:
                raise ProtobufError("field runs past the end of the message")
            yield number, wire, length
        elif wire in (1, 5):
            data.seek(8 if wire == 1 else 4, 1)
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def read_model(data: IO[bytes], size: int) -> dict:
    """``{"ir_version", "producer", "opsets": {domain: version}}`` of a ModelProto."""
    out: dict = {"ir_version": None, "producer": "", "opsets": {}}
    producer = ["", ""]
    for number, wire, value in _fields(data, size):
        if wire != 2:
            if number == 1:
                out["ir_version"] = value
            continue
        start = data.tell()
        if number in (2, 3):
            producer[number - 2] = data.read(min(value, 256)).decode("utf-8", "replace")
        elif number == 8:
            domain, version = "", None
            for sub, sub_wire, sub_value in _fields(data, start + value):
                if sub == 1 and sub_wire == 2:
                    domain = data.read(min(sub_value, 256)).decode("utf-8", "replace")
                elif sub == 2 and sub_wire == 0:
                    version = sub_value
                elif sub_wire == 2:
                    data.seek(sub_value, 1)
            if version is not None:
                out["opsets"][domain] = max(version, out["opsets"].get(domain, 0))
        data.seek(start + value)
    if out["ir_version"] is None or not out["opsets"]:
        raise ProtobufError("no ir_version or opset_import: not an ONNX model")
    out["producer"] = " ".join(p for p in producer if p)
    return out


def requirement_text(model: dict) -> str:
    """What the model needs, as RecordedVersion.version: "ir=8;ai.onnx=17;ai.onnx.ml=3"."""
    parts = [f"ir={model['ir_version']}"]
    for domain, version in sorted(model["opsets"].items()):
        name = _DOMAINS.get(domain)
        if name:
            parts.append(f"{name}={version}")
    return ";".join(parts)


def onnxruntime_problem(needs: str, onnxruntime: str) -> Optional[str]:
    """Why that onnxruntime release cannot run a model needing ``needs``, or None."""
    try:
        release = Version(onnxruntime).release
    except InvalidVersion:
        return None
    key = (release[0], release[1] if len(release) > 1 else 0)
    newest = max(ONNXRUNTIME_SUPPORT)
    row = ONNXRUNTIME_SUPPORT.get(min(key, newest))
    if row is None:  # older than the table (or a gap in it): not judged
        return None
    opset, ml_opset, ir = row
    limits = {"ir": ir, "ai.onnx": opset, "ai.onnx.ml": ml_opset}
    names = {"ir": "IR version", "ai.onnx": "ai.onnx opset", "ai.onnx.ml": "ai.onnx.ml opset"}
    for part in needs.split(";"):
        name, _, value = part.partition("=")
        if name in limits and value.isdigit() and int(value) > limits[name]:
            return (f"it needs {names[name]} {value}, and onnxruntime {key[0]}.{key[1]} "
                    f"supports up to {limits[name]}")
    return None
