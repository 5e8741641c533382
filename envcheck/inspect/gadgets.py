"""The denylist: globals that are gadgets whatever the package, its requirements or a trust.

A gadget is anything that, imported, constructed or called while unpickling (or held by a
model and called later), runs code, starts processes, touches files or the network, or
unpickles again.  It always wins: a distribution the package installs, a module shipped with
the package that re-exports it, and every wildcard trust leave it refused; only an exact
``--trust-pickle module:name`` on the command line (the user, knowingly) lets one through.

Three tables:

* :data:`DANGEROUS_MODULES`: whole modules (and their submodules): ``os``, ``subprocess``,
  ``socket``, ``pickle``, ``scipy.io``, ``pandas.io``, ``joblib.parallel`` ...
* :data:`DANGEROUS_GLOBALS`: single names: ``builtins.eval``/``getattr``/``open``, every
  loader that unpickles again (``joblib.load``, ``numpy.load``, ``pandas.read_pickle`` ...).
* :data:`GADGET_CLASSES`: classes of the common ML distributions and the standard library
  whose constructor, ``__new__`` or ``__setstate__`` opens files, processes or sockets
  (``subprocess.Popen``, ``logging.FileHandler``, ``numpy.memmap``, ``pandas.HDFStore``,
  ``xgboost.DMatrix`` ...): surveyed from numpy, pandas, scipy, scikit-learn, joblib,
  xgboost, lightgbm, catboost, statsmodels and the standard library.

:data:`INIT_READS_FILES` are classes real models pickle (so not gadgets) whose
``__init__`` reads a file named by its arguments: they may be restored (NEWOBJ, which runs
no ``__init__``, then BUILD) but never *called* (REDUCE/INST/OBJ run ``__init__``).
"""

from __future__ import annotations

from typing import Optional

from envcheck.inspect.allowlist_torch import TORCH_SAFE

DANGEROUS_MODULES = {
    "os": "runs commands and touches files",
    "posix": "runs commands and touches files",
    "nt": "runs commands and touches files",
    "subprocess": "runs commands",
    "pty": "runs commands",
    "commands": "runs commands",
    "popen2": "runs commands",
    "platform": "runs commands",
    "sys": "changes the interpreter",
    "importlib": "imports arbitrary modules",
    "imp": "imports arbitrary modules",
    "pkgutil": "imports arbitrary modules",
    "runpy": "runs arbitrary modules",
    "marshal": "builds code objects",
    "types": "builds code and function objects",
    "code": "runs code",
    "codeop": "compiles code",
    "ctypes": "calls native code",
    "_ctypes": "calls native code",
    "socket": "opens network connections",
    "shutil": "copies and deletes files",
    "tempfile": "creates files",
    "io": "opens files",
    "_io": "opens files",
    "pathlib": "reads and writes files",
    "pickle": "loads another pickle",
    "_pickle": "loads another pickle",
    "cPickle": "loads another pickle",
    "dill": "loads another pickle",
    "cloudpickle": "builds functions from code",
    "joblib.externals.cloudpickle": "builds functions from code",
    "webbrowser": "opens programs",
    "pdb": "runs code",
    "bdb": "runs code",
    "timeit": "runs code",
    "trace": "runs code",
    "profile": "runs code",
    "cProfile": "runs code",
    "multiprocessing": "starts processes",
    "concurrent": "starts processes",
    "threading": "starts threads",
    "_thread": "starts threads",
    "signal": "changes signal handling",
    "asyncio": "runs commands",
    "pydoc": "imports arbitrary modules",
    "numpy.f2py": "builds and imports native code",
    "numpy.distutils": "builds native code",
    "numpy.ctypeslib": "loads native libraries",
    "numpy.testing": "runs commands",
    "torch": "loads another pickle",
    # standard library: files, archives, network, processes, code
    "zipfile": "reads and writes files", "tarfile": "reads and writes files",
    "gzip": "reads and writes files", "bz2": "reads and writes files",
    "lzma": "reads and writes files", "zipimport": "imports code from archives",
    "shelve": "loads another pickle", "dbm": "reads and writes files",
    "sqlite3": "reads and writes files", "mmap": "maps files", "fcntl": "controls files",
    "glob": "lists files", "fileinput": "reads files", "linecache": "reads files",
    "tokenize": "reads files", "filecmp": "reads files", "mailbox": "reads and writes files",
    "http": "opens network connections", "urllib": "opens network connections",
    "ftplib": "opens network connections", "smtplib": "opens network connections",
    "poplib": "opens network connections", "imaplib": "opens network connections",
    "nntplib": "opens network connections", "telnetlib": "opens network connections",
    "socketserver": "opens network connections", "xmlrpc": "opens network connections",
    "ssl": "opens network connections", "selectors": "watches sockets",
    "asyncore": "opens network connections", "asynchat": "opens network connections",
    "logging.handlers": "opens files and sockets", "logging.config": "opens sockets, reads files",
    "atexit": "runs code at exit", "gc": "reaches every object", "inspect": "reads source files",
    "site": "runs .pth files", "ensurepip": "installs packages", "venv": "creates environments",
    "distutils": "builds native code", "setuptools": "builds and runs code",
    "pip": "installs packages",
    "resource": "changes process limits", "builtins.open": "reads and writes files",
    # the ML distributions' I/O, networking, process pools and loaders
    "pandas.io": "reads and writes files", "scipy.io": "reads and writes files",
    "scipy.misc": "reads files", "scipy.datasets": "downloads files",
    "sklearn.datasets": "downloads, reads and writes files",
    "sklearn.utils._testing": "runs commands",
    "sklearn.externals.joblib": "loads another pickle",
    "sklearn.utils._joblib": "loads another pickle",
    "joblib.parallel": "starts processes", "joblib.pool": "starts processes",
    "joblib.memory": "loads another pickle from its cache",
    "joblib._memmapping_reducer": "maps and writes files",
    "joblib._store_backends": "reads and writes files",
    "joblib.externals.loky": "starts processes", "joblib.compressor": "opens files",
    "joblib.numpy_pickle_utils": "opens files", "joblib.numpy_pickle_compat": "loads pickles",
    "xgboost.tracker": "opens network connections",
    "xgboost.collective": "opens network connections",
    "xgboost.federated": "opens network connections", "xgboost.dask": "starts clusters",
    "xgboost.spark": "starts clusters", "xgboost.callback": "writes checkpoint files",
    "lightgbm.dask": "starts clusters", "lightgbm.callback": "runs callbacks",
    "catboost.datasets": "downloads files", "catboost.widget": "starts servers",
    "statsmodels.iolib": "loads another pickle", "statsmodels.datasets": "downloads files",
    "dask": "starts clusters", "ray": "starts clusters", "requests": "opens connections",
    "urllib3": "opens network connections", "fsspec": "reads and writes files",
}

