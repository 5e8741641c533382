"""``envcheck merge REPORT.json...``: one report from the JSON reports of ``check --shard``.

The merged report is the one a single ``envcheck check`` over the plan's packages (in the
plan's order: sorted by path) would have written, in any format and with the same exit
code, because it is the same :class:`~envcheck.model.findings.Report` going through the
same renderers.  What would make it a different report is an error naming the file or the
shard: a report that is no shard report, reports of different envcheck versions, plans or
options, a shard given twice, a shard missing, a package in two shards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from envcheck.model.errors import FatalError, UsageError
from envcheck.model.findings import Report
from envcheck.model.report_json import ReportFormatError, report_from_dict

# A shard's report of thousands of packages is a few MB; refuse what no report is.
MAX_REPORT_BYTES = 512 * 1024 * 1024
_BLOCK_FIELDS = {"index": int, "count": int, "plan": str, "options": str,
                 "planned_packages": int}
_KIND_NAMES = {int: "a whole number", str: "a string"}


def load_shard_report(path: Path) -> Report:
    """The shard report in ``path``; a :class:`FatalError` naming the file otherwise."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise FatalError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(raw) > MAX_REPORT_BYTES:
        raise FatalError(f"{path}: larger than {MAX_REPORT_BYTES >> 20} MB: not a report")
    try:
        report = report_from_dict(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError and ReportFormatError
        what = "not JSON" if not isinstance(exc, ReportFormatError) else "not a JSON report"
        raise FatalError(f"{path}: {what} of envcheck ({exc})") from None
    block = report.shard
    if block is None:
        raise FatalError(f"{path}: not a shard report (it has no 'shard' block): write "
                         "each shard's with 'envcheck check --shard K/N --format json'")
    for name, kind in _BLOCK_FIELDS.items():
        value = block.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise FatalError(f"{path}: shard.{name} is missing or not {_KIND_NAMES[kind]}")
    if not 1 <= block["index"] <= block["count"]:
        raise FatalError(f"{path}: shard {block['index']}/{block['count']} does not exist")
    return report


def _names(entries: Sequence[tuple[Path, Any]]) -> str:
    return ", ".join(f"{path} ({value})" for path, value in entries)


def _same(loaded: list[tuple[Path, Report]], what: str, value_of: Any, hint: str) -> None:
    values = [(path, value_of(report)) for path, report in loaded]
    if len({value for _path, value in values}) > 1:
        raise FatalError(f"the reports come from different {what}: {_names(values)}; {hint}")


def merge_reports(paths: Sequence[Path]) -> Report:
    if not paths:
        raise UsageError("merge needs the shards' JSON reports")
    loaded = [(Path(p), load_shard_report(Path(p))) for p in paths]
    _same(loaded, "envcheck versions", lambda r: r.envcheck_version,
          "run every shard with the same envcheck")
    _same(loaded, "plans", lambda r: f"plan {r.shard['plan']}, {r.shard['count']} shards",
          "every shard must plan the same packages from the same checkout with the same N")
    _same(loaded, "options", lambda r: f"options {r.shard['options']}",
          "every shard must be checked with the same options (--strict, tolerances, ...)")
    first = loaded[0][1].shard or {}
    count = first["count"]
    by_index: dict[int, list[Path]] = {}
    for path, report in loaded:
        by_index.setdefault((report.shard or {})["index"], []).append(path)
    twice = {i: ps for i, ps in by_index.items() if len(ps) > 1}
    if twice:
        index = min(twice)
        raise FatalError(f"shard {index}/{count} is given {len(twice[index])} times: "
                         f"{', '.join(map(str, twice[index]))}")
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing:
        names = ", ".join(f"{i}/{count}" for i in missing)
        raise FatalError(f"missing shard{'s' if len(missing) > 1 else ''} {names}: no report "
                         "given for it (did its job fail before writing its report?)")
    return _merged(loaded, first["planned_packages"])


def _merged(loaded: list[tuple[Path, Report]], planned: int) -> Report:
    seen: dict[str, Path] = {}
    packages = []
    for path, report in loaded:
        for package in report.packages:
            if package.path in seen:
                raise FatalError(f"{package.path} is in two shards' reports: "
                                 f"{seen[package.path]} and {path}")
            seen[package.path] = path
            packages.append(package)
    if len(packages) != planned:
        raise FatalError(f"the shards' reports hold {len(packages)} packages but the plan "
                         f"has {planned}: a shard's report is incomplete")
    return Report(envcheck_version=loaded[0][1].envcheck_version,
                  packages=sorted(packages, key=lambda p: p.path))
