"""``predict.schema``'s output half: what predict() returned against metadata's ``output``.

A model whose output metadata describes wrongly (two probability columns under one
declared output, class labels under ``type: float``) still loads and predicts the same
everywhere: the metadata is wrong, not the environment.  So these are warnings, with a
hint for the common cases, and ``--strict`` (the registry escalates ``predict.schema``)
fails them.  Mismatches of the *input* (columns, dtypes, the model's fitted features)
break prediction and stay failures; they live in :mod:`envcheck.compare.predictions`.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from envcheck.model.findings import Finding, warning

# Families of what predict() returned, by numpy/pandas dtype prefix (or Python type).
_FAMILY_PREFIXES = (("bool", "bool"), ("uint", "int"), ("int", "int"), ("Int", "int"),
                    ("UInt", "int"), ("float", "float"), ("Float", "float"),
                    ("object", "string"), ("str", "string"), ("string", "string"),
                    ("category", "categorical"))
# Which returned families each declared output type accepts.
_ACCEPTS = {"float": {"float"}, "int": {"int"}, "bool": {"bool", "int"},
            "string": {"string", "categorical"},
            "categorical": {"string", "categorical", "int", "bool"}}
_PROBABILITY_SUM_TOLERANCE = 1e-6


def declared_outputs(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """metadata's ``output``: one mapping or a list of them (only the mappings)."""
    outputs = metadata.get("output")
    if isinstance(outputs, dict):
        outputs = [outputs]
    return [o for o in outputs if isinstance(o, dict)] if isinstance(outputs, list) else []


def output_width(encoded: dict[str, Any]) -> Optional[int]:
    """Values per row of an encoded prediction; None when it has no row structure."""
    shape = encoded.get("shape") or []
    if encoded.get("kind") == "dataframe":
        return len(encoded.get("columns") or [])
    if len(shape) == 1:
        return 1
    if len(shape) == 2:
        return int(shape[1])
    return None


def _family(dtype: str) -> Optional[str]:
    for prefix, family in _FAMILY_PREFIXES:
        if dtype.startswith(prefix):
            return family
    return None


def _value_family(values: list[Any]) -> Optional[str]:
    """The family of plain values (a list or scalar prediction has no dtype)."""
    kinds = set()
    for value in values:
        if isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, int):
            kinds.add("int")
        elif isinstance(value, float) or (isinstance(value, dict) and "$float" in value):
            kinds.add("float")
        elif isinstance(value, str):
            kinds.add("string")
        else:
            return None
    return kinds.pop() if len(kinds) == 1 else None


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [item for part in value for item in _flat(part)]
    return [value]


def _column_dtypes(encoded: dict[str, Any], width: int) -> list[tuple[Optional[str], str]]:
    """(family, as shown) of each returned column."""
    if encoded.get("kind") == "dataframe":
        return [(_family(str(d)), str(d)) for d in encoded.get("dtypes") or []]
    dtype = str(encoded.get("dtype") or "")
    if encoded.get("kind") in ("ndarray", "series") and dtype:
        return [(_family(dtype), dtype)] * width
    family = _value_family(_flat(encoded.get("values")))
    return [(family, family or "mixed values")] * width


def _looks_like_probabilities(encoded: dict[str, Any]) -> bool:
    """Two float columns in [0, 1] whose rows sum to 1: predict_proba of a binary model."""
    rows = encoded.get("values")
    if not isinstance(rows, list) or not rows:
        return False
    for row in rows:
        if not (isinstance(row, list) and len(row) == 2
                and all(isinstance(v, float) and not math.isnan(v) for v in row)):
            return False
        if min(row) < 0.0 or max(row) > 1.0 or abs(sum(row) - 1.0) > _PROBABILITY_SUM_TOLERANCE:
            return False
    return True


def _width_finding(encoded: dict[str, Any], width: int, names: list[str],
                   metadata_file: str) -> Finding:
    declared = f"{len(names)} output(s) {names}"
    text = f"predict() returns {width} value(s) per row, {metadata_file} declares {declared}"
    hint = ""
    if width == 2 and len(names) == 1 and _looks_like_probabilities(encoded):
        hint = (f"these are the two probability columns of a binary classifier "
                f"(predict_proba): declare both outputs in {metadata_file}, or return "
                f"predict_proba(X)[:, 1] for {names[0]}")
    advice = hint or f"declare what predict() returns in {metadata_file}'s output"
    return warning(f"{text}: {advice} (the metadata does not describe the model; "
                   f"--strict fails this)", file=metadata_file,
                   details={"width": width, "outputs": names, "shape": encoded.get("shape"),
                            "mismatch": "documentation", "hint": hint or None})


def _type_finding(name: str, declared: str, family: Optional[str], shown: str,
                  metadata_file: str, values: list[Any]) -> Finding:
    hint = ""
    labels = sorted({v for v in values if isinstance(v, int) and not isinstance(v, bool)})
    if declared == "float" and family == "int":
        shown_labels = ", ".join(str(v) for v in labels[:5]) + (", ..." if len(labels) > 5
                                                                  else "")
        hint = (f"these look like class labels ({shown_labels}): return "
                f"predict_proba(X)[:, 1] for a probability, or declare {name} as int "
                f"(or categorical)")
    elif declared == "int" and family == "float":
        hint = f"declare {name} as float, or return the class labels (predict)"
    text = (f"{metadata_file} declares output {name!r} as {declared}, predict() returned "
            f"{shown}")
    advice = hint or f"declare {name}'s type as what predict() returns"
    return warning(f"{text}: {advice} (--strict fails this)", file=metadata_file,
                   details={"output": name, "type": declared, "dtype": shown,
                            "mismatch": "documentation", "hint": hint or None})


def output_findings(metadata: dict[str, Any], encoded: Optional[dict[str, Any]],
                    metadata_file: str) -> list[Finding]:
    """Width, names and declared types of the output against what predict() returned."""
    outputs = declared_outputs(metadata)
    if encoded is None or not outputs:
        return []
    names = [str(o.get("name")) for o in outputs]
    width = output_width(encoded)
    if width is None:
        return []
    if width != len(outputs):
        return [_width_finding(encoded, width, names, metadata_file)]
    findings: list[Finding] = []
    if encoded.get("kind") == "dataframe" and encoded.get("columns") != names:
        findings.append(warning(
            f"predict() returns columns {encoded.get('columns')}, {metadata_file} output "
            f"names are {names} (--strict fails this)", file=metadata_file,
            details={"columns": encoded.get("columns"), "outputs": names,
                     "mismatch": "documentation"}))
    values = _flat(encoded.get("values"))
    for output, name, (family, shown) in zip(outputs, names, _column_dtypes(encoded, width)):
        declared = output.get("type")
        if not isinstance(declared, str) or declared not in _ACCEPTS or family is None:
            continue  # nothing declared, or nothing we can tell about what came back
        if family not in _ACCEPTS[declared]:
            findings.append(_type_finding(name, declared, family, shown, metadata_file,
                                          values))
    return findings
