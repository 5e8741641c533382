"""The interface's static contract (check ``interface.contract``).  Nothing of it is run.

interface.py is read with :func:`ast.parse` only.  It must

* parse (a syntax error names line and column; when metadata.yaml gives the Python version
  the package targets and that version is not newer than ours, the file is also parsed with
  that version's grammar, so ``match`` in a 3.8 package is caught here, not at load time);
* define ``load_model`` at module level: a ``def``, a ``class``, an import, or a name bound
  to a lambda/other name/call result.  Bound to a literal (``load_model = None``) fails;
* import at top level only modules that the package's requirements install.  An import
  name is mapped to the distributions that provide it (``sklearn`` -> ``scikit-learn``);
  the standard library (``sys.stdlib_module_names``) and the package's own sibling modules
  are fine.  An import covered only as a dependency of a listed requirement (``numpy``
  with only ``scikit-learn`` listed) is a warning: it works until that dependency changes.
  Imports inside ``try: ... except ImportError`` and ``if TYPE_CHECKING:`` are optional
  and not reported; imports inside functions are warnings (they run when called).
  (:mod:`envcheck.read.interface_imports`, :mod:`envcheck.model.stdlib_names`.)
"""

from __future__ import annotations

import ast
import codecs
import io
import re
import sys
import tokenize
from typing import TYPE_CHECKING, Optional

from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, error, warning
from envcheck.read.interface_imports import check_imports, top_level
from envcheck.read.requirements_file import RequirementsFile

if TYPE_CHECKING:
    from envcheck.model.package import ModelPackage

MAX_BYTES = 2_000_000
MAX_QUOTED = 120  # characters of the package's source a finding may quote


# --------------------------------------------------------------------------- the check

