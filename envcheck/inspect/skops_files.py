"""skops files: the types a skops ``schema.json`` will build, judged by the same policy.

A skops file is a zip whose ``schema.json`` is a tree of nodes, each naming a type
(``__module__``, ``__class__``) and how skops restores it (``__loader__``).  skops
imports every named type; the ones its loader *builds* are constructed (``ObjectNode``
makes an instance and sets its state, ``ReduceNode``-like nodes call the type), the
others are only referenced (``FunctionNode``, ``TypeNode``, ``MethodNode``).  Those
events are replayed into the pickle policy (:class:`~envcheck.inspect.policy.Policy`,
the same :func:`~envcheck.inspect.policy.classify_global` and call rules), so a skops
file is allowed exactly when a pickle building the same objects would be -- and skops
itself is never imported.  ``JsonNode`` values are plain JSON (their type is not
imported).  An unknown ``__loader__`` is refused: skops would refuse it too, and envcheck
cannot tell what it builds.  ``_sklearn_version`` in an object's state and the file's
``_skops_version`` go into the version comparison like a pickle's.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import IO, Any, Callable, Optional

from envcheck.inspect.artifact_versions import load_json
from envcheck.inspect.pickle_values import Global
from envcheck.inspect.policy import PickleInspection, Policy
from envcheck.inspect.versions import RecordedVersion

# __loader__ -> how the type is used: "NEWOBJ" (instantiated, state set), "REDUCE"
# (called with arguments), "reference" (imported, not called), "json" (not imported).
LOADERS = {
    "ObjectNode": "NEWOBJ", "DictNode": "NEWOBJ", "DefaultDictNode": "NEWOBJ",
    "ListNode": "NEWOBJ", "SetNode": "NEWOBJ", "TupleNode": "NEWOBJ",
    "BytesNode": "NEWOBJ", "BytearrayNode": "NEWOBJ", "SliceNode": "NEWOBJ",
    "ReduceNode": "REDUCE", "ConstructorFromReduceNode": "REDUCE",
    "PartialNode": "REDUCE", "NdArrayNode": "NEWOBJ", "MaskedArrayNode": "NEWOBJ",
    "DTypeNode": "NEWOBJ", "RandomStateNode": "NEWOBJ", "RandomGeneratorNode": "NEWOBJ",
    "SparseMatrixNode": "NEWOBJ", "LossNode": "REDUCE", "TreeNode": "REDUCE",
    "SGDNode": "REDUCE", "_DictWithDeprecatedKeysNode": "NEWOBJ",
    "QuantileForestNode": "REDUCE", "CachedNode": "json",
    "FunctionNode": "reference", "TypeNode": "reference", "MethodNode": "reference",
    "OperatorFuncNode": "reference", "JsonNode": "json",
}
MAX_NODES = 1_000_000
# skops names a compiled scikit-learn loss by the module its Cython class reports
# (``_loss``, from skops's get_module), and its LossNode imports exactly that; the class
# is scikit-learn's ``sklearn._loss._loss`` one, judged under that name.
_LOSS_ALIAS = {"_loss": "sklearn._loss._loss"}


def inspect_schema(path: Path, opener: Callable[[], IO[bytes]], size: int,
                   label: Optional[str]) -> PickleInspection:
    result = PickleInspection(path=path, format="skops", member=label, size=size)
    try:
        with opener() as data:
            text = data.read(size + 1)
        schema = load_json(io.BytesIO(text), size)
    except (ValueError, RecursionError, MemoryError, OSError) as exc:
        result.error = f"skops schema.json cannot be read: {exc}"
        return result
    policy = Policy(result)
    nodes = list(_nodes(schema))
    if len(nodes) > MAX_NODES:
        result.error = f"resource limit: skops schema with more than {MAX_NODES} nodes"
        return result
    for node in nodes:
        _judge(node, text, policy, result)
    if isinstance(schema, dict) and isinstance(schema.get("_skops_version"), str):
        result.recorded.append(RecordedVersion("skops", schema["_skops_version"],
                                               "the skops file"))
    result.protocol = result.max_protocol = None
    policy.finish()
    return result


def _nodes(tree: Any):  # -> Iterator[dict] in document order, iteratively (no recursion)
    pending = [tree]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            pending.extend(reversed(item))


def _judge(node: dict, text: bytes, policy: Policy, result: PickleInspection) -> None:
    loader, module, name = node.get("__loader__"), node.get("__module__"), node.get("__class__")
    how = LOADERS.get(loader) if isinstance(loader, str) else None
    offset = max(text.find(json.dumps(module).encode()), 0) if isinstance(module, str) else 0
    if how is None:
        policy.on_structural(f"skops node with unknown __loader__ {str(loader)[:80]!r}",
                             offset, True)
        return
    if how == "json":
        return
    if not (isinstance(module, str) and isinstance(name, str)):
        policy.on_structural("skops node without a __module__/__class__ name", offset, True)
        return
    if loader == "LossNode":
        module = _LOSS_ALIAS.get(module, module)
    target = Global(module, name, offset)
    policy.on_global(target)
    if how != "reference":
        policy.on_call(how, target, (), None, offset)
    if loader == "ObjectNode":
        _sklearn_version(node, name, result)


def _sklearn_version(node: dict, name: str, result: PickleInspection) -> None:
    state = node.get("content")
    attrs = state.get("content") if isinstance(state, dict) else None
    version = attrs.get("_sklearn_version") if isinstance(attrs, dict) else None
    raw = version.get("content") if isinstance(version, dict) else None
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if isinstance(value, str):
        counts = result.sklearn_versions.setdefault(name, {})
        counts[value] = counts.get(value, 0) + 1
