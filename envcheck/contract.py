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
"""

from __future__ import annotations

import ast
import codecs
import io
import re
import sys
import tokenize
from typing import TYPE_CHECKING, Iterable, Iterator, Optional

from packaging.utils import canonicalize_name

from envcheck.findings import CheckResult, Finding, error, info, warning

if TYPE_CHECKING:
    from envcheck.package import ModelPackage
    from envcheck.requirements import RequirementsFile

MAX_BYTES = 2_000_000

# Import name -> distributions that provide it (canonical names).  Only names whose
# distribution differs from the import are needed: ``numpy`` -> ``numpy`` is implied.
IMPORT_TO_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn",),
    "skimage": ("scikit-image",),
    "skopt": ("scikit-optimize",),
    "imblearn": ("imbalanced-learn",),
    "yaml": ("pyyaml",),
    "ruamel": ("ruamel-yaml",),
    "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
            "opencv-contrib-python-headless"),
    "PIL": ("pillow",),
    "bs4": ("beautifulsoup4",),
    "dateutil": ("python-dateutil",),
    "dotenv": ("python-dotenv",),
    "jose": ("python-jose",),
    "jwt": ("pyjwt",),
    "magic": ("python-magic",),
    "docx": ("python-docx",),
    "pptx": ("python-pptx",),
    "serial": ("pyserial",),
    "usb": ("pyusb",),
    "zmq": ("pyzmq",),
    "attr": ("attrs",),
    "OpenSSL": ("pyopenssl",),
    "Crypto": ("pycryptodome", "pycrypto"),
    "Cryptodome": ("pycryptodomex",),
    "fitz": ("pymupdf",),
    "Levenshtein": ("levenshtein", "python-levenshtein"),
    "MySQLdb": ("mysqlclient",),
    "psycopg2": ("psycopg2", "psycopg2-binary"),
    "pkg_resources": ("setuptools",),
    "mpl_toolkits": ("matplotlib",),
    "google.protobuf": ("protobuf",),
    "Bio": ("biopython",),
    "umap": ("umap-learn",),
    "faiss": ("faiss-cpu", "faiss-gpu"),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos",
                   "tensorflow-intel", "tf-nightly"),
    "keras": ("keras", "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "torch": ("torch",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "lightgbm": ("lightgbm",),
    "catboost": ("catboost",),
    "statsmodels": ("statsmodels",),
    "sentence_transformers": ("sentence-transformers",),
    "fbprophet": ("fbprophet",),
    "igraph": ("igraph", "python-igraph"),
    "win32api": ("pywin32",),
    "win32con": ("pywin32",),
    "gi": ("pygobject",),
    "rdkit": ("rdkit", "rdkit-pypi"),
    "tzlocal": ("tzlocal",),
    "websocket": ("websocket-client",),
    "slugify": ("python-slugify",),
    "multipart": ("python-multipart",),
    "lz4": ("lz4",),
    "snappy": ("python-snappy",),
}

# Well-known runtime dependencies (canonical names), so that an import brought in by a
# listed requirement is a warning, not a failure.  Closed transitively below.
TRANSITIVE: dict[str, tuple[str, ...]] = {
    "scikit-learn": ("numpy", "scipy", "joblib", "threadpoolctl"),
    "scipy": ("numpy",),
    "pandas": ("numpy", "python-dateutil", "pytz", "tzdata"),
    "python-dateutil": ("six",),
    "xgboost": ("numpy", "scipy"),
    "lightgbm": ("numpy", "scipy"),
    "catboost": ("numpy", "pandas", "scipy", "graphviz", "matplotlib", "plotly", "six"),
    "statsmodels": ("numpy", "scipy", "pandas", "patsy", "packaging"),
    "patsy": ("numpy",),
    "imbalanced-learn": ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"),
    "scikit-image": ("numpy", "scipy", "networkx", "pillow", "imageio", "tifffile",
                     "packaging", "lazy-loader"),
    "matplotlib": ("numpy", "pillow", "packaging", "pyparsing", "python-dateutil", "cycler",
                   "kiwisolver", "fonttools", "contourpy"),
    "seaborn": ("numpy", "pandas", "matplotlib"),
    "torch": ("filelock", "typing-extensions", "sympy", "networkx", "jinja2", "fsspec"),
    "torchvision": ("torch", "numpy", "pillow"),
    "tensorflow": ("numpy", "protobuf", "absl-py", "h5py", "keras", "six", "termcolor",
                   "wrapt", "grpcio", "packaging", "ml-dtypes", "opt-einsum", "gast",
                   "flatbuffers", "astunparse", "requests", "typing-extensions"),
    "keras": ("numpy", "h5py", "absl-py", "rich", "namex", "optree", "ml-dtypes", "packaging"),
    "transformers": ("numpy", "huggingface-hub", "tokenizers", "requests", "pyyaml", "regex",
                     "tqdm", "packaging", "safetensors", "filelock"),
    "huggingface-hub": ("filelock", "fsspec", "requests", "tqdm", "pyyaml", "packaging",
                        "typing-extensions"),
    "sentence-transformers": ("transformers", "torch", "scikit-learn", "scipy", "tqdm",
                              "huggingface-hub", "pillow"),
    "requests": ("urllib3", "idna", "certifi", "charset-normalizer"),
    "shap": ("numpy", "scipy", "scikit-learn", "pandas", "tqdm", "numba", "cloudpickle",
             "slicer", "packaging"),
    "numba": ("numpy", "llvmlite"),
    "umap-learn": ("numpy", "scipy", "scikit-learn", "numba", "pynndescent", "tqdm"),
    "pynndescent": ("numpy", "scipy", "scikit-learn", "numba", "llvmlite", "joblib"),
    "onnxruntime": ("numpy", "protobuf", "packaging", "flatbuffers", "sympy", "coloredlogs"),
    "pyarrow": ("numpy",),
    "h5py": ("numpy",),
    "mlflow": ("numpy", "pandas", "scikit-learn", "scipy", "pyyaml", "requests", "click",
               "cloudpickle", "packaging", "protobuf", "sqlalchemy", "flask", "jinja2"),
    "prophet": ("numpy", "pandas", "matplotlib", "cmdstanpy", "holidays", "tqdm"),
    "pmdarima": ("numpy", "scipy", "scikit-learn", "pandas", "statsmodels", "joblib",
                 "cython", "packaging", "urllib3"),
    "category-encoders": ("numpy", "scikit-learn", "scipy", "statsmodels", "pandas", "patsy"),
    "opencv-python": ("numpy",),
    "opencv-python-headless": ("numpy",),
    "spacy": ("numpy", "requests", "tqdm", "pydantic", "jinja2", "packaging", "thinc",
              "srsly", "typer"),
    "gensim": ("numpy", "scipy", "smart-open"),
    "nltk": ("click", "joblib", "regex", "tqdm"),
    "flask": ("werkzeug", "jinja2", "itsdangerous", "click", "blinker"),
    "pydantic": ("pydantic-core", "typing-extensions", "annotated-types"),
}

# Standard-library modules that a given Python does not have: (added in, removed in).
_STDLIB_SPAN: dict[str, tuple[Optional[tuple[int, int]], Optional[tuple[int, int]]]] = {
    "tomllib": ((3, 11), None),
    "zoneinfo": ((3, 9), None),
    "graphlib": ((3, 9), None),
    "distutils": (None, (3, 12)),
    "imp": (None, (3, 12)),
    "asynchat": (None, (3, 12)),
    "asyncore": (None, (3, 12)),
    "smtpd": (None, (3, 12)),
    **{name: (None, (3, 13)) for name in (
        "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "mailcap", "msilib",
        "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib",
        "uu", "xdrlib", "lib2to3")},
}

_NAMESPACE_PACKAGES = ("google", "azure", "jaraco", "zope", "backports", "sphinxcontrib")


def _closure() -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for dist in TRANSITIVE:
        seen: set[str] = set()
        todo = list(TRANSITIVE[dist])
        while todo:
            dep = todo.pop()
            if dep not in seen and dep != dist:
                seen.add(dep)
                todo.extend(TRANSITIVE.get(dep, ()))
        out[dist] = frozenset(seen)
    return out


_TRANSITIVE_CLOSURE = _closure()


def distributions_for(module: str) -> tuple[str, ...]:
    """Distributions that may provide the dotted ``module`` (longest known prefix first)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in IMPORT_TO_DISTRIBUTIONS:
            return IMPORT_TO_DISTRIBUTIONS[prefix]
    return (canonicalize_name(parts[0]),)


