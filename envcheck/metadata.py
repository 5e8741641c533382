"""Load and validate ``metadata.yaml`` (check ``metadata.schema``).  Runs nothing of the package.

The YAML is read with a safe loader of our own (:class:`PositionLoader`) that

* remembers where every mapping key and sequence item sits, so a JSON Schema error
  (``error.absolute_path``) is reported as ``metadata.yaml:12:5 input_features[1].categories``;
* rejects duplicate keys (plain YAML keeps the last one silently -- a classic way for a
  second ``categories:`` to win unnoticed);
* refuses alias bombs ("billion laughs") and self-referencing aliases: the document graph
  is measured *before* anything walks it, because jsonschema would expand every alias;
* keeps dates as strings (``created_date: 2024-03-01`` is a string in the schema, and the
  report must stay JSON).

The schema itself ships in ``envcheck/schema/metadata.schema.json`` so that editors can use
it too; the few rules JSON Schema cannot express (unique feature names, ``3.10`` read as
``3.1``, regexes that compile, likely typos of known keys) are checked here in code.
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from envcheck.findings import Finding, Severity, error

SCHEMA_PATH = Path(__file__).parent / "schema" / "metadata.schema.json"

MAX_BYTES = 1_000_000  # a metadata file is a few hundred bytes; 1 MB is already absurd
# Nodes that aliases may add on top of the nodes written in the file.  Real files use a
# handful of aliases; "billion laughs" adds 10**9.
MAX_ALIAS_EXPANSION = 10_000

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"

# Values people write for `type:` that mean one of the allowed ones.
_TYPE_ALIASES = {
    "integer": "int", "int64": "int", "int32": "int", "long": "int",
    "number": "float", "double": "float", "float64": "float", "float32": "float", "real": "float",
    "boolean": "bool", "str": "string", "text": "string", "object": "string",
    "category": "categorical", "enum": "categorical", "factor": "categorical",
}

Location = tuple[int, int]  # 1-based (line, column)

# Why a missing key matters, appended to the finding.
_WHY_REQUIRED = {
    "name": " (the model's name, shown in every report)",
    "version": " (the model's version, recorded with the reference outputs)",
    "input_features": " (envcheck builds smoke inputs from them)",
    "output": " (envcheck checks predict() returns it)",
    "type": " (one of float, int, bool, string, categorical)",
    "categories": " (type is categorical: list the categories the model was trained on)",
}


class PosDict(dict[Any, Any]):
    """A mapping that remembers where it and each of its keys start in the file."""

    start: Location = (1, 1)

    def __init__(self) -> None:
        super().__init__()
        self.key_pos: dict[Any, Location] = {}
        self.raw: dict[Any, str] = {}  # scalar values as written, e.g. "3.10"


class PosList(list[Any]):
    start: Location = (1, 1)

    def __init__(self) -> None:
        super().__init__()
        self.item_pos: list[Location] = []


def _loc(node: Node) -> Location:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class MetadataYAMLError(Exception):
    """A problem found while loading, with a position when there is one."""

    def __init__(self, message: str, line: Optional[int] = None,
                 column: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class PositionLoader(yaml.SafeLoader):
    """yaml.SafeLoader that records positions, rejects duplicate keys and alias bombs."""

    # Dates stay strings: the schema wants strings and the report must be JSON.
    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[Finding] = []

    def get_single_node(self) -> Optional[Node]:
        node = super().get_single_node()
        if node is not None:
            _check_alias_expansion(node)
        return node

    def construct_pos_mapping(self, node: MappingNode) -> Any:
        data = PosDict()
        data.start = _loc(node)
        yield data
        # Duplicates among keys written in this mapping; keys merged in with `<<:` may be
        # overridden on purpose, so they are not compared.
        seen: dict[Any, Location] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise MetadataYAMLError("a mapping key must be a plain value, not a list or "
                                        "mapping", *_loc(key_node)) from None
            if key in seen:
                line, col = _loc(key_node)
                self.duplicate_keys.append(error(
                    f"duplicate key {key!r} (first at line {seen[key][0]}); YAML keeps only "
                    f"the last one, so the first is silently ignored",
                    line=line, column=col, details={"key": key, "first_line": seen[key][0]}))
            else:
                seen[key] = _loc(key_node)
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            data[key] = self.construct_object(value_node, deep=False)
            data.key_pos[key] = _loc(key_node)
            if isinstance(value_node, ScalarNode):
                data.raw[key] = value_node.value

    def construct_pos_sequence(self, node: SequenceNode) -> Any:
        data = PosList()
        data.start = _loc(node)
        yield data
        for child in node.value:
            data.append(self.construct_object(child, deep=False))
            data.item_pos.append(_loc(child))


# YAML 1.1 (PyYAML) reads ``rtol: 1e-6`` as the *string* "1e-6"; YAML 1.2 and every editor
# read a float.  Tolerances are written exactly like that, so follow YAML 1.2 here.
PositionLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))
PositionLoader.add_constructor("tag:yaml.org,2002:map", PositionLoader.construct_pos_mapping)
PositionLoader.add_constructor("tag:yaml.org,2002:seq", PositionLoader.construct_pos_sequence)


def _check_alias_expansion(root: Node) -> None:
    """Fail when aliases would expand the document far beyond what is written.

    Sizes are computed once per distinct node (memoized), so this is linear in the file
    even for a bomb whose expansion is 10**9 nodes.  A node that contains itself through
    an alias would make every later walk (validation, JSON output) recurse forever.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            in_progress.discard(key)
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            continue
        if key in sizes:
            continue
        if key in in_progress:
            raise MetadataYAMLError("an alias refers to the mapping or list that contains it "
                                    "(a recursive structure)", *_loc(node))
        in_progress.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in in_progress:
                raise MetadataYAMLError("an alias refers to the mapping or list that contains "
                                        "it (a recursive structure)", *_loc(child))
            if id(child) not in sizes:
                stack.append((child, False))
    distinct = len(sizes)
    expanded = sizes[id(root)]
    if expanded - distinct > MAX_ALIAS_EXPANSION:
        # Point at the anchor whose copies weigh most: that is where the bomb is built.
        refs: dict[int, int] = {}
        nodes: dict[int, Node] = {}
        todo, visited = [root], set()
        while todo:
            node = todo.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            for child in _children(node):
                refs[id(child)] = refs.get(id(child), 0) + 1
                nodes[id(child)] = child
                todo.append(child)
        heaviest = max((n for n in nodes if refs[n] > 1),
                       key=lambda n: (refs[n] - 1) * sizes[n], default=None)
        line, col = _loc(nodes[heaviest]) if heaviest is not None else (None, None)
        raise MetadataYAMLError(
            f"aliases expand this document to {expanded} values from {distinct} written "
            f"(limit: {MAX_ALIAS_EXPANSION} more); refusing a possible YAML bomb", line, col)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


