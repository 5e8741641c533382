"""Version strings compared the way every stage needs: as PEP 440 versions when they are
(``1.5`` is ``1.5.0``), else as text.  In the data model so that readers, inspectors and
env checks share one comparison instead of each writing its own."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version


def same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a.strip() == b.strip()
