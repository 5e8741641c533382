"""TOML files of a package (pyproject.toml, uv.lock, pylock.toml): read safely, with lines.

``tomllib`` (Python 3.11+) or its backport ``tomli`` parses; neither reports where a value
sits, so the lines findings need are found in the text: the header of the n-th
``[[table]]`` of an array of tables, and the first line after a start that holds a quoted
string.  Nothing here runs anything of the package.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Optional

from envcheck.model.findings import Finding, error

if sys.version_info >= (3, 11):
    import tomllib
else:  # the backport, a conditional dependency (pyproject.toml)
    import tomli as tomllib

MAX_BYTES = 5_000_000  # a uv.lock of a large project is a few MB


class TomlText:
    """A TOML document: its data and its lines (1-based lookups)."""

    def __init__(self, data: dict[str, Any], text: str) -> None:
        self.data = data
        self.lines = text.splitlines()

    def table_lines(self, header: str) -> list[int]:
        """Line of every ``[[header]]`` in order: the n-th is the n-th table of the array."""
        pattern = re.compile(r"^\s*\[\[\s*" + re.escape(header) + r"\s*\]\]\s*(#.*)?$")
        return [i + 1 for i, line in enumerate(self.lines) if pattern.match(line)]

    def header_line(self, header: str) -> Optional[int]:
        """Line of the ``[header]`` table (None when it is written some other way)."""
        pattern = re.compile(r"^\s*\[\s*" + re.escape(header) + r"\s*\]\s*(#.*)?$")
        return self._first(pattern, 1, None)

    def key_line(self, key: str, start: int = 1, end: Optional[int] = None) -> Optional[int]:
        """The first line in [start, end) that sets ``key =`` (a bare or quoted key)."""
        pattern = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        return self._first(pattern, start, end)

    def string_line(self, value: str, start: int = 1, end: Optional[int] = None
                    ) -> Optional[int]:
        """The first line in [start, end) holding ``value`` as a quoted string."""
        pattern = re.compile("[\"']" + re.escape(value) + "[\"']")
        return self._first(pattern, start, end)

    def _first(self, pattern: re.Pattern[str], start: int, end: Optional[int]
               ) -> Optional[int]:
        stop = len(self.lines) if end is None else min(end - 1, len(self.lines))
        for number in range(max(start, 1), stop + 1):
            if pattern.search(self.lines[number - 1]):
                return number
        return None


def load_toml(path: Path, shown: str) -> tuple[Optional[TomlText], Optional[Finding]]:
    """(the document, None) or (None, an error naming the file and line)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, error(f"{shown} is {size} bytes; files over {MAX_BYTES} bytes are "
                               f"refused", file=shown)
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, error(f"{shown} cannot be read: {exc}", file=shown)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        return None, error(f"{shown} is not valid TOML: {str(exc).splitlines()[0]}",
                           file=shown, line=int(match.group(1)) if match else None)
    except RecursionError:
        return None, error(f"{shown} is nested too deeply to read", file=shown)
    return TomlText(data, text), None