# --------------------------------------------------------------------------- loading

def load_metadata(path: Path, display: Optional[str] = None) -> tuple[dict[str, Any], list[Finding]]:
    """Read and validate metadata.yaml.  Returns ``({}, findings)`` when it is unreadable.

    ``display`` is the file name findings carry (default: the file's name).  The returned
    dict is a :class:`PosDict` (a plain dict with positions attached).
    """
    shown = display or path.name
    data, findings = _load_yaml(path, shown)
    if data is None:
        return {}, findings
    findings.extend(validate_metadata(data, shown))
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
                    f"not a {_type_name(data)}", line, col)
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


def _schema_errors(data: dict[str, Any]) -> list[Any]:
    """jsonschema's errors for ``data``.

    A warm check should not pay for importing jsonschema (~0.1 s) to re-validate the same
    metadata: a document that validated cleanly leaves a marker named by the sha256 of the
    schema and the document in the cache dir, and the same pair is not validated again.
    Only clean results are remembered, so every error is always reported afresh.
    """
    marker = _clean_marker(data)
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


def _clean_marker(data: dict[str, Any]) -> Optional[Path]:
    import hashlib

    from envcheck.options import default_cache_dir

    try:
        document = json.dumps(data, sort_keys=True, default=str)
        cache = default_cache_dir()
    except (TypeError, ValueError, OSError):
        return None
    digest = hashlib.sha256(_schema_bytes() + b"\0" + document.encode()).hexdigest()
    return cache / "metadata-valid" / digest


def known_keys() -> list[str]:
    return sorted(load_schema()["properties"])


def validate_metadata(data: dict[str, Any], shown: str = "metadata.yaml") -> list[Finding]:
    """Schema errors plus the checks JSON Schema cannot express, each with line and key path."""
    findings: list[Finding] = []

    non_string = _non_string_keys(data, [])
    for path, key in non_string:
        findings.append(_at(data, path, shown, Severity.ERROR,
                            f"key {key!r} is not a string; quote it (YAML reads yes/no/on/off "
                            f"as booleans and bare numbers as numbers)"))
    if not non_string:
        errors = sorted(_schema_errors(data),
                        key=lambda e: (_position(data, list(e.absolute_path))[0], str(e.message)))
        for err in errors:
            findings.extend(_schema_finding(data, err, shown))
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


