"""The report's data model: packages -> checks -> findings.

Every pipeline stage turns what it sees into :class:`Finding` objects grouped in a
:class:`CheckResult` under a stable check id (the registry: :mod:`envcheck.model.checks`).  The renderers in
:mod:`envcheck.render.report` and the JSON contract in DESIGN.md are built from these types
alone, so a stage never formats output itself.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]


_STATUS_RANK = {Status.SKIP: 0, Status.PASS: 1, Status.WARN: 2, Status.FAIL: 3, Status.ERROR: 4}


@dataclass
class Finding:
    """One observation.  ``file``/``line``/``column`` point into the package when known."""

    severity: Severity
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    file: Optional[str] = None
    line: Optional[int] = None
    column: Optional[int] = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity.value, "message": self.message,
                               "details": self.details}
        if self.file is not None:
            out["file"] = self.file
        if self.line is not None:
            out["line"] = self.line
        if self.column is not None:
            out["column"] = self.column
        return out

    @property
    def location(self) -> str:
        """``file:line:col`` as far as known, for one-line messages."""
        if self.file is None:
            return ""
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


def error(message: str, **kwargs: Any) -> Finding:
    return Finding(Severity.ERROR, message, **kwargs)


def warning(message: str, **kwargs: Any) -> Finding:
    return Finding(Severity.WARNING, message, **kwargs)


def info(message: str, **kwargs: Any) -> Finding:
    return Finding(Severity.INFO, message, **kwargs)


@dataclass
class CheckResult:
    id: str
    status: Status
    findings: list[Finding] = field(default_factory=list)
    duration_s: float = 0.0
    # "envcheck" or "package process": whether the package could have forged the verdict
    # (set from the check registry; None for a check that never ran).
    source: Optional[str] = None

    @classmethod
    def from_findings(cls, check_id: str, findings: Iterable[Finding],
                      duration_s: float = 0.0) -> "CheckResult":
        """Status follows the worst finding: error -> fail, warning -> warn, else pass."""
        found = list(findings)
        severities = {f.severity for f in found}
        if Severity.ERROR in severities:
            status = Status.FAIL
        elif Severity.WARNING in severities:
            status = Status.WARN
        else:
            status = Status.PASS
        return cls(check_id, status, found, duration_s)

    @classmethod
    def skipped(cls, check_id: str, reason: str) -> "CheckResult":
        return cls(check_id, Status.SKIP, [info(reason)])

    @property
    def headline(self) -> str:
        """The one message that says why: the first error, else the first finding."""
        for finding in self.findings:
            if finding.severity is Severity.ERROR:
                return finding.message
        return self.findings[0].message if self.findings else self.id

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status.value,
                               "duration_s": round(self.duration_s, 3),
                               "findings": [f.to_dict() for f in self.findings]}
        if self.source is not None and self.status is not Status.SKIP:
            out["source"] = self.source
        return out


@dataclass
class PackageReport:
    path: str
    name: Optional[str] = None
    checks: list[CheckResult] = field(default_factory=list)
    environment: Optional[dict[str, Any]] = None
    duration_s: float = 0.0
    # Set when envcheck itself could not do its job for this package (exit code 2).
    internal_error: Optional[str] = None

    @property
    def status(self) -> Status:
        if self.internal_error is not None:
            return Status.ERROR
        worst = max((c.status for c in self.checks), key=lambda s: s.rank, default=Status.PASS)
        if worst in (Status.FAIL, Status.ERROR):
            return Status.FAIL
        return Status.PASS

    def check(self, check_id: str) -> Optional[CheckResult]:
        for result in self.checks:
            if result.id == check_id:
                return result
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "name": self.name,
                               "status": self.status.value,
                               "duration_s": round(self.duration_s, 3),
                               "environment": self.environment,
                               "checks": [c.to_dict() for c in self.checks]}
        if self.internal_error is not None:
            out["error"] = self.internal_error
        return out


@dataclass
class Report:
    envcheck_version: str
    packages: list[PackageReport] = field(default_factory=list)
    # ``check --shard K/N``: {index, count, plan, options, planned_packages}, so that
    # ``envcheck merge`` can tell a missing, duplicated or foreign shard (JSON only).
    shard: Optional[dict[str, Any]] = None

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 a check failed, 2 envcheck could not do its job."""
        if any(p.internal_error is not None for p in self.packages):
            return 2
        if any(p.status is Status.FAIL for p in self.packages):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"envcheck_version": self.envcheck_version,
                               "packages": [p.to_dict() for p in self.packages]}
        if self.shard is not None:
            out["shard"] = self.shard
        return out


class Stopwatch:
    """``with Stopwatch() as sw: ...; sw.elapsed`` -- monotonic, for durations in reports."""

    def __enter__(self) -> "Stopwatch":
        self.start = time.perf_counter()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
