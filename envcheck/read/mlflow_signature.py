"""MLmodel's ``signature`` -> envcheck's ``input_features`` / ``output``.

Column-based (DataFrame) signatures map their colspec types to envcheck feature types; a
one-column tensor output (``infer_signature(X, model.predict(X))``) is one output column;
anything else is a warning that the schema is not checked.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from envcheck.model.findings import Finding, error, warning
from envcheck.read.mlflow_package import MLMODEL_FILE

# MLflow colspec types -> envcheck feature types (envcheck.compare.inputs).
COLSPEC_TYPES = {"double": "float", "float": "float", "long": "int", "integer": "int",
                 "boolean": "bool", "string": "string"}


def signature_colspecs(raw: Any, what: str, line: Optional[int]) -> tuple[Optional[list[dict[str, Any]]], list[Finding]]:
    """MLmodel stores signature inputs/outputs as a JSON string."""
    if raw is None:
        return None, []
    try:
        specs = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        return None, [error(f"signature.{what} in {MLMODEL_FILE} is not valid JSON: {exc}",
                            file=MLMODEL_FILE, line=line)]
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        return None, [error(f"signature.{what} in {MLMODEL_FILE} is not a list of column specs",
                            file=MLMODEL_FILE, line=line)]
    return specs, []


def _tensor_type(dtype: str) -> Optional[str]:
    if dtype.startswith(("int", "uint")):
        return "int"
    if dtype.startswith("float"):
        return "float"
    if dtype == "bool":
        return "bool"
    if dtype in ("str", "object"):
        return "string"
    return None


def signature_features(specs: list[dict[str, Any]], what: str, line: Optional[int],
                       default_name: str) -> tuple[list[dict[str, Any]], list[Finding]]:
    """envcheck features for the colspecs of one side (``inputs``/``outputs``), or none."""
    features: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for index, spec in enumerate(specs):
        kind = str(spec.get("type", ""))
        if kind == "tensor" and what == "outputs" and len(specs) == 1:
            # infer_signature(X, model.predict(X)) writes a 1-D tensor: one output column.
            tensor_spec = spec.get("tensor-spec")  # one name, so isinstance narrows it
            tensor = tensor_spec if isinstance(tensor_spec, dict) else {}
            shape = tensor.get("shape")
            mapped = _tensor_type(str(tensor.get("dtype", "")))
            if mapped is not None and isinstance(shape, list) and \
                    (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                return [{"name": default_name, "type": mapped}], findings
        if kind == "tensor":
            findings.append(warning(f"signature.{what} in {MLMODEL_FILE} is tensor-based: "
                                    f"envcheck checks column-based (DataFrame) signatures "
                                    f"only, so the {what} schema is not checked",
                                    file=MLMODEL_FILE, line=line))
            return [], findings
        mapped = COLSPEC_TYPES.get(kind)
        name = spec.get("name")
        if name is None and what == "inputs":
            findings.append(warning(f"signature.inputs column {index} in {MLMODEL_FILE} has "
                                    f"no name: the input schema is not checked",
                                    file=MLMODEL_FILE, line=line))
            return [], findings
        if mapped is None:
            findings.append(warning(f"signature.{what} column {name or index!r} has MLflow "
                                    f"type {kind!r}, which envcheck does not synthesize; give "
                                    f"an input_example.json", file=MLMODEL_FILE, line=line))
            return [], findings
        features.append({"name": str(name) if name is not None else
                         (default_name if len(specs) == 1 else f"{default_name}_{index}"),
                         "type": mapped})
    return features, findings
