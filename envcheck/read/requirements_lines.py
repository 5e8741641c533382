"""The line level of requirements files: logical lines, option tokens, requirement specs.

pip's syntax around the requirement strings: comments (a line starting with ``#``, or
`` #`` after whitespace) and line continuations (a trailing ``\\`` joins the next line;
the logical line carries the number of its first physical line).  Also read by
:mod:`envcheck.read.lockfile`.
"""

from __future__ import annotations

import re
import warnings
from typing import Optional

from packaging.requirements import InvalidRequirement, Requirement


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line number, text) with comments stripped and continuations joined."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, physical in enumerate(text.splitlines(), start=1):
        # A comment starts a line or follows whitespace (``pkg==1.0#frag`` is a URL fragment).
        stripped = re.sub(r"(^|\s+)#.*$", "", physical)
        if not pending:
            start = number
        if stripped.endswith("\\") and not physical.rstrip().startswith("#"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(part.strip() for part in pending).strip()
        pending = []
        if joined:
            out.append((start, joined))
    if pending:
        joined = " ".join(part.strip() for part in pending).strip()
        if joined:
            out.append((start, joined))
    return out

def requirement_from(spec: str) -> Requirement:
    """``Requirement(spec)``, with every parse failure as InvalidRequirement.

    packaging reads quoted marker values with ``ast.literal_eval``: ``"\\."`` there warns
    (or raises SyntaxError under ``-W error``) instead of failing cleanly.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Requirement(spec)
        except InvalidRequirement:
            raise
        except (SyntaxError, ValueError, TypeError) as exc:
            raise InvalidRequirement(str(exc)) from exc


def is_url(text: str) -> bool:
    return re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I) is not None


def take_option(tokens: list[str], i: int) -> tuple[Optional[str], Optional[str], int]:
    """``--opt=value`` / ``--opt`` / ``-rfile`` at tokens[i] -> (opt, value or None, next i)."""
    token = tokens[i]
    if not token.startswith("-"):
        return None, None, i + 1
    if token.startswith("--"):
        opt, sep, value = token.partition("=")
        return opt, (value if sep else None), i + 1
    if len(token) > 2:  # -rfile.txt
        return token[:2], token[2:], i + 1
    return token, None, i + 1


def split_requirement_options(line: str) -> tuple[str, str]:
    """Split "name==1 ; marker --hash=..." at the first option, as pip does."""
    match = re.search(r"(?:^|\s)(--?[A-Za-z])", line)
    if not match:
        return line.strip(), ""
    return line[:match.start(1)].strip(), line[match.start(1):]


def looks_like_path(spec: str) -> bool:
    if spec.startswith((".", "/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", spec):
        return True
    head = re.split(r"[\s;\[]", spec, maxsplit=1)[0]
    return head.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2")) or (
        "/" in head and "@" not in head)


def name_from_filename(url: str) -> Optional[str]:
    filename = url.rstrip("/").rsplit("/", 1)[-1]
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._]*?)-[0-9]", filename)
    if match and filename.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2")):
        return match.group(1)
    return None
