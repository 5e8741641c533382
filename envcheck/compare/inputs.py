"""Smoke inputs: recorded (``reference/inputs.json``), read from a file, or synthesized.

The inputs travel as a dict in pandas' "split" orient plus the dtype of each column::

    {"columns": ["tenure", "plan"], "data": [[0.0, "basic"], ...],
     "dtypes": {"tenure": "float64", "plan": "object"}}

The probe builds the DataFrame from it inside the package's environment (envcheck itself
never needs pandas).  Missing values are ``null``; NaN/inf may also be written as
``{"$float": "nan"}`` (strict JSON has no NaN).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from envcheck.compare.reference import reference_dir
from envcheck.model.errors import EnvcheckError

if TYPE_CHECKING:
    from envcheck.model.package import ModelPackage

DEFAULT_ROWS = 6

# metadata type -> pandas dtype of the column (categories and strings stay objects:
# that is what a model trained from a CSV saw).
DTYPES = {"float": "float64", "int": "int64", "categorical": "object", "bool": "bool",
          "string": "object"}
_ALIASES = {"float": "float", "double": "float", "number": "float", "numeric": "float",
            "int": "int", "integer": "int", "categorical": "categorical",
            "category": "categorical", "bool": "bool", "boolean": "bool",
            "string": "string", "str": "string", "text": "string"}

_FLOATS = (0.0, 1.0, -1.5, 12.5, 0.25, 100.0, 3.75, -20.0)
_INTS = (0, 1, 2, 5, 10, 3, 7, 42)
_STRINGS = ("a", "b", "c", "abc", "x y", "")


class InputsError(EnvcheckError, ValueError):
    """Inputs that cannot be used; the message names the file/feature and what to do."""


def feature_type(feature: dict[str, Any]) -> str:
    raw = str(feature.get("type", "")).strip().lower()
    kind = _ALIASES.get(raw)
    if kind is None:
        raise InputsError(f"input feature {feature.get('name')!r} has type {raw!r}: expected "
                          f"one of float, int, categorical, bool, string")
    return kind


def _features(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    features = metadata.get("input_features")
    if not isinstance(features, list) or not features:
        raise InputsError("metadata.yaml declares no input_features: give smoke inputs "
                          "with --inputs FILE (CSV or JSON)")
    for feature in features:
        if not isinstance(feature, dict) or not feature.get("name"):
            raise InputsError(f"metadata.yaml: input feature {feature!r} has no name")
    return features


def _bounded(feature: dict[str, Any], values: tuple[float, ...], integer: bool) -> list[Any]:
    """Use min/max from metadata when given: the bounds, the middle and the quartiles."""
    low = feature.get("min", feature.get("minimum"))
    high = feature.get("max", feature.get("maximum"))
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and high >= low:
        points = [low, high, low + (high - low) / 2, low + (high - low) / 4,
                  low + 3 * (high - low) / 4]
        return [int(round(p)) if integer else float(p) for p in points]
    return list(values)


def _column(feature: dict[str, Any], index: int, rows: int) -> list[Any]:
    kind = feature_type(feature)
    if kind == "float":
        base = _bounded(feature, _FLOATS, integer=False)
    elif kind == "int":
        base = _bounded(feature, _INTS, integer=True)
    elif kind == "bool":
        base = [True, False]
    elif kind == "categorical":
        categories = feature.get("categories") or feature.get("values")
        if not isinstance(categories, list) or not categories:
            raise InputsError(f"categorical input feature {feature['name']!r} lists no "
                              f"categories in metadata.yaml")
        base = list(categories)
    else:
        categories = feature.get("categories") or feature.get("values")
        base = list(categories) if isinstance(categories, list) and categories else list(_STRINGS)
    # Rotate by the column's position so rows are not all "first value of every column".
    return [base[(index + row) % len(base)] for row in range(rows)]


def synthesize_inputs(metadata: dict[str, Any], rows: Optional[int] = None) -> Optional[dict[str, Any]]:
    """Deterministic rows from metadata ``input_features``: a few values per number, every
    category at least once, both booleans.  None when metadata declares no usable
    features (metadata.schema reports why); :func:`build_synthetic_inputs` raises instead."""
    try:
        return build_synthetic_inputs(metadata, rows)
    except InputsError:
        return None


def build_synthetic_inputs(metadata: dict[str, Any], rows: Optional[int] = None) -> dict[str, Any]:
    """As :func:`synthesize_inputs`; raises :class:`InputsError` saying what is missing."""
    features = _features(metadata)
    needed = DEFAULT_ROWS
    for feature in features:
        if feature_type(feature) == "categorical":
            categories = feature.get("categories") or feature.get("values") or []
            needed = max(needed, len(categories))
    count = int(rows) if rows else needed
    columns = [str(f["name"]) for f in features]
    data_columns = [_column(f, i, count) for i, f in enumerate(features)]
    return {"columns": columns,
            "data": [list(row) for row in zip(*data_columns)],
            "dtypes": {str(f["name"]): DTYPES[feature_type(f)] for f in features},
            "source": "synthesized from metadata.yaml input_features"}


def _encode(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    return value


def _convert_cell(text: str, kind: Optional[str], where: str) -> Any:
    """A CSV cell as the feature's type (text when the type is unknown)."""
    if text == "":
        return None
    if kind == "float":
        try:
            return _encode(float(text))
        except ValueError:
            raise InputsError(f"{where}: {text!r} is not a number") from None
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise InputsError(f"{where}: {text!r} is not an integer") from None
            if number != int(number):
                raise InputsError(f"{where}: {text!r} is not an integer") from None
            return int(number)
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "t", "y"):
            return True
        if lowered in ("false", "0", "no", "f", "n"):
            return False
        raise InputsError(f"{where}: {text!r} is not a boolean")
    if kind is None:  # no metadata type: numbers where every... guessed per cell
        for convert in (int, float):
            try:
                return _encode(convert(text))
            except ValueError:
                continue
    return text


