"""The Python API: ``envcheck.check(path, **options) -> Report`` and ``envcheck.record``.

Options are the fields of :class:`envcheck.model.options.Options` (``strict``, ``static``,
``installer``, ``python``, ``timeout_s``, ``memory``, ``allow_warnings``, ``trust_pickle``,
``rtol``, ``atol``, ``jobs``, ``cache_dir``).  The result is the same :class:`Report` the
CLI renders; ``report.exit_code`` is the CLI's exit code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from envcheck.commands.check import check_paths
from envcheck.commands.record import record_package
from envcheck.model.findings import Report
from envcheck.model.options import Options

PathLike = Union[str, "os.PathLike[str]"]


def _options(overrides: dict[str, Any]) -> Options:
    """The CLI's validation, for the API's keyword options (a UsageError names the bad one)."""
    return Options.validated(**overrides)


def check(paths: Union[PathLike, Sequence[PathLike]], **options: Any) -> Report:
    """Check one package (or several) and return the report; never raises for a bad package."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return check_paths([Path(p) for p in paths], _options(dict(options)))


def record(path: PathLike, inputs: Optional[PathLike] = None, force: bool = False,
           **options: Any) -> str:
    """Write ``reference/`` for a package; returns a one-line summary.

    Raises :class:`envcheck.model.errors.EnvcheckError` with a one-line message when the
    reference cannot be recorded (it exists and ``force`` is false, or the model fails).
    """
    return record_package(Path(path), _options(dict(options)),
                          Path(inputs) if inputs is not None else None, force, None)
