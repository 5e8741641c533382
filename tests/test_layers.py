"""The import graph is layered: surfaces -> pipeline -> stages -> data model.

Every import counts -- at module level, inside functions, under ``TYPE_CHECKING`` -- so
that an import cycle cannot come back by hiding in a function body.  The scripts that
run outside envcheck's process (the probe's child side, the sandbox's confine script)
import nothing of envcheck at all.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "envcheck"

# Rank of each top-level part of envcheck: a module may import a lower rank, or its own
# part (acyclically).  Stages of equal rank do not know each other.
RANKS = {
    "model": 0, "launch": 0,
    "read": 1, "inspect": 1, "env": 1, "render": 1,
    "probe": 2,
    "compare": 3,
    "pipeline": 4,
    "commands": 5,
    "integrations": 6,
    "__init__": 7, "__main__": 7,
}
# Run by other interpreters (the package's env, or envcheck's own before it execs the
# probe): the standard library only.
STDLIB = getattr(sys, "stdlib_module_names", frozenset())
STANDALONE = {"envcheck.probe.child", "envcheck.probe.protocol", "envcheck.probe.child_guards",
              "envcheck.probe.child_process", "envcheck.launch.confine"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Every envcheck module ``path`` imports (function bodies included), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" \
        else module_name(path)
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                # `from envcheck.model import checks` imports the module envcheck.model.checks
                candidate = f"{base}.{alias.name}"
                found.append((candidate if _is_module(candidate) else base, node.lineno))
    return [(name, line) for name, line in found
            if name == "envcheck" or name.startswith("envcheck.")]


def _is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_every_part_has_a_rank() -> None:
    assert {part_of(m) for m in MODULES} <= set(RANKS), set(map(part_of, MODULES)) - set(RANKS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    wrong = []
    for target, line in GRAPH[module]:
        if target == "envcheck.model.version" or part_of(target) == part_of(module):
            continue
        if target == "envcheck" or RANKS[part_of(target)] >= RANKS[part_of(module)]:
            wrong.append(f"{MODULES[module].relative_to(REPO)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", sorted(STANDALONE & set(MODULES)))
@pytest.mark.skipif(not STDLIB, reason="needs sys.stdlib_module_names (Python 3.10+)")
def test_standalone_scripts_import_no_envcheck(module: str) -> None:
    # The child imports its helpers from copies beside it, or (in the parent's tests) as
    # these modules: never anything else of envcheck.
    allowed = {"envcheck.probe.protocol", "envcheck.probe.child_guards",
               "envcheck.probe.child_process"} - {module}
    assert [t for t, _ in GRAPH[module] if t not in allowed] == []
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    third_party = set()
    # Module level only: inside functions the child imports what the package installs
    # (pandas, to build the DataFrame it predicts on).
    for node in tree.body:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        third_party |= {n.split(".")[0] for n in names
                        if n and n.split(".")[0] not in STDLIB
                        and n.split(".")[0] not in ("envcheck", "protocol")}
    assert third_party == set()


def test_no_import_cycles() -> None:
    """Within a part, the graph is acyclic too (across parts the ranks make it so)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target, _ in GRAPH.get(node, []):
            if target not in MODULES or target == node:
                continue
            if state.get(target) == "open":
                cycle = stack[stack.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module)


def test_the_checker_finds_a_hidden_cycle(tmp_path: Path) -> None:
    """The test above can fail: an import hidden in a function body is an edge."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from envcheck.pipeline import check_package\n")
    saved = imports_of.__globals__["module_name"]
    try:
        imports_of.__globals__["module_name"] = lambda p: "envcheck.model.m"
        assert imports_of(source) == [("envcheck.pipeline", 2)]
    finally:
        imports_of.__globals__["module_name"] = saved


def test_modules_are_small_enough_to_read() -> None:
    """No module of envcheck over ~400 lines (data tables aside)."""
    long = {m: n for m, p in MODULES.items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420}
    assert not long, long
