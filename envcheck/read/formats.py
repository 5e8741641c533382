"""Package formats: one protocol, one implementation per format, one dispatcher.

A format turns a directory into a :class:`~envcheck.model.package.ModelPackage` and the
results of the read checks (``package.layout``, ``metadata.schema``,
``requirements.parse``, ``requirements.pinned``, ``interface.contract``, in that order).
Every later stage works on the ModelPackage alone, so adding a format (BentoML, ...) is
one module implementing :class:`PackageFormat` and one entry in :data:`FORMATS`
(:mod:`envcheck.read.mlflow`, :mod:`envcheck.read.bentoml`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Protocol

from envcheck.model import checks
from envcheck.model.findings import CheckResult
from envcheck.model.options import Options
from envcheck.model.package import ModelPackage
from envcheck.read.bentoml import BentomlFormat
from envcheck.read.mlflow import MlflowFormat
from envcheck.read.native import NativeFormat
from envcheck.read.settings import check_settings


class PackageFormat(Protocol):
    name: str

    def detect(self, path: Path) -> bool:
        """Whether the directory ``path`` is a package of this format."""

    def read(self, path: Path, options: Options
             ) -> tuple[Optional[ModelPackage], list[CheckResult]]:
        """The package (None when ``path`` is no package at all) and the read results."""


# In order of precedence; the native format is also the fallback that explains what a
# directory lacks to be a package.
FORMATS: tuple[PackageFormat, ...] = (NativeFormat(), MlflowFormat(), BentomlFormat())
_FALLBACK = FORMATS[0]


def format_of(path: Path) -> PackageFormat:
    return next((f for f in FORMATS if f.detect(path)), _FALLBACK)


def read_package(path: Path, options: Options
                 ) -> tuple[Optional[ModelPackage], list[CheckResult]]:
    """Read the package at ``path`` without running or writing anything of it; the
    format's results plus ``package.settings``."""
    pkg, results = format_of(Path(path)).read(Path(path), options)
    if pkg is None:
        return pkg, results
    ignored: dict[str, Any] = {}
    if options.ignore_package_settings and pkg.settings:
        ignored = pkg.settings
        pkg.metadata = {k: v for k, v in pkg.metadata.items() if k != "envcheck"}
    results = [*results, check_settings(pkg, options, ignored)]
    return pkg, sorted(results, key=lambda r: checks.ORDER.get(r.id, len(checks.ORDER)))
