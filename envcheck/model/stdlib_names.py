"""Which top-level module names are the standard library, and in which Python versions.

The running interpreter's names (``sys.stdlib_module_names``; on Python 3.9 what its
standard library holds), plus the modules some Python versions do not have (added or
removed), so that an import in an interface targeting another Python is judged by that
Python's standard library.
"""

from __future__ import annotations

import ast
import os
import pkgutil
import sys
import sysconfig
from typing import Optional

from envcheck.model.findings import Finding, error

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


def _stdlib_names() -> frozenset[str]:
    names = getattr(sys, "stdlib_module_names", None)  # Python 3.10+
    if names is not None:
        return frozenset(names)
    # Python 3.9: what the running interpreter's standard library holds.
    stdlib = sysconfig.get_paths()["stdlib"]
    found = {m.name for m in pkgutil.iter_modules([stdlib, os.path.join(stdlib, "lib-dynload")])}
    return frozenset(found | set(sys.builtin_module_names))


_STDLIB_NAMES = _stdlib_names()


def is_stdlib(top: str) -> bool:
    return top in _STDLIB_NAMES or top in _STDLIB_SPAN


def stdlib_span(top: str, target: tuple[int, int], shown: str, stmt: ast.stmt) -> list[Finding]:
    """An error when ``top`` (imported by ``stmt``) is not in the ``target`` Python's stdlib."""
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
