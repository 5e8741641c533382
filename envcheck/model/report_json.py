"""A JSON report read back into a :class:`~envcheck.model.findings.Report`: the inverse of
``Report.to_dict`` (``envcheck merge`` renders the shards' reports through the same
renderers as a single run).

A report file is data from another machine, so every field is checked for its type; what
does not fit the contract is a :class:`ReportFormatError` naming the field, never a
traceback.  Statuses are not trusted from the file where they are derived: a package's
status follows from its checks, as in a run.
"""

from __future__ import annotations

from typing import Any, Optional

from envcheck.model.findings import (
    CheckResult,
    Finding,
    PackageReport,
    Report,
    Severity,
    Status,
)


class ReportFormatError(ValueError):
    """The data is not an envcheck JSON report; the message names the field."""


def _get(data: Any, key: str, kind: type | tuple[type, ...], where: str,
         optional: bool = False) -> Any:
    if not isinstance(data, dict):
        raise ReportFormatError(f"{where}: expected an object")
    value = data.get(key)
    if value is None and optional:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON's true is a Python bool, which is an int: not a number of the report.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ReportFormatError(f"{where}.{key}: missing or not of the expected type")
    return value


def _enum(enum_type: type, value: Any, where: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        raise ReportFormatError(f"{where}: unknown value {value!r}") from None


def finding_from_dict(data: Any, where: str) -> Finding:
    return Finding(_enum(Severity, _get(data, "severity", str, where), f"{where}.severity"),
                   _get(data, "message", str, where),
                   details=_get(data, "details", dict, where, optional=True) or {},
                   file=_get(data, "file", str, where, optional=True),
                   line=_get(data, "line", int, where, optional=True),
                   column=_get(data, "column", int, where, optional=True))


def check_from_dict(data: Any, where: str) -> CheckResult:
    findings = _get(data, "findings", list, where)
    return CheckResult(
        _get(data, "id", str, where),
        _enum(Status, _get(data, "status", str, where), f"{where}.status"),
        [finding_from_dict(f, f"{where}.findings[{i}]") for i, f in enumerate(findings)],
        float(_get(data, "duration_s", (int, float), where, optional=True) or 0.0),
        _get(data, "source", str, where, optional=True))


def package_from_dict(data: Any, where: str) -> PackageReport:
    checks = _get(data, "checks", list, where)
    environment: Optional[dict[str, Any]] = _get(data, "environment", dict, where,
                                                 optional=True)
    return PackageReport(
        path=_get(data, "path", str, where), name=_get(data, "name", str, where, optional=True),
        checks=[check_from_dict(c, f"{where}.checks[{i}]") for i, c in enumerate(checks)],
        environment=environment,
        duration_s=float(_get(data, "duration_s", (int, float), where, optional=True) or 0.0),
        internal_error=_get(data, "error", str, where, optional=True))


def report_from_dict(data: Any) -> Report:
    """The report ``data`` (parsed JSON) describes; :class:`ReportFormatError` otherwise."""
    packages = _get(data, "packages", list, "report")
    return Report(envcheck_version=_get(data, "envcheck_version", str, "report"),
                  packages=[package_from_dict(p, f"packages[{i}]")
                            for i, p in enumerate(packages)],
                  shard=_get(data, "shard", dict, "report", optional=True))
