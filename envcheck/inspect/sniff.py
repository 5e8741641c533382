"""Which files of a package are inspected, by content, whatever their name or listing.

A protocol-0 pickle named ``model.bin`` runs ``exec`` when ``interface.py`` loads it just
as well as one named ``model.pkl``: so every regular file under the package root is
sniffed, and whatever is a pickle (protocols 0-5, joblib raw or compressed), holds one
(a zip: torch, ``.npz``, skops; a legacy torch file; an object ``.npy``), is an archive
envcheck cannot open (7z ...) or records library versions (xgboost, LightGBM, ONNX,
safetensors ...; :mod:`envcheck.inspect.artifacts`) goes through ``pickle.safety`` and
``pickle.versions`` before anything runs.

Sniffing is cheap for the common case: the first bytes decide for protocols 2-5 and the
compressed formats; protocols 0 and 1 have no magic, so a file whose first byte is a
pickle opcode and whose last byte is STOP (``.``) is walked by the static VM, and is a
pickle when the walk reaches STOP at the end of the file.  Prose that starts with a
capital and ends in a full stop is walked and rejected in microseconds.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from envcheck.inspect.artifacts import is_inspected

MAX_FILES = 100_000  # a larger tree is not walked to the end: a warning says so
_SKIP_DIRS = frozenset({".git", "__pycache__", ".hg", ".svn"})


@dataclass
class SniffResult:
    # every file to inspect (not only plain pickles)
    pickles: list[Path] = field(default_factory=list)
    truncated: bool = False  # MAX_FILES reached: the rest of the tree was not sniffed
    files: int = 0


def find_pickles(root: Path, known: list[Path]) -> SniffResult:
    """Every pickle under ``root`` that is not in ``known`` (already inspected).

    Symlinks are not followed (one that leaves the package is refused when reading it);
    ``reference/`` is envcheck's own JSON and is skipped.
    """
    result = SniffResult()
    seen = {os.path.realpath(p) for p in known}
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in sorted(entries, key=lambda e: e.name):
            if result.files >= MAX_FILES:
                result.truncated = True
                return result
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if entry.name not in _SKIP_DIRS and not (
                        directory == str(root) and entry.name.startswith("reference")):
                    pending.append(entry.path)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            result.files += 1
            if os.path.realpath(entry.path) in seen or not st.st_size:
                continue
            path = Path(entry.path)
            if is_inspected(path):
                result.pickles.append(path)
    return result
