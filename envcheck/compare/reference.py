"""The one owner of ``reference/``: where it is and how its files are read.

The reference (written by :mod:`envcheck.commands.record`)::

    reference/inputs.json       split orient + dtypes
    reference/outputs.json      {"format": 1, "output": <encoded predictions>}
    reference/environment.json  {"python", "platform", "packages", "artifacts":
                                 {relpath: {"sha256", "size"}}, "envcheck_version", "time"}

Compared by :mod:`envcheck.compare.integrity` (artifacts) and
:mod:`envcheck.compare.predictions` (outputs); written by :mod:`envcheck.commands.record`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from envcheck.model.findings import Finding, error
from envcheck.model.package import ModelPackage

# --------------------------------------------------------------------------- reading


def reference_dir(pkg: ModelPackage) -> Optional[Path]:
    """The readable reference directory, or None.

    Recovery rule (see :mod:`envcheck.commands.record`): ``record`` moves the old reference to
    ``reference.old-*`` before moving the new one in.  If it was killed between the two
    renames there is no ``reference/`` but the old one is intact, so it is read from there.
    ``reference.tmp-*`` directories are never read (possibly incomplete)."""
    if pkg.reference_dir.is_dir():
        return pkg.reference_dir
    olds = sorted((p for p in pkg.root.glob("reference.old-*") if p.is_dir()),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    return olds[0] if olds else None


def read_json(pkg: ModelPackage, path: Path) -> tuple[Optional[Any], Optional[Finding]]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, error(f"{pkg.relative(path)} is missing: re-run envcheck record",
                           file=pkg.relative(path))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, error(f"{pkg.relative(path)} is unreadable ({exc}): re-run envcheck "
                           f"record", file=pkg.relative(path))
