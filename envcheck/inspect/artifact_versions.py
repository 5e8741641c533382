"""Versions recorded in artifacts that are not pickles, and safetensors well-formedness.

Each reader is chosen by content (the first bytes), and by name only where the format is
JSON without a signature of its own (Hugging Face's ``config.json``):

* xgboost JSON models (``{"learner": ...}``) and UBJSON models (the same document in
  UBJSON): ``"version": [major, minor, patch]`` at the end, written by every xgboost
  since 1.0.  xgboost reads models written by older releases, so a newer pin is fine.
* LightGBM text models (``tree\\nversion=v4``): only the model format generation is
  written -- ``v2`` since lightgbm 2.0, ``v3`` since 2.3.0 (LightGBM pull request 2269),
  ``v4`` since 4.0.0 -- compared as "that release or later" (:data:`LIGHTGBM_FORMATS`).
* ONNX models (:mod:`envcheck.inspect.onnx_models`): IR version and opsets against the
  pinned onnxruntime.
* ``.keras`` archives (``metadata.json``: ``keras_version``) and skops files
  (``schema.json``: ``_skops_version``, each estimator's ``_sklearn_version``) are zips:
  :mod:`envcheck.inspect.archives` hands their members here.
* Hugging Face ``config.json``: ``transformers_version``.
* safetensors: an 8-byte little-endian header length, a JSON header whose tensors'
  ``data_offsets`` lie inside the file, in order, without overlap or gaps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import IO, Callable, Optional

from envcheck.inspect import onnx_models
from envcheck.inspect.policy import PickleInspection
from envcheck.inspect.versions import RecordedVersion, xgboost_version

MAX_JSON = 16 * 1024 * 1024  # a config/metadata/schema file larger than this is not parsed
_TAIL = 4096  # xgboost writes "version" last
_XGB_JSON = re.compile(rb'\A\s*\{\s*"learner"\s*:')
_XGB_UBJ = re.compile(rb"\A\{(?:[iU]\x07|I\x00\x07|l\x00{3}\x07|L\x00{7}\x07)learner")
_LGB = re.compile(rb"\Atree\r?\nversion=v(\d+)\r?\n")
# LightGBM model format generation -> the first lightgbm release that writes it.
LIGHTGBM_FORMATS = {"2": "2.0", "3": "2.3", "4": "4.0"}
_SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2,
                       "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
                       "F64": 8, "I64": 8, "U64": 8, "C64": 8}

Opener = Callable[[], IO[bytes]]


def reader_for(name: str, head: bytes) -> Optional[str]:
    """Which version reader applies to a file called ``name`` starting with ``head``."""
    if _XGB_JSON.match(head):
        return "xgboost-json"
    if _XGB_UBJ.match(head):
        return "xgboost-ubj"
    if _LGB.match(head):
        return "lightgbm-text"
    lower = name.rsplit("/", 1)[-1].lower()
    if lower.endswith(".onnx") and head[:1] == b"\x08":
        return "onnx"
    if lower == "config.json" and head.lstrip()[:1] == b"{":
        return "hf-config"
    return None


def read(kind: str, path: Path, opener: Opener, size: int, label: Optional[str]
         ) -> PickleInspection:
    """One non-pickle artifact: what it records (``recorded``), or what is wrong."""
    result = PickleInspection(path=path, format=kind, member=label, walked=False, size=size)
    try:
        with opener() as data:
            problem = _READERS[kind](data, size, result)
    except (ValueError, OSError, EOFError, RecursionError, MemoryError) as exc:
        problem = str(exc)
    if problem is not None:
        result.error = f"{kind}: {problem}"
    return result


def _xgboost(data: IO[bytes], size: int, result: PickleInspection) -> Optional[str]:
    data.seek(max(0, size - _TAIL))
    found = xgboost_version(data.read(_TAIL))
    if found:
        result.recorded.append(RecordedVersion("xgboost", found, "the xgboost model"))
    return None


def _lightgbm(data: IO[bytes], size: int, result: PickleInspection) -> Optional[str]:
    match = _LGB.match(data.read(64))
    if match is None:
        return None
    generation = match.group(1).decode()
    first = LIGHTGBM_FORMATS.get(generation)
    if first is None:
        return f"model format v{generation}, which no known lightgbm writes"
    result.recorded.append(RecordedVersion(
        "lightgbm", first, f"the LightGBM model (format v{generation})",
        shown=f"{first} or later"))
    return None


def _onnx(data: IO[bytes], size: int, result: PickleInspection) -> Optional[str]:
    try:
        model = onnx_models.read_model(data, size)
    except onnx_models.ProtobufError as exc:
        return f"not a readable ONNX model: {exc}"
    needs = onnx_models.requirement_text(model)
    result.recorded.append(RecordedVersion(
        "onnxruntime", needs, f"the ONNX model ({needs.replace(';', ', ')}"
        + (f", by {model['producer']}" if model["producer"] else "") + ")", rule="onnx"))
    return None


def load_json(data: IO[bytes], size: int) -> object:
    if size > MAX_JSON:
        raise ValueError(f"{size} bytes of JSON is more than the {MAX_JSON}-byte limit")
    return json.loads(data.read(MAX_JSON + 1))


def _hf_config(data: IO[bytes], size: int, result: PickleInspection) -> Optional[str]:
    config = load_json(data, size)
    version = config.get("transformers_version") if isinstance(config, dict) else None
    if isinstance(version, str):
        result.recorded.append(RecordedVersion("transformers", version,
                                               "the Hugging Face config"))
    return None


def keras_metadata(data: IO[bytes], size: int, result: PickleInspection) -> Optional[str]:
    """A ``.keras`` archive's metadata.json."""
    result.format = "keras"
    meta = load_json(data, size)
    version = meta.get("keras_version") if isinstance(meta, dict) else None
    if isinstance(version, str):
        result.recorded.append(RecordedVersion("keras", version, "the Keras model"))
    return None


