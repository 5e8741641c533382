"""``envcheck matrix``: which versions can this model safely move to?

Each combination of ``--with NAME==V1,V2,...`` versions replaces the package's own pins
for those names; every combination is then checked like the package itself (its own
cached environment, load, warnings, predictions against the recorded reference), and the
answers are tabulated.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from envcheck.model import checks
from envcheck.model.errors import UsageError
from envcheck.model.findings import PackageReport, Status
from envcheck.model.options import Options
from envcheck.model.version import __version__
from envcheck.pipeline import check_package

# The questions a row answers, in the order a reader asks them.
COLUMNS = ((checks.ENV_BUILD.id, "installs"), (checks.LOAD.id, "loads"), (checks.LOAD_WARNINGS.id, "no warnings"),
           (checks.PREDICT_SMOKE.id, "predicts"), (checks.PREDICT_DETERMINISM.id, "deterministic"))


@dataclass
class Axis:
    name: str  # canonical distribution name
    versions: list[str]


@dataclass
class Combination:
    versions: dict[str, str]
    report: Optional[PackageReport] = None
    statuses: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return " ".join(f"{name}=={version}" for name, version in self.versions.items())

    @property
    def status(self) -> Status:
        return self.report.status if self.report is not None else Status.ERROR

    def reason(self) -> str:
        """The first failing finding: why this combination is not safe."""
        if self.report is None:
            return ""
        if self.report.internal_error:
            return self.report.internal_error
        # The dynamic answers first: "loading warns" says more than the static pin diff.
        first = {check_id for check_id, _ in COLUMNS}
        ordered = sorted(self.report.checks, key=lambda c: c.id not in first)
        for check in ordered:
            if check.status in (Status.FAIL, Status.ERROR):
                # The whole reason on one line: an install failure's cause follows a colon
                # on the next line ("could not install X (uv ...):\n  no version of X").
                return f"{check.id}: {' '.join(check.headline.split())}"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {"versions": self.versions, "status": self.status.value,
                "checks": self.statuses, "reason": self.reason(),
                "environment": self.report.environment if self.report else None}


def parse_axis(text: str) -> Axis:
    """``scikit-learn==1.3.2,1.4.2`` -> Axis("scikit-learn", ["1.3.2", "1.4.2"])."""
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(.+?)\s*", text)
    if not match:
        raise UsageError(f"--with {text!r}: expected NAME==VERSION[,VERSION...], "
                         "e.g. scikit-learn==1.3.2,1.4.2")
    versions = [v.strip() for v in match.group(2).split(",") if v.strip()]
    for version in versions:
        try:
            Version(version)
        except InvalidVersion:
            raise UsageError(f"--with {text!r}: {version!r} is not a version") from None
    if not versions:
        raise UsageError(f"--with {text!r}: no versions given")
    return Axis(canonicalize_name(match.group(1)), versions)


def combinations(axes: Sequence[Axis]) -> list[dict[str, str]]:
    names = [axis.name for axis in axes]
    if len(set(names)) != len(names):
        raise UsageError("each distribution may appear in one --with only")
    return [dict(zip(names, chosen)) for chosen in itertools.product(*(a.versions for a in axes))]


def run_matrix(path: Path, axes: Sequence[Axis], options: Options) -> list[Combination]:
    """Check the package once per combination (``options.jobs`` at once), in order."""
    combos = [Combination(versions) for versions in combinations(axes)]

    def run(combo: Combination) -> Combination:
        combo_options = replace(options, requirement_overrides=dict(combo.versions), jobs=1)
        report = combo.report = check_package(path, combo_options)
        results = {check_id: report.check(check_id) for check_id, _ in COLUMNS}
        combo.statuses = {check_id: (result.status.value if result else "skip")
                          for check_id, result in results.items()}
        return combo

    if options.jobs <= 1:
        return [run(combo) for combo in combos]
    with concurrent.futures.ThreadPoolExecutor(max_workers=options.jobs) as pool:
        return list(pool.map(run, combos))


_MARK = {"pass": "yes", "warn": "yes*", "fail": "NO", "error": "NO", "skip": "-"}


def render_matrix_text(path: Path, combos: Sequence[Combination]) -> str:
    header = ["versions", *(title for _, title in COLUMNS), "verdict"]
    rows = [[combo.label, *(_MARK[combo.statuses.get(check_id, "skip")] for check_id, _ in COLUMNS),
             combo.status.value.upper()] for combo in combos]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [f"envcheck matrix {path}", ""]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    reasons = [(combo.label, combo.reason()) for combo in combos if combo.reason()]
    if reasons:
        lines.append("")
        lines.extend(f"{label}: {reason}" for label, reason in reasons)
    safe = [combo.label for combo in combos if combo.status is Status.PASS]
    lines.append("")
    lines.append(f"safe to move to: {', '.join(safe)}" if safe else "no combination passed")
    return "\n".join(lines) + "\n"


def render_matrix_json(path: Path, combos: Sequence[Combination]) -> str:
    return json.dumps({"envcheck_version": __version__, "path": str(path),
                       "combinations": [combo.to_dict() for combo in combos]}, indent=2) + "\n"