def format_path(path: Iterable[Union[str, int]]) -> str:
    """``["input_features", 1, "categories"]`` -> ``input_features[1].categories``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _position(root: Any, path: list[Any]) -> Location:
    """Where the value at ``path`` is written: its key for mappings, its item for lists."""
    node = root
    pos: Location = getattr(root, "start", (1, 1))
    for part in path:
        if isinstance(node, PosDict) and part in node:
            pos = node.key_pos.get(part, pos)
            node = node[part]
        elif isinstance(node, PosList) and isinstance(part, int) and 0 <= part < len(node):
            pos = node.item_pos[part]
            node = node[part]
        else:
            break
    return pos


def _lookup(root: Any, path: list[Any]) -> Any:
    node = root
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _at(root: Any, path: list[Any], shown: str, severity: Severity, message: str,
        key_path: Optional[str] = None, **details: Any) -> Finding:
    """A finding at the value ``path`` points to; ``key_path`` overrides the path shown."""
    line, col = _position(root, path)
    key_path = key_path or format_path(path)
    # file:line:col travel in the finding's fields (Finding.location); the message names
    # the key path so it reads on its own.
    return Finding(severity, f"{key_path}: {message}",
                   details={"key_path": key_path, **details}, file=shown, line=line, column=col)


def _type_name(value: Any) -> str:
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


def _suggest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _schema_finding(root: Any, err: Any, shown: str) -> list[Finding]:
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
            out.append(_at(root, path, shown, Severity.ERROR,
                           f"missing required key {key!r}{why}",
                           key_path=format_path(path + [key]), missing=key))
        return out
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = err.schema.get("properties", {})
        return [_at(root, path + [key], shown, Severity.ERROR,
                    f"unknown setting {key!r}{_suggest(str(key), allowed)}; known: "
                    f"{', '.join(sorted(allowed))}")
                for key in instance if key not in allowed]
    if kind == "type":
        wanted = err.validator_value
        wanted_text = " or ".join(wanted) if isinstance(wanted, list) else wanted
        message = f"must be {wanted_text}, not {_type_name(instance)} {instance!r}"
    elif kind == "enum":
        options = ", ".join(str(v) for v in err.validator_value)
        hint = ""
        if isinstance(instance, str):
            alias = _TYPE_ALIASES.get(instance.lower())
            hint = f" (did you mean {alias!r}?)" if alias else _suggest(instance, map(str, err.validator_value))
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
    return [_at(root, path, shown, Severity.ERROR, message, rule=kind)]


def _extra_checks(data: dict[str, Any], shown: str) -> list[Finding]:
    """Rules the JSON Schema cannot express."""
    out: list[Finding] = []
    raw = getattr(data, "raw", {})

    # YAML reads 3.10 as the float 3.1: the package would ask for the wrong Python.
    for key, severity in (("python_version", Severity.ERROR), ("version", Severity.WARNING)):
        value = data.get(key)
        written = raw.get(key)
        if isinstance(value, float) and written is not None:
            if _float_loses_text(written, value):
                out.append(_at(data, [key], shown, severity,
                               f"{written} is read by YAML as the number {value!r}; quote it: "
                               f"{key}: \"{written}\"", written=written, read_as=value))
    py = data.get("python_version")
    if isinstance(py, str) and not _valid_python_version(py):
        out.append(_at(data, ["python_version"], shown, Severity.ERROR,
                       f"{py!r} is neither a Python version (3.10, 3.10.4) nor a version "
                       f"specifier (>=3.9,<3.12)"))

    # Unknown top-level keys are allowed (teams add their own), but a near-miss of a
    # known key is almost certainly a typo that makes envcheck ignore the setting.
    known = known_keys()
    for key in data:
        if isinstance(key, str) and key not in known:
            hint = _suggest(key, known)
            if hint:
                out.append(_at(data, [key], shown, Severity.WARNING,
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
                    out.append(_at(data, [list_key, i, "name"], shown, Severity.ERROR,
                                   f"feature name {name!r} is used twice (also "
                                   f"{list_key}[{seen[name]}])"))
                else:
                    seen[name] = i
            if "categories" in feature and feature.get("type") not in ("categorical", None):
                out.append(_at(data, [list_key, i, "categories"], shown, Severity.WARNING,
                               f"categories given for type {feature.get('type')!r}; they are "
                               f"only used with type categorical"))
    return out


def _float_loses_text(written: str, value: float) -> bool:
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