def check_interface(pkg: "ModelPackage", requirements: Optional["RequirementsFile"]) -> CheckResult:
    """Static contract of the interface file: parses, defines load_model, imports covered."""
    path = pkg.interface_path
    shown = pkg.relative(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return checks.INTERFACE_CONTRACT.result([error(
                f"{shown} is {size} bytes; an interface over {MAX_BYTES} bytes is refused",
                file=shown)])
        source = path.read_bytes()
    except OSError as exc:
        return checks.INTERFACE_CONTRACT.result([error(
            f"cannot read {shown}: {exc.strerror or exc}", file=shown)])

    target = _target_python(pkg.python_version)
    tree, findings = _parse(source, shown, target)
    if tree is None:
        return checks.INTERFACE_CONTRACT.result(findings)
    findings.extend(_check_load_model(tree, shown))
    findings.extend(check_imports(tree, shown, pkg, requirements, target))
    return checks.INTERFACE_CONTRACT.result(findings)


def _target_python(version: Optional[str]) -> Optional[tuple[int, int]]:
    """``3.8`` / ``3.8.10`` -> (3, 8); specifiers and junk -> None (no version-specific rules)."""
    if version is None:
        return None
    match = re.fullmatch(r"\s*3\.([0-9]+)(\.[0-9]+)?\s*", version)
    return (3, int(match.group(1))) if match else None


def _decode(source: bytes, shown: str) -> tuple[Optional[str], list[Finding]]:
    """The text the interpreter would read: PEP 263 cookie or BOM, else UTF-8.

    ``ast.parse(bytes)`` is laxer than the import system (it accepts a non-UTF-8 byte in a
    comment), so the source is decoded first, as importing it would."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    except SyntaxError as exc:
        # An undecodable first two lines (no cookie can be read there) or an unknown/
        # conflicting cookie: with UTF-8 we can at least point at the bad byte.
        encoding = "utf-8"
        try:
            source.decode(encoding)
        except UnicodeDecodeError:
            pass
        else:
            return None, [error(f"{shown} cannot be imported: {exc}", file=shown,
                                line=getattr(exc, "lineno", None))]
    try:
        return source.decode(encoding), []
    except LookupError:
        return None, [error(f"{shown} declares an unknown encoding {encoding!r}", file=shown)]
    except UnicodeDecodeError as exc:
        line = source[:exc.start].count(b"\n") + 1
        name = "UTF-8" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding
        return None, [error(
            f"{shown} is not {name} (byte 0x{source[exc.start]:02x} at line {line}): "
            f"Python refuses to import it; save it as UTF-8 (or declare its encoding with a "
            f"'# -*- coding: ... -*-' line)", file=shown, line=line,
            details={"encoding": encoding, "offset": exc.start})]


def _parse(source: bytes, shown: str,
           target: Optional[tuple[int, int]]) -> tuple[Optional[ast.Module], list[Finding]]:
    host = sys.version_info[:2]
    text, problems = _decode(source, shown)
    if text is None:
        return None, problems
    try:
        tree = ast.parse(text, filename=shown)
    except SyntaxError as exc:
        if target is not None and target > host:
            # Newer grammar than ours: we cannot judge it; the probe will.
            return None, [warning(
                f"{shown} does not parse with Python {host[0]}.{host[1]} ({exc.msg}), and the "
                f"package targets Python {target[0]}.{target[1]}: syntax not checked",
                file=shown, line=exc.lineno, column=exc.offset)]
        return None, [error(f"{shown} has a syntax error: {exc.msg}", file=shown,
                            line=exc.lineno, column=exc.offset, details={"text": (exc.text or "").strip()[:MAX_QUOTED]})]
    except (ValueError, UnicodeDecodeError) as exc:  # null bytes, bad encoding cookie
        return None, [error(f"{shown} cannot be parsed: {exc}", file=shown)]
    except (RecursionError, MemoryError):
        return None, [error(f"{shown} is nested too deeply to parse", file=shown)]
    findings: list[Finding] = []
    if target is not None and (3, 4) <= target < host:
        try:
            ast.parse(text, filename=shown, feature_version=target)
        except SyntaxError as exc:
            line, column = exc.lineno, exc.offset
            match_stmt = getattr(ast, "Match", None)
            if "pattern matching" in (exc.msg or "").lower() and match_stmt is not None:
                # CPython points at the end of the match block; the `match` line is clearer.
                first = next((n for n in ast.walk(tree) if isinstance(n, match_stmt)), None)
                if first is not None:
                    line, column = first.lineno, first.col_offset + 1
            findings.append(error(
                f"{shown} uses syntax Python {target[0]}.{target[1]} (the package's "
                f"python_version) does not have: {exc.msg}", file=shown, line=line,
                column=column, details={"python": f"{target[0]}.{target[1]}"}))
        except Exception:  # feature_version is best-effort; never let it crash the check
            pass
    return tree, findings


_LITERALS = (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.JoinedStr,
             ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp, ast.BinOp,
             ast.Compare, ast.BoolOp, ast.UnaryOp)


def _check_load_model(tree: ast.Module, shown: str) -> list[Finding]:
    """``load_model`` must be defined at module level and be callable."""
    binding: Optional[ast.AST] = None
    for stmt, _ in top_level(tree.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                stmt.name == "load_model":
            binding = stmt
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if (alias.asname or alias.name.split(".")[0]) == "load_model":
                    binding = stmt
        elif isinstance(stmt, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == "load_model" for t in stmt.targets):
                binding = stmt
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and \
                stmt.target.id == "load_model" and stmt.value is not None:
            binding = stmt

    if binding is None:
        stars = [stmt for stmt, _ in top_level(tree.body) if isinstance(stmt, ast.ImportFrom)
                 and any(alias.name == "*" for alias in stmt.names)]
        if stars:
            return [warning(f"load_model is not defined in {shown}; it may come from "
                            f"`from {stars[0].module or '.'} import *` (line {stars[0].lineno}), "
                            f"which cannot be checked without running it: import it by name",
                            file=shown, line=stars[0].lineno)]
        nested = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.name == "load_model"]
        where = (f"; the one at line {nested[0].lineno} is nested inside another definition"
                 if nested else "")
        return [error(f"{shown} does not define load_model() at module level{where}: envcheck "
                      f"and your users call load_model() to get the model", file=shown,
                      line=nested[0].lineno if nested else None)]
    line = getattr(binding, "lineno", None)
    col = getattr(binding, "col_offset", None)
    column = col + 1 if col is not None else None
    if isinstance(binding, ast.AsyncFunctionDef):
        return [error("load_model is 'async def': calling it returns a coroutine, not a model",
                      file=shown, line=line, column=column)]
    if isinstance(binding, (ast.Assign, ast.AnnAssign)):
        value = binding.value
        if isinstance(value, _LITERALS):
            return [error(f"load_model is assigned a {type(value).__name__.lower()} value, "
                          f"which cannot be called; define it with def", file=shown, line=line,
                          column=column)]
        return []
    if isinstance(binding, ast.FunctionDef):
        args = binding.args
        positional = args.posonlyargs + args.args
        required = len(positional) - len(args.defaults)
        required_kw = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
        names = [a.arg for a in positional[:required]] + required_kw
        if names:
            return [warning(f"load_model requires argument(s) {', '.join(names)}; it is "
                            f"called as load_model() with none, so give them defaults",
                            file=shown, line=line, column=column)]
    return []