DANGEROUS_GLOBALS = {
    ("builtins", "eval"): "runs code",
    ("builtins", "exec"): "runs code",
    ("builtins", "compile"): "compiles code",
    ("builtins", "getattr"): "reaches any attribute (e.g. os.system)",
    ("builtins", "setattr"): "changes any attribute",
    ("builtins", "delattr"): "changes any attribute",
    ("builtins", "__import__"): "imports arbitrary modules",
    ("builtins", "open"): "reads and writes files",
    ("builtins", "input"): "reads the terminal",
    ("builtins", "breakpoint"): "runs a debugger",
    ("builtins", "globals"): "reaches interpreter state",
    ("builtins", "locals"): "reaches interpreter state",
    ("builtins", "vars"): "reaches interpreter state",
    ("builtins", "type"): "builds classes",
    ("builtins", "help"): "runs a pager",
    ("builtins", "exit"): "exits the interpreter",
    ("builtins", "quit"): "exits the interpreter",
    ("functools", "partial"): "calls anything later",
    ("functools", "partialmethod"): "calls anything later",
    ("functools", "reduce"): "calls anything",
    ("operator", "attrgetter"): "reaches any attribute",
    ("operator", "itemgetter"): "reaches any item",
    ("operator", "methodcaller"): "calls any method",
    ("operator", "getitem"): "reaches any item",
    ("operator", "call"): "calls anything",
    ("copyreg", "__newobj__"): "constructs any class",
    ("joblib", "load"): "loads another pickle",
    ("joblib.numpy_pickle", "load"): "loads another pickle",
    ("joblib.numpy_pickle", "NumpyUnpickler"): "loads another pickle",
    ("joblib.numpy_pickle", "load_compatibility"): "loads another pickle",
    ("joblib.numpy_pickle_compat", "load_compatibility"): "loads another pickle",
    ("joblib.numpy_pickle_compat", "NDArrayWrapper"):
        "loads a companion file with allow_pickle=True (joblib < 0.10 format)",
    ("joblib.numpy_pickle_compat", "ZNDArrayWrapper"):
        "reads a companion file (joblib < 0.10 format)",
    ("sklearn.externals.joblib", "load"): "loads another pickle",
    ("numpy", "load"): "loads another pickle (allow_pickle)",
    ("numpy.lib.npyio", "load"): "loads another pickle (allow_pickle)",
    ("numpy.lib._npyio_impl", "load"): "loads another pickle (allow_pickle)",
    ("numpy.lib.format", "read_array"): "loads another pickle (allow_pickle)",
    ("numpy", "memmap"): "maps and writes files",
    ("numpy.core.memmap", "memmap"): "maps and writes files",
    ("numpy._core.memmap", "memmap"): "maps and writes files",
    ("numpy", "fromfile"): "reads files",
    ("numpy", "tofile"): "writes files",
    ("numpy", "save"): "writes files",
    ("numpy", "savez"): "writes files",
    ("numpy", "savetxt"): "writes files",
    ("numpy", "loadtxt"): "reads files",
    ("numpy", "genfromtxt"): "reads files",
    ("numpy", "frompyfunc"): "calls anything later",
    ("pandas", "read_pickle"): "loads another pickle",
    ("pandas.io.pickle", "read_pickle"): "loads another pickle",
    ("pandas", "eval"): "evaluates expressions",
    ("pandas.core.computation.eval", "eval"): "evaluates expressions",
    ("scipy.io", "loadmat"): "reads files",
}