def _safetensors(data: IO[bytes], size: int, result: PickleInspection) -> Optional[str]:
    length = int.from_bytes(data.read(8), "little")
    if length > min(size - 8, 100 * 1024 * 1024):  # safetensors' own header limit: 100 MB
        return f"header length {length} runs past the end of the {size}-byte file"
    try:
        header = json.loads(data.read(length))
    except (ValueError, UnicodeDecodeError) as exc:
        return f"header is not JSON: {exc}"
    if not isinstance(header, dict):
        return "header is not a JSON object"
    spans = []
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        problem = _tensor_problem(name, tensor)
        if problem:
            return problem
        spans.append((*tensor["data_offsets"], name))
    position = 0
    for start, end, name in sorted(spans):
        if start != position:
            return (f"tensor {name!r} starts at {start}, expected {position} (overlapping "
                    "or with a gap)")
        position = end
    if 8 + length + position != size:
        return (f"tensor data ends at byte {8 + length + position} of a {size}-byte file")
    return None


def _tensor_problem(name: str, tensor: object) -> Optional[str]:
    if not isinstance(tensor, dict):
        return f"tensor {name!r} is not described by an object"
    offsets, shape, dtype = (tensor.get("data_offsets"), tensor.get("shape"),
                             tensor.get("dtype"))
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(x) is int and x >= 0 for x in offsets) and offsets[0] <= offsets[1]):
        return f"tensor {name!r} has invalid data_offsets {offsets!r}"
    if not (isinstance(shape, list) and all(type(x) is int and x >= 0 for x in shape)):
        return f"tensor {name!r} has an invalid shape"
    itemsize = _SAFETENSORS_DTYPES.get(dtype) if isinstance(dtype, str) else None
    if itemsize is None:
        return f"tensor {name!r} has an unknown dtype {dtype!r}"
    count = 1
    for dim in shape:
        count *= dim
    if count * itemsize != offsets[1] - offsets[0]:
        return (f"tensor {name!r}: shape {shape} of {dtype} needs {count * itemsize} "
                f"bytes, its offsets span {offsets[1] - offsets[0]}")
    return None


_READERS = {"xgboost-json": _xgboost, "xgboost-ubj": _xgboost, "lightgbm-text": _lightgbm,
            "onnx": _onnx, "hf-config": _hf_config, "safetensors": _safetensors,
            "keras": keras_metadata}
