"""What the interface imports, and whether the package's requirements install it.

An import name is mapped to the distributions that provide it (``sklearn`` ->
``scikit-learn``); the standard library (:mod:`envcheck.read.stdlib_names`) and the
package's own sibling modules are fine.  An import covered only as a dependency of a listed
requirement (the :data:`TRANSITIVE` table: ``numpy`` with only ``scikit-learn`` listed) is
a warning.  Imports inside ``try: ... except ImportError`` and ``if TYPE_CHECKING:`` are
optional and not reported; imports inside functions are warnings (they run when called).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Iterable, Iterator, Optional

from packaging.utils import canonicalize_name

from envcheck.model.distributions import (  # noqa: F401  (TRANSITIVE: re-exported)
    _TRANSITIVE_CLOSURE,
    TRANSITIVE,
    distributions_for,
)
from envcheck.model.findings import Finding, error, info, warning
from envcheck.model.stdlib_names import is_stdlib, stdlib_span
from envcheck.read.requirements_file import RequirementsFile

if TYPE_CHECKING:
    from envcheck.model.package import ModelPackage


_NAMESPACE_PACKAGES = ("google", "azure", "jaraco", "zope", "backports", "sphinxcontrib")


def top_level(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, bool]]:
    """Module-level statements, descending into if/try/with blocks.  (stmt, optional)

    ``optional``: inside ``try`` with an ImportError-catching handler, or ``if TYPE_CHECKING``.
    """
    def walk(stmts: list[ast.stmt], optional: bool) -> Iterator[tuple[ast.stmt, bool]]:
        for stmt in stmts:
            yield stmt, optional
            if isinstance(stmt, ast.If):
                # Neither block runs when the model is loaded: imports there are optional.
                guarded = optional or _is_type_checking(stmt.test) or _is_main_guard(stmt.test)
                yield from walk(stmt.body, guarded)
                yield from walk(stmt.orelse, optional)
            elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                catches = any(_catches_import_error(h) for h in stmt.handlers)  # type: ignore[attr-defined]
                yield from walk(stmt.body, optional or catches)  # type: ignore[attr-defined]
                for handler in stmt.handlers:  # type: ignore[attr-defined]
                    yield from walk(handler.body, optional)
                yield from walk(stmt.orelse, optional)  # type: ignore[attr-defined]
                yield from walk(stmt.finalbody, optional)  # type: ignore[attr-defined]
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                yield from walk(stmt.body, optional)
    return walk(body, False)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_main_guard(test: ast.expr) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for name in names:
        ident = name.id if isinstance(name, ast.Name) else (
            name.attr if isinstance(name, ast.Attribute) else "")
        if ident in ("ImportError", "ModuleNotFoundError", "Exception", "BaseException"):
            return True
    return False


def _local_modules(pkg: "ModelPackage") -> set[str]:
    """Module names importable from the package itself (root and the interface's folder)."""
    names: set[str] = set()
    for folder in {pkg.root, pkg.interface_path.parent}:
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and entry.name.isidentifier():
                names.add(entry.name)
            elif entry.suffix in (".py", ".pyc", ".so", ".pyd"):
                names.add(entry.name.split(".")[0])
    return names


def _imports(tree: ast.Module) -> Iterator[tuple[str, ast.stmt, str]]:
    """(dotted module, statement, where) for every absolute import; where: top|optional|function."""
    top_ids: dict[int, bool] = {id(stmt): opt for stmt, opt in top_level(tree.body)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        if id(node) in top_ids:
            where = "optional" if top_ids[id(node)] else "top"
        else:
            where = "function"
        for module in modules:
            yield module, node, where


def check_imports(tree: ast.Module, shown: str, pkg: "ModelPackage",
                   requirements: Optional["RequirementsFile"],
                   target: Optional[tuple[int, int]]) -> list[Finding]:
    findings: list[Finding] = []
    local = _local_modules(pkg)
    third_party: list[tuple[str, ast.stmt, str]] = []
    for module, stmt, where in _imports(tree):
        top = module.split(".")[0]
        if is_stdlib(top):
            if where != "optional" and target is not None:
                findings.extend(stdlib_span(top, target, shown, stmt))
            continue
        if top in local or where == "optional":
            continue
        third_party.append((module, stmt, where))

    if not third_party:
        return findings
    if requirements is None or not requirements.readable:
        findings.append(info("requirements could not be read: imports not compared with them",
                             file=shown))
        return findings

    # With unreadable lines, an import may look uncovered only because its requirement
    # line failed to parse: then it is a warning, and requirements.parse has the error.
    settled = requirements.ok
    direct = requirements.names()
    brought = set().union(*(_TRANSITIVE_CLOSURE.get(d, frozenset()) for d in direct)) if direct else set()
    reported: set[tuple[str, str]] = set()
    for module, stmt, where in third_party:
        top = module.split(".")[0]
        candidates = distributions_for(module)
        if set(candidates) & direct or _namespace_covered(top, direct):
            continue
        key = (top, where)
        if key in reported:
            continue
        reported.add(key)
        expected = candidates[0]
        statement = f"import {module}" if isinstance(stmt, ast.Import) else f"from {module} import ..."
        line, column = stmt.lineno, stmt.col_offset + 1
        details = {"import": module, "distribution": expected}
        via = sorted(d for d in direct if set(candidates) & _TRANSITIVE_CLOSURE.get(d, frozenset()))
        # The file the package declares its direct requirements in (pyproject.toml, ...).
        declared_in = requirements.path.name if requirements is not None else "requirements.txt"
        if set(candidates) & brought and via:
            findings.append(warning(
                f"`{statement}` relies on {', '.join(via)} to bring in {expected}; "
                f"pin {expected} in {declared_in}", file=shown, line=line, column=column,
                details={**details, "via": via}))
        elif where == "function":
            findings.append(warning(
                f"`{statement}` (inside a function) needs {expected}, which no requirement "
                f"installs; it fails when that code runs", file=shown, line=line,
                column=column, details=details))
        else:
            needs = (f"the distribution {expected}" if expected != canonicalize_name(top)
                     else expected)
            make = error if settled else warning
            findings.append(make(
                f"`{statement}` needs {needs}, which no requirement installs: "
                f"add {expected}==<version> to {declared_in}", file=shown, line=line,
                column=column, details=details))
    return findings


def _namespace_covered(top: str, direct: Iterable[str]) -> bool:
    if top not in _NAMESPACE_PACKAGES:
        return False
    return any(name.startswith(f"{top}-") for name in direct)
