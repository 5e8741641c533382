"""Load and validate ``metadata.yaml`` (check ``metadata.schema``).  Runs nothing of the package.

The YAML is read with :class:`~envcheck.read.yaml_positions.PositionLoader`, a safe
loader that remembers positions (a JSON Schema error is reported as
``metadata.yaml:12:5 input_features[1].categories``), rejects duplicate keys and refuses
alias bombs; dates stay strings.

The schema itself ships in ``envcheck/schema/metadata.schema.json`` so that editors can use
it too (:mod:`envcheck.read.metadata_schema` loads it and words its errors); the few rules
JSON Schema cannot express (unique feature names, ``3.10`` read as ``3.1``, regexes that
compile, likely typos of known keys) are checked here in code.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from envcheck.model.findings import Finding, Severity, error
from envcheck.read.metadata_schema import (
    finding_at,
    known_keys,
    schema_errors,
    schema_finding,
    suggest,
    type_name,
)
from envcheck.read.yaml_positions import MetadataYAMLError, PositionLoader, position

MAX_BYTES = 1_000_000  # a metadata file is a few hundred bytes; 1 MB is already absurd


# --------------------------------------------------------------------------- loading

def load_metadata(path: Path, display: Optional[str] = None, cache_root: Optional[Path] = None
                  ) -> tuple[dict[str, Any], list[Finding]]:
    """Read and validate metadata.yaml.  Returns ``({}, findings)`` when it is unreadable.

    ``display`` is the file name findings carry (default: the file's name).  The returned
    dict is a :class:`~envcheck.read.yaml_positions.PosDict` (a plain dict with positions attached).
    """
    shown = display or path.name
    data, findings = _load_yaml(path, shown)
    if data is None:
        return {}, findings
    findings.extend(validate_metadata(data, shown, cache_root))
    return data, findings


def _load_yaml(path: Path, shown: str) -> tuple[Optional[dict[str, Any]], list[Finding]]:
    def fail(message: str, line: Optional[int] = None, column: Optional[int] = None,
             **details: Any) -> tuple[None, list[Finding]]:
        return None, [error(message, file=shown, line=line, column=column, details=details)]

    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return fail(f"{shown} is {size} bytes; metadata over {MAX_BYTES} bytes is refused")
        raw = path.read_bytes()
    except OSError as exc:
        return fail(f"cannot read {shown}: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return fail(f"{shown} is not UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}); "
                    f"save it as UTF-8", line, column)

    loader: Optional[PositionLoader] = None
    try:
        loader = PositionLoader(text)  # the reader checks for forbidden characters here
        data = loader.get_single_data()
    except MetadataYAMLError as exc:
        return fail(f"{shown}: {exc.message}", exc.line, exc.column)
    except yaml.MarkedYAMLError as exc:
        # The problem mark is where reading broke; the context mark where the construct
        # that broke began (an unclosed "{" two lines up): both are worth saying.
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or str(exc)
        if exc.context and exc.problem:
            where = ""
            if exc.context_mark is not None and mark is not None and \
                    exc.context_mark.line != mark.line:
                where = f" that starts at line {exc.context_mark.line + 1}"
            message = f"{exc.problem} ({exc.context}{where})"
        mark_line = mark.line + 1 if mark else None
        mark_column = mark.column + 1 if mark else None
        tag = re.search(r"constructor for the tag '([^']+)'", exc.problem or "")
        if tag:  # !!python/object and friends: code execution on a full loader
            return fail(f"{shown} uses the tag {tag.group(1).replace('tag:yaml.org,2002:', '!!')}, "
                        f"which is not allowed: metadata is read with a safe loader (plain "
                        f"values, lists and mappings only)", mark_line, mark_column,
                        tag=tag.group(1))
        return fail(f"{shown} is not valid YAML: {message}", mark_line, mark_column)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return fail(f"{shown} contains a character YAML does not allow "
                    f"(U+{ord(char):04X}); remove it", line, column)
    except yaml.YAMLError as exc:
        return fail(f"{shown} is not valid YAML: {exc}")
    except RecursionError:
        return fail(f"{shown} is nested too deeply to read")
    finally:
        if loader is not None:
            loader.dispose()

    findings = list(loader.duplicate_keys)
    for f in findings:
        f.file = shown
    if data is None:
        return fail(f"{shown} is empty; it must be a mapping with at least name, version, "
                    f"input_features and output")
    if not isinstance(data, dict):
        line, col = getattr(data, "start", (1, 1))
        return fail(f"{shown} must be a mapping (key: value lines) at the top level, "
                    f"not a {type_name(data)}", line, col)
    _stringify_dates(data)
    return data, findings


def _stringify_dates(value: Any) -> None:
    """Explicit ``!!timestamp`` values become ISO strings: the report must stay JSON."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (datetime.date, datetime.datetime)):
                value[key] = item.isoformat()
            else:
                _stringify_dates(item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, (datetime.date, datetime.datetime)):
                value[i] = item.isoformat()
            else:
                _stringify_dates(item)


# --------------------------------------------------------------------------- validation

def validate_metadata(data: dict[str, Any], shown: str = "metadata.yaml",
                      cache_root: Optional[Path] = None) -> list[Finding]:
    """Schema errors plus the checks JSON Schema cannot express, each with line and key path."""
    findings: list[Finding] = []

    non_string = _non_string_keys(data, [])
    for path, key in non_string:
        findings.append(finding_at(data, path, shown, Severity.ERROR,
                            f"key {key!r} is not a string; quote it (YAML reads yes/no/on/off "
                            f"as booleans and bare numbers as numbers)"))
    if not non_string:
        errors = sorted(schema_errors(data, cache_root),
                        key=lambda e: (position(data, list(e.absolute_path))[0], str(e.message)))
        for err in errors:
            findings.extend(schema_finding(data, err, shown))
    findings.extend(_extra_checks(data, shown))
    findings.sort(key=lambda f: (f.line or 0, f.column or 0))
    return findings


def _non_string_keys(value: Any, path: list[Union[str, int]]) -> list[tuple[list[Any], Any]]:
    out: list[tuple[list[Any], Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                out.append((path + [key], key))
            else:
                out.extend(_non_string_keys(item, path + [key]))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_non_string_keys(item, path + [i]))
    return out


def _extra_checks(data: dict[str, Any], shown: str) -> list[Finding]:
    """Rules the JSON Schema cannot express."""
    out: list[Finding] = []
    raw = getattr(data, "raw", {})

    # YAML reads 3.10 as the float 3.1: the package would ask for the wrong Python.
    for key, severity in (("python_version", Severity.ERROR), ("version", Severity.WARNING)):
        value = data.get(key)
        written = raw.get(key)
        if isinstance(value, float) and written is not None:
            if float_loses_text(written, value):
                out.append(finding_at(data, [key], shown, severity,
                               f"{written} is read by YAML as the number {value!r}; quote it: "
                               f"{key}: \"{written}\"", written=written, read_as=value))
    py = data.get("python_version")
    if isinstance(py, str) and not _valid_python_version(py):
        out.append(finding_at(data, ["python_version"], shown, Severity.ERROR,
                       f"{py!r} is neither a Python version (3.10, 3.10.4) nor a version "
                       f"specifier (>=3.9,<3.12)"))

    # Unknown top-level keys are allowed (teams add their own), but a near-miss of a
    # known key is almost certainly a typo that makes envcheck ignore the setting.
    known = known_keys()
    for key in data:
        if isinstance(key, str) and key not in known:
            hint = suggest(key, known)
            if hint:
                out.append(finding_at(data, [key], shown, Severity.WARNING,
                               f"unknown key {key!r}{hint}; it is ignored"))

    for list_key in ("input_features", "output"):
        features = data.get(list_key)
        if not isinstance(features, list):
            continue
        seen: dict[str, int] = {}
        for i, feature in enumerate(features):
            if not isinstance(feature, dict):
                continue
            name = feature.get("name")
            if isinstance(name, str):
                if name in seen:
                    out.append(finding_at(data, [list_key, i, "name"], shown, Severity.ERROR,
                                   f"feature name {name!r} is used twice (also "
                                   f"{list_key}[{seen[name]}])"))
                else:
                    seen[name] = i
            if "categories" in feature and feature.get("type") not in ("categorical", None):
                out.append(finding_at(data, [list_key, i, "categories"], shown, Severity.WARNING,
                               f"categories given for type {feature.get('type')!r}; they are "
                               f"only used with type categorical"))
    return out


def float_loses_text(written: str, value: float) -> bool:
    """True when the number YAML read differs from what was written (3.10 -> 3.1)."""
    text = written.strip()
    if not re.fullmatch(r"[0-9]+\.[0-9]+", text):
        return False
    return repr(value) != text


def _valid_python_version(text: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if re.fullmatch(r"\s*[0-9]+(\.[0-9]+){0,2}\s*", text):
        return True
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return False
    return bool(text.strip())
