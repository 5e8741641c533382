"""The JSON Schema of ``metadata.yaml`` and findings worded from its errors.

The schema ships in ``envcheck/schema/metadata.schema.json`` (editors can use it too).
jsonschema is imported only when a document is actually validated, and a document that
validated cleanly is not validated again (a marker in the cache dir).
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional

from envcheck.model.findings import Finding, Severity
from envcheck.read.yaml_positions import format_path, position

SCHEMA_PATH = Path(__file__).parent / "schema" / "metadata.schema.json"

# Values people write for `type:` that mean one of the allowed ones.
_TYPE_ALIASES = {
    "integer": "int", "int64": "int", "int32": "int", "long": "int",
    "number": "float", "double": "float", "float64": "float", "float32": "float", "real": "float",
    "boolean": "bool", "str": "string", "text": "string", "object": "string",
    "category": "categorical", "enum": "categorical", "factor": "categorical",
}

# Why a missing key matters, appended to the finding.
_WHY_REQUIRED = {
    "name": " (the model's name, shown in every report)",
    "version": " (the model's version, recorded with the reference outputs)",
    "input_features": " (envcheck builds smoke inputs from them)",
    "output": " (envcheck checks predict() returns it)",
    "type": " (one of float, int, bool, string, categorical)",
    "categories": " (type is categorical: list the categories the model was trained on)",
}


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # imported here: only reading metadata pays for it

    return jsonschema.Draft202012Validator(
        load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def schema_errors(data: dict[str, Any], cache_root: Optional[Path]) -> list[Any]:
    """jsonschema's errors for ``data``.

    A warm check should not pay for importing jsonschema (~0.1 s) to re-validate the same
    metadata: a document that validated cleanly leaves a marker named by the sha256 of the
    schema and the document in the cache dir, and the same pair is not validated again.
    Only clean results are remembered, so every error is always reported afresh.
    """
    marker = _clean_marker(data, cache_root)
    if marker is not None and marker.exists():
        return []
    errors = list(_validator().iter_errors(data))
    if not errors and marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # a read-only cache only costs the next check a validation
    return errors


@lru_cache(maxsize=1)
def _schema_bytes() -> bytes:
    return SCHEMA_PATH.read_bytes()


def _clean_marker(data: dict[str, Any], cache_root: Optional[Path]) -> Optional[Path]:
    import hashlib

    if cache_root is None:
        return None
    try:
        document = json.dumps(data, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(_schema_bytes() + b"\0" + document.encode()).hexdigest()
    return cache_root / "metadata-valid" / digest


def known_keys() -> list[str]:
    return sorted(load_schema()["properties"])


def finding_at(root: Any, path: list[Any], shown: str, severity: Severity, message: str,
               key_path: Optional[str] = None, **details: Any) -> Finding:
    """A finding at the value ``path`` points to; ``key_path`` overrides the path shown."""
    line, col = position(root, path)
    key_path = key_path or format_path(path)
    # file:line:col travel in the finding's fields (Finding.location); the message names
    # the key path so it reads on its own.
    return Finding(severity, f"{key_path}: {message}",
                   details={"key_path": key_path, **details}, file=shown, line=line, column=col)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def suggest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {match[0]!r}?)" if match else ""


def schema_finding(root: Any, err: Any, shown: str) -> list[Finding]:
    """One jsonschema error -> findings with a message a person can act on."""
    path = list(err.absolute_path)
    kind = err.validator
    instance = err.instance
    if kind == "required":
        missing = [k for k in err.validator_value if not (isinstance(instance, dict) and k in instance)]
        out = []
        for key in missing:
            why = _WHY_REQUIRED.get(key, "")
            # Positioned at the mapping that lacks the key; the path names the missing key.
            out.append(finding_at(root, path, shown, Severity.ERROR,
                           f"missing required key {key!r}{why}",
                           key_path=format_path(path + [key]), missing=key))
        return out
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = err.schema.get("properties", {})
        return [finding_at(root, path + [key], shown, Severity.ERROR,
                    f"unknown setting {key!r}{suggest(str(key), allowed)}; known: "
                    f"{', '.join(sorted(allowed))}")
                for key in instance if key not in allowed]
    if kind == "type":
        wanted = err.validator_value
        wanted_text = " or ".join(wanted) if isinstance(wanted, list) else wanted
        message = f"must be {wanted_text}, not {type_name(instance)} {instance!r}"
    elif kind == "enum":
        options = ", ".join(str(v) for v in err.validator_value)
        hint = ""
        if isinstance(instance, str):
            alias = _TYPE_ALIASES.get(instance.lower())
            hint = f" (did you mean {alias!r}?)" if alias else suggest(instance, map(str, err.validator_value))
        message = f"{instance!r} is not one of {options}{hint}"
    elif kind == "minItems":
        message = f"needs at least {err.validator_value} item(s)"
    elif kind == "minLength":
        message = "must not be empty"
    elif kind == "uniqueItems":
        message = f"lists the same value more than once: {instance!r}"
    elif kind == "pattern" and path[-1:] == ["memory"]:
        message = f"{instance!r} is not a memory size such as 512M or 2G"
    elif kind == "pattern" and path[-1:] == ["interface"]:
        message = f"{instance!r} must name a .py file"
    elif kind == "format":
        message = f"{instance!r} is not a valid regular expression"
    elif kind == "oneOf" and path[-1:] == ["artifacts"]:
        message = "must be a file name or a list of file names (relative to the package)"
    else:
        message = err.message
    return [finding_at(root, path, shown, Severity.ERROR, message, rule=kind)]