def is_stdlib(top: str) -> bool:
    return top in sys.stdlib_module_names or top in _STDLIB_SPAN


# --------------------------------------------------------------------------- the check

def check_interface(pkg: "ModelPackage", requirements: Optional["RequirementsFile"]) -> CheckResult:
    """Static contract of the interface file: parses, defines load_model, imports covered."""
    path = pkg.interface_path
    shown = pkg.relative(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return CheckResult.from_findings("interface.contract", [error(
                f"{shown} is {size} bytes; an interface over {MAX_BYTES} bytes is refused",
                file=shown)])
        source = path.read_bytes()
    except OSError as exc:
        return CheckResult.from_findings("interface.contract", [error(
            f"cannot read {shown}: {exc.strerror or exc}", file=shown)])

    target = _target_python(pkg.python_version)
    tree, findings = _parse(source, shown, target)
    if tree is None:
        return CheckResult.from_findings("interface.contract", findings)
    findings.extend(_check_load_model(tree, shown))
    findings.extend(_check_imports(tree, shown, pkg, requirements, target))
    return CheckResult.from_findings("interface.contract", findings)


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
                            line=exc.lineno, column=exc.offset, details={"text": (exc.text or "").strip()})]
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


def _top_level(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, bool]]:
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


_LITERALS = (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.JoinedStr,
             ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp, ast.BinOp,
             ast.Compare, ast.BoolOp, ast.UnaryOp)