def _read_csv(path: Path, types: dict[str, str]) -> dict[str, Any]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputsError(f"{path}: cannot read CSV: {exc}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InputsError(f"{path}: empty CSV (expected a header row and data rows)")
    header = [cell.strip() for cell in rows[0]]
    data = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputsError(f"{path}:{number}: {len(row)} fields, the header has "
                              f"{len(header)}")
        data.append([_convert_cell(cell, types.get(name), f"{path}:{number} column {name!r}")
                     for name, cell in zip(header, row)])
    if not data:
        raise InputsError(f"{path}: the CSV has a header but no data rows")
    return {"columns": header, "data": data}


def _from_json(value: Any, where: str) -> dict[str, Any]:
    """split ({"columns", "data"}), records ([{...}, ...]) or columns ({col: [..]})."""
    if isinstance(value, dict) and "columns" in value and "data" in value:
        split_columns, data = value["columns"], value["data"]
        if not isinstance(split_columns, list) or not isinstance(data, list) or \
                not all(isinstance(r, list) and len(r) == len(split_columns) for r in data):
            raise InputsError(f"{where}: 'split' orient needs a list of columns and rows of "
                              f"the same length")
        out = {"columns": [str(c) for c in split_columns], "data": [list(r) for r in data]}
        if isinstance(value.get("dtypes"), dict):
            out["dtypes"] = {str(k): str(v) for k, v in value["dtypes"].items()}
        return out
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        columns: list[str] = []
        for record in value:
            for key in record:
                if key not in columns:
                    columns.append(str(key))
        return {"columns": columns, "data": [[r.get(c) for c in columns] for r in value]}
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        lengths = {len(v) for v in value.values()}
        if len(lengths) != 1:
            raise InputsError(f"{where}: columns of different lengths")
        columns = [str(k) for k in value]
        return {"columns": columns, "data": [list(r) for r in zip(*value.values())]}
    raise InputsError(f"{where}: expected pandas 'split' orient ({{\"columns\": [...], "
                      f"\"data\": [[...]]}}), a list of records or {{column: [values]}}")


def conform_inputs(inputs: dict[str, Any], metadata: dict[str, Any], where: str) -> dict[str, Any]:
    """Reorder columns to metadata's order and set their dtypes; missing or extra columns
    are errors (the model would see a different frame than the metadata promises)."""
    try:
        features = _features(metadata)
    except InputsError:
        return inputs
    names = [str(f["name"]) for f in features]
    missing = [n for n in names if n not in inputs["columns"]]
    extra = [c for c in inputs["columns"] if c not in names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"not in metadata.yaml: {', '.join(extra)}")
        raise InputsError(f"{where}: columns do not match input_features ({'; '.join(parts)})")
    order = [inputs["columns"].index(n) for n in names]
    data = [[row[i] for i in order] for row in inputs["data"]]
    out = dict(inputs, columns=names, data=data,
               dtypes={str(f["name"]): DTYPES[feature_type(f)] for f in features})
    return out


def load_inputs_file(path: Path, metadata: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Smoke inputs from a CSV or JSON file, conformed to metadata when it declares
    input_features.  Raises :class:`InputsError` with a one-line message."""
    path = Path(path)
    metadata = metadata or {}
    types: dict[str, str] = {}
    if isinstance(metadata.get("input_features"), list):
        for feature in metadata["input_features"]:
            if isinstance(feature, dict) and feature.get("name"):
                types[str(feature["name"])] = feature_type(feature)
    if not path.is_file():
        raise InputsError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        inputs = _read_csv(path, types)
    elif path.suffix.lower() == ".json":
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputsError(f"{path}: not valid JSON: {exc}") from None
        inputs = _from_json(value, str(path))
    else:
        raise InputsError(f"{path}: expected a .csv or .json file")
    if not inputs["data"]:
        raise InputsError(f"{path}: no rows")
    inputs = conform_inputs(inputs, metadata, str(path))
    inputs["source"] = path.name
    return inputs


def recorded_inputs(pkg: "ModelPackage") -> Optional[dict[str, Any]]:
    """``reference/inputs.json`` when recorded, else None.  Raises InputsError when the
    file exists but is unusable."""
    directory = reference_dir(pkg)
    if directory is None or not (directory / "inputs.json").is_file():
        return None
    path = directory / "inputs.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputsError(f"{pkg.relative(path)}: not valid JSON: {exc}") from None
    inputs = _from_json(value, pkg.relative(path))
    inputs["source"] = "reference/inputs.json"
    return inputs


def smoke_inputs(pkg: "ModelPackage", rows: Optional[int] = None) -> tuple[Optional[dict[str, Any]], str]:
    """(inputs, where they come from): recorded when present, else synthesized; (None,
    reason) when neither is possible."""
    recorded = recorded_inputs(pkg)
    if recorded is not None:
        return recorded, "reference/inputs.json"
    if pkg.smoke_inputs_path is not None:  # an input example shipped with the model
        example = example_inputs(pkg)
        if example is not None:
            return example, example["source"]
    try:
        return build_synthetic_inputs(pkg.metadata, rows), "synthesized from metadata.yaml"
    except InputsError as exc:
        return None, str(exc)


def example_inputs(pkg: "ModelPackage") -> Optional[dict[str, Any]]:
    """The input example the package's format ships (MLflow's input_example.json, in the
    split or a serving form) in envcheck's inputs form, or None when there is none.
    Raises :class:`InputsError` when it is unusable."""
    path = pkg.smoke_inputs_path
    if path is None:
        return None
    shown = pkg.relative(path)
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputsError(f"{shown}: not valid JSON: {exc}") from None
    if isinstance(value, dict):  # serving form: {"dataframe_split": {...}} and friends
        for key in ("dataframe_split", "dataframe_records", "inputs", "instances"):
            if key in value:
                value = value[key]
                break
    inputs = _from_json(value, shown)
    if not inputs["data"]:
        raise InputsError(f"{shown}: no rows")
    inputs = conform_inputs(inputs, pkg.metadata, shown)
    inputs["source"] = shown
    return inputs
