"""What the package's own Python modules define, read with ``ast`` (never imported).

A pickle may refer to a class or function the package ships beside ``interface.py``
(``features:RatioFeatures``): that is code ``interface.py`` already runs, so the origin
policy (:mod:`envcheck.inspect.origins`) allows it -- but only what a module *defines*: a
top-level ``class`` or ``def``.  A name a module *imports* (``from os import system``) is
what it was imported from, and is judged as that (a re-exported gadget stays a gadget);
a name bound any other way (``system = os.system``), or a module that rewrites its own
namespace at run time (``globals()``, ``setattr`` on a module, ``exec``), defines nothing
this reader can vouch for.

Module names are what ``import`` would find with the package root (and the interface's
folder) on ``sys.path``: ``features.py`` is ``features``, ``lib/x.py`` is ``lib.x``.
"""

from __future__ import annotations

import ast
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

MAX_FILES = 2000
MAX_DIRS = 20_000
MAX_FILE_BYTES = 2_000_000
_SKIP_DIRS = frozenset({"__pycache__", "reference", "node_modules", "site-packages"})
# Calls at module level that rewrite a module's namespace where ast cannot see it.
_DYNAMIC_CALLS = frozenset({"globals", "vars", "exec", "eval", "setattr", "__import__"})


@dataclass(frozen=True)
class Binding:
    kind: str  # "class" | "def" | "import" | "other"
    target: Optional[tuple[str, str]] = None  # "import": (module, name); name "" = module
    bases: tuple[str, ...] = ()  # "class": dotted base names, resolved through imports


@dataclass
class ModuleCode:
    path: Path
    names: dict[str, Binding] = field(default_factory=dict)
    dynamic: bool = False  # rewrites its namespace at run time: defines nothing for sure


@dataclass
class PackageCode:
    modules: dict[str, ModuleCode] = field(default_factory=dict)
    top_names: frozenset[str] = frozenset()  # top-level module/package names shipped

    def ships(self, module: str) -> bool:
        return module.split(".")[0] in self.top_names

    def binding(self, module: str, name: str) -> Optional[Binding]:
        code = self.modules.get(module)
        if code is None or code.dynamic:
            return None
        return code.names.get(name)


def read_package_code(roots: list[Path]) -> PackageCode:
    """Every ``.py`` file under ``roots`` (bounded), by module name."""
    found = PackageCode()
    tops: set[str] = set()
    count = dirs = 0
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirs += 1
            if dirs > MAX_DIRS:
                break
            rel = Path(dirpath).relative_to(root)
            dirnames[:] = sorted(d for d in dirnames if d.isidentifier()
                                 and d not in _SKIP_DIRS and not d.startswith("."))
            if rel.parts and (Path(dirpath) / "pyvenv.cfg").exists():
                dirnames[:] = []  # a virtualenv inside the package is not its code
                continue
            for filename in sorted(filenames):
                stem, dot, suffix = filename.partition(".")
                if not dot or not stem.isidentifier():
                    continue
                if suffix in ("so", "pyd", "pyc") or ".so" in filename:
                    tops.add(rel.parts[0] if rel.parts else stem)  # native: opaque
                    continue
                if suffix != "py":
                    continue
                count += 1
                if count > MAX_FILES:
                    return found
                parts = list(rel.parts) + ([] if stem == "__init__" else [stem])
                if not parts:
                    continue
                tops.add(parts[0])
                module = ".".join(parts)
                if module not in found.modules:
                    found.modules[module] = _read_module(Path(dirpath) / filename, module,
                                                         stem == "__init__")
        found.top_names = frozenset(tops)
    return found


def _read_module(path: Path, module: str, is_package: bool) -> ModuleCode:
    code = ModuleCode(path=path)
    try:
        # Only a regular file, never through a link (it could point outside the package)
        # and never a FIFO or device (opening one blocks): such a module vouches for nothing.
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            code.dynamic = True
            return code
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            source = handle.read(MAX_FILE_BYTES + 1)
        tree = ast.parse(source, filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        code.dynamic = True  # unreadable: vouches for nothing
        return code
    package = module if is_package else module.rpartition(".")[0]
    for stmt in _module_level(tree.body):
        _bind(code, stmt, package)
    return code


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run when the module is imported: the body and its if/try/with
    blocks (every branch: either may be the one that binds a name)."""
    for stmt in body:
        yield stmt
        for block in ("body", "orelse", "finalbody", "handlers"):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                break
            for child in getattr(stmt, block, None) or ():
                yield from _module_level(getattr(child, "body", None) or []
                                         if isinstance(child, ast.ExceptHandler) else [child])


def _bind(code: ModuleCode, stmt: ast.stmt, package: str) -> None:
    names = code.names
    if isinstance(stmt, ast.ClassDef):
        names[stmt.name] = Binding("class", bases=tuple(
            b for b in (_resolve(names, base) for base in stmt.bases) if b))
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        names[stmt.name] = Binding("def")
    elif isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                names[alias.asname] = Binding("import", (alias.name, ""))
            else:
                top = alias.name.split(".")[0]
                names[top] = Binding("import", (top, ""))
    elif isinstance(stmt, ast.ImportFrom):
        source = _absolute(stmt, package)
        for alias in stmt.names:
            if alias.name == "*":
                code.dynamic = True  # what it binds depends on another module
            else:
                names[alias.asname or alias.name] = Binding("import", (source, alias.name))
    elif not isinstance(stmt, (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.Expr,
                               ast.Pass)) and type(stmt).__name__ != "TryStar":
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names[node.id] = Binding("other")
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If,
                         ast.Try, ast.With, ast.AsyncWith)) or type(stmt).__name__ == "TryStar":
        # bodies run later (blocks: their statements come on their own from top_level);
        # module-level code is what rewrites a namespace
        return
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in _DYNAMIC_CALLS:
            code.dynamic = True
        elif isinstance(node, ast.Attribute) and node.attr in ("modules", "__dict__"):
            code.dynamic = True  # sys.modules[...] / module.__dict__ writes


def _absolute(stmt: ast.ImportFrom, package: str) -> str:
    if not stmt.level:
        return stmt.module or ""
    parts = package.split(".") if package else []
    base = parts[:len(parts) - (stmt.level - 1)] if stmt.level > 1 else parts
    return ".".join(base + ([stmt.module] if stmt.module else []))


def _resolve(names: dict[str, Binding], expr: ast.expr) -> Optional[str]:
    """The dotted name a base-class expression refers to, through the module's imports."""
    chain: list[str] = []
    while isinstance(expr, ast.Attribute):
        chain.insert(0, expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    bound = names.get(expr.id)
    if bound is not None and bound.kind == "import" and bound.target is not None:
        module, name = bound.target
        head = f"{module}.{name}" if name else module
    else:
        head = expr.id
    return ".".join([head] + chain)