def _check_load_model(tree: ast.Module, shown: str) -> list[Finding]:
    """``load_model`` must be defined at module level and be callable."""
    binding: Optional[ast.AST] = None
    for stmt, _ in _top_level(tree.body):
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
        stars = [stmt for stmt, _ in _top_level(tree.body) if isinstance(stmt, ast.ImportFrom)
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
    top_ids: dict[int, bool] = {id(stmt): opt for stmt, opt in _top_level(tree.body)}
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


def _check_imports(tree: ast.Module, shown: str, pkg: "ModelPackage",
                   requirements: Optional["RequirementsFile"],
                   target: Optional[tuple[int, int]]) -> list[Finding]:
    findings: list[Finding] = []
    local = _local_modules(pkg)
    third_party: list[tuple[str, ast.stmt, str]] = []
    for module, stmt, where in _imports(tree):
        top = module.split(".")[0]
        if is_stdlib(top):
            if where != "optional" and target is not None:
                findings.extend(_stdlib_span(top, target, shown, stmt))
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
        if set(candidates) & brought and via:
            findings.append(warning(
                f"`{statement}` relies on {', '.join(via)} to bring in {expected}; "
                f"pin {expected} in requirements.txt", file=shown, line=line, column=column,
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
                f"add {expected}==<version> to requirements.txt", file=shown, line=line,
                column=column, details=details))
    return findings


def _namespace_covered(top: str, direct: Iterable[str]) -> bool:
    if top not in _NAMESPACE_PACKAGES:
        return False
    return any(name.startswith(f"{top}-") for name in direct)


def _stdlib_span(top: str, target: tuple[int, int], shown: str, stmt: ast.stmt) -> list[Finding]:
    span = _STDLIB_SPAN.get(top)
    if span is None:
        return []
    added, removed = span
    version = f"{target[0]}.{target[1]}"
    if added is not None and target < added:
        message = f"`{top}` is in the standard library only from Python {added[0]}.{added[1]}"
    elif removed is not None and target >= removed:
        message = f"`{top}` was removed from the standard library in Python {removed[0]}.{removed[1]}"
    else:
        return []
    return [error(f"{message}; the package targets Python {version}", file=shown,
                  line=stmt.lineno, column=stmt.col_offset + 1, details={"import": top})]