# Classes whose constructor, __new__ or __setstate__ opens files, processes or sockets.
GADGET_CLASSES: dict[tuple[str, str], str] = {
    **{(m, "Popen"): "starts a process" for m in ("subprocess", "os", "asyncio.subprocess")},
    **{(m, n): "opens a file" for m in ("logging",)
       for n in ("FileHandler", "basicConfig")},
    ("logging", "StreamHandler"): "writes to any stream",
    **{(m, "memmap"): "maps and writes files"
       for m in ("numpy", "numpy.core.memmap", "numpy._core.memmap")},
    **{(m, "DataSource"): "opens files and URLs"
       for m in ("numpy", "numpy.lib", "numpy.lib._datasource", "numpy.lib.npyio",
                 "numpy.lib._npyio_impl")},
    **{(m, "NpzFile"): "opens an archive and loads pickles (allow_pickle)"
       for m in ("numpy.lib.npyio", "numpy.lib._npyio_impl")},
    ("numpy.lib.format", "open_memmap"): "creates and maps files",
    **{(m, "fromfile"): "reads files" for m in ("numpy.rec", "numpy.core.records",
                                               "numpy._core.records", "numpy.core.multiarray",
                                               "numpy._core.multiarray")},
    ("numpy", "fromregex"): "reads files",
    **{("pandas", n): "reads and writes files" for n in (
        "HDFStore", "ExcelFile", "ExcelWriter", "to_pickle", "read_csv", "read_table",
        "read_fwf", "read_excel", "read_json", "read_html", "read_xml", "read_hdf",
        "read_feather", "read_parquet", "read_orc", "read_sas", "read_spss", "read_sql",
        "read_sql_query", "read_sql_table", "read_stata", "read_clipboard", "read_gbq")},
    ("scipy", "LowLevelCallable"): "calls native code",
    ("scipy._lib._ccallback", "LowLevelCallable"): "calls native code",
    ("sklearn.utils", "Memory"): "loads pickles from its cache",
    **{("joblib", n): r for n, r in (
        ("Memory", "loads pickles from its cache"), ("Parallel", "starts processes"),
        ("dump", "writes files"), ("parallel_backend", "starts processes"),
        ("parallel_config", "starts processes"))},
    **{(m, "DMatrix"): "reads the file its argument names"
       for m in ("xgboost", "xgboost.core")},
    **{(m, n): "reads the file its argument names"
       for m in ("xgboost", "xgboost.core", "xgboost.data")
       for n in ("QuantileDMatrix", "ExtMemQuantileDMatrix", "DataIter")},
    **{(m, "Dataset"): "reads the file its argument names"
       for m in ("lightgbm", "lightgbm.basic")},
    ("lightgbm.basic", "_InnerPredictor"): "reads the file its argument names",
    **{(m, "Pool"): "reads the file its argument names"
       for m in ("catboost", "catboost.core")},
    ("statsmodels.api", "load_pickle"): "loads another pickle",
    ("statsmodels.base.wrapper", "load_pickle"): "loads another pickle",
    ("statsmodels.base.model", "load_pickle"): "loads another pickle",
}

# Classes real models pickle whose __init__ reads a file named by its arguments: restoring
# them (NEWOBJ + BUILD) is fine, calling them (REDUCE/INST/OBJ run __init__) is not.
INIT_READS_FILES: dict[tuple[str, str], str] = {
    **{(m, "Booster"): "Booster(model_file=...) reads the file its argument names"
       for m in ("xgboost", "xgboost.core", "lightgbm", "lightgbm.basic")},
}


def _module_danger(module: str) -> Optional[str]:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        reason = DANGEROUS_MODULES.get(".".join(parts[:i]))
        if reason is not None:
            return reason
    return None


def danger(module: str, name: str) -> Optional[str]:
    """Why importing ``module.name`` is known to be dangerous, or None."""
    if (module, name) in TORCH_SAFE:  # the exact torch state-dict names (allowlist_torch)
        return None
    if module == "__builtin__":  # Python 2 spelling of builtins, protocol >= 3
        module = "builtins"
    reason = DANGEROUS_GLOBALS.get((module, name)) or GADGET_CLASSES.get((module, name))
    if reason is None:
        reason = _module_danger(module) or _module_danger(f"{module}.{name}")
    return reason


def init_danger(module: str, name: str) -> Optional[str]:
    """Why *calling* ``module.name`` (which runs its ``__init__``) is dangerous, or None."""
    return INIT_READS_FILES.get((module, name))


