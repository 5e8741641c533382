"""YAML read with the positions of what is written.  Plain values, lists and mappings only.

:class:`PositionLoader` (for ``metadata.yaml``) is a safe loader of our own that

* remembers where every mapping key and sequence item sits (:class:`PosDict`,
  :class:`PosList`), so that :func:`position` finds where a key path is written and a
  finding reads ``metadata.yaml:12:5 input_features[1].categories`` (:func:`format_path`);
* rejects duplicate keys (plain YAML keeps the last one silently -- a classic way for a
  second ``categories:`` to win unnoticed);
* refuses alias bombs ("billion laughs") and self-referencing aliases: the document graph
  is measured *before* anything walks it, because jsonschema would expand every alias;
* keeps dates as strings (``created_date: 2024-03-01`` is a string in the schema, and the
  report must stay JSON).

:func:`load_yaml_lines` (for MLmodel and ``python_env.yaml``) reads a file with
``yaml.safe_load`` and the line of every mapping key and sequence item, by key path.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from envcheck.model.errors import EnvcheckError
from envcheck.model.findings import Finding, error

# Nodes that aliases may add on top of the nodes written in the file.  Real files use a
# handful of aliases; "billion laughs" adds 10**9.
MAX_ALIAS_EXPANSION = 10_000

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"

Location = tuple[int, int]  # 1-based (line, column)


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


class MetadataYAMLError(EnvcheckError):
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


# --------------------------------------------------------------------------- positions

def format_path(path: Iterable[Union[str, int]]) -> str:
    """``["input_features", 1, "categories"]`` -> ``input_features[1].categories``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def position(root: Any, path: list[Any]) -> Location:
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


# --------------------------------------------------------------------------- key lines

def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """1-based line of every mapping key, by key path (for findings on MLmodel)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    return _node_lines(node)


def _node_lines(node: Optional[Node]) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    # The walk visits each node once: an alias repeated (or recursive) is not walked again.
    seen: set[int] = set()

    def walk(current: Any, prefix: tuple[str, ...]) -> None:
        if id(current) in seen:
            return
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                path = prefix + (str(key.value),)
                out[path] = key.start_mark.line + 1
                walk(value, path)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                out[prefix + (str(index),)] = item.start_mark.line + 1
                walk(item, prefix + (str(index),))

    if node is not None:
        walk(node, ())
    return out


# MLmodel, python_env.yaml, model.yaml, bento.yaml: a few KB (a bento's may hold its lock).
MAX_YAML_BYTES = 5_000_000


def load_yaml_lines(path: Path, shown: str) -> tuple[Any, dict[tuple[str, ...], int], Optional[Finding]]:
    """(data, :func:`key_lines`, None), or (None, {}, the error) when ``path`` cannot be read.

    An oversized file, an alias bomb and a recursive alias are refused before anything
    walks the document (``yaml.safe_load`` itself keeps aliases shared, but every walk of
    the result would expand them)."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):  # a FIFO would block the read
            return None, {}, error(f"{shown} is not a regular file", file=shown)
        size = status.st_size
        if size > MAX_YAML_BYTES:
            return None, {}, error(f"{shown} is {size} bytes; files over {MAX_YAML_BYTES} "
                                   f"bytes are refused", file=shown)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, {}, error(f"{shown} cannot be read: {exc}", file=shown)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_alias_expansion(node)
        data = yaml.safe_load(text)
    except MetadataYAMLError as exc:
        return None, {}, error(f"{shown}: {exc.message}", file=shown, line=exc.line)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, {}, error(f"{shown} is not valid YAML: {problem}", file=shown, line=line)
    except RecursionError:
        return None, {}, error(f"{shown} is nested too deeply to read", file=shown)
    return data, _node_lines(node), None
