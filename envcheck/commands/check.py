"""``envcheck check PKG...``: several packages, ``-j N`` at once, one report."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Optional, Sequence

from envcheck.model.findings import Report
from envcheck.model.options import Options
from envcheck.model.progress import Progress
from envcheck.model.version import __version__
from envcheck.pipeline import check_package


def check_paths(paths: Sequence[Path], options: Options,
                progress: Optional[Progress] = None) -> Report:
    """Check several packages (``-j N`` at once); the report keeps the input order."""
    report = Report(envcheck_version=__version__)
    if options.jobs <= 1 or len(paths) <= 1:
        report.packages = [check_package(p, options, progress) for p in paths]
        return report
    # Threads suffice: the work happens in child processes (installers, probes), and
    # the env cache's per-key file lock makes identical environments build once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=options.jobs) as pool:
        report.packages = list(pool.map(lambda p: check_package(p, options, progress), paths))
    return report
