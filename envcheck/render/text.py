"""The text report: for a person at a terminal (colour) or reading a CI log (plain).

Every string that may come from the package goes through :mod:`envcheck.render.neutralize`:
control characters and escape sequences are shown escaped, and a message's own line
breaks continue on indented lines, so no line of it can pass for one of envcheck's
(``=> PASS``, the summary line).
"""

from __future__ import annotations

import os
from typing import TextIO

from envcheck.model import checks
from envcheck.model.findings import Finding, Report, Severity, Status
from envcheck.render import neutralize as nz

_ANSI = {"red": "\033[31m", "green": "\033[32m", "yellow": "\033[33m", "dim": "\033[2m",
         "bold": "\033[1m", "reset": "\033[0m"}
_STATUS_COLOUR = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red",
                  Status.ERROR: "red", Status.SKIP: "dim"}
_STATUS_LABEL = {Status.PASS: "PASS", Status.WARN: "WARN", Status.FAIL: "FAIL",
                 Status.ERROR: "ERROR", Status.SKIP: "skip"}

# What a passing check with nothing to report means, for the one-line verdict.
_PASSED = {
    checks.METADATA_SCHEMA.id: "metadata matches the schema",
    checks.REQUIREMENTS_PINNED.id: "every requirement pinned with ==",
    checks.INTERFACE_CONTRACT.id: "load_model defined; imports covered by requirements",
    checks.LOAD_WARNINGS.id: "no warnings while importing and loading",
}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def finding_line(finding: Finding) -> str:
    """``file:line: message`` -- without repeating a location the message already starts with."""
    where = finding.location
    if not where or finding.message.startswith((where, f"{finding.file}:")):
        return finding.message
    return f"{where}: {finding.message}"


def _lines(finding: Finding) -> list[str]:
    """A finding's lines, each neutralized (the caller indents all but the first)."""
    return nz.text(finding_line(finding), multiline=True).split("\n") or [""]


def render_text(report: Report, colour: bool = False) -> str:
    def paint(text: str, name: str) -> str:
        return f"{_ANSI[name]}{text}{_ANSI['reset']}" if colour else text

    lines: list[str] = []
    for package in report.packages:
        title = nz.name(package.name or package.path)
        lines.append(paint(f"{title} ({nz.name(package.path)})", "bold"))
        env = package.environment
        if env:
            reuse = "reused" if env.get("reused") else "built"
            lines.append(paint(f"  environment: python {env.get('python')}, "
                               f"{env.get('installer')}, {reuse} [{str(env.get('key'))[:12]}]",
                               "dim"))
        # Said once: "not a package" is also the verdict of package.layout.
        if package.internal_error and not any(
                check.headline == package.internal_error for check in package.checks):
            lines.append(paint(f"  ERROR  {nz.text(package.internal_error)}", "red"))
        for check in package.checks:
            label = paint(f"{_STATUS_LABEL[check.status]:<5}", _STATUS_COLOUR[check.status])
            important = [f for f in check.findings if f.severity is not Severity.INFO]
            if len(important) == 1:  # the verdict line says it all, then any detail lines
                first, *rest = _lines(important[0])
                lines.append(f"  {label}  {check.id:<22}{first}")
                lines.extend("           " + text for text in rest)
                continue
            summary = _check_summary(check.findings, check.status) or (
                _PASSED.get(check.id, "") if check.status is Status.PASS else "")
            lines.append(f"  {label}  {check.id:<22}{summary}".rstrip())
            for finding in important:
                for i, text in enumerate(_lines(finding)):
                    prefix = "         - " if i == 0 else "           "
                    lines.append(prefix + text)
        verdict = package.status
        lines.append("  " + paint(f"=> {verdict.value.upper()}", _STATUS_COLOUR[verdict])
                     + paint(f"  ({package.duration_s:.1f}s)", "dim"))
        lines.append("")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _check_summary(findings: list[Finding], status: Status) -> str:
    """The one-line verdict: how many problems, or the first (info) message."""
    important = [f for f in findings if f.severity is not Severity.INFO]
    if important:
        errors = sum(f.severity is Severity.ERROR for f in important)
        warnings = len(important) - errors
        parts = ([f"{errors} error{'s' * (errors != 1)}"] if errors else []) + (
            [f"{warnings} warning{'s' * (warnings != 1)}"] if warnings else [])
        return ", ".join(parts)
    return nz.text(findings[0].message.splitlines()[0]) if findings else ""


def summary_line(report: Report) -> str:
    counts = {status: 0 for status in Status}
    for package in report.packages:
        counts[package.status] += 1
    total = len(report.packages)
    word = "package" if total == 1 else "packages"
    parts = [f"{counts[Status.PASS]} passed", f"{counts[Status.FAIL]} failed"]
    if counts[Status.ERROR]:
        parts.append(f"{counts[Status.ERROR]} errored")
    return f"envcheck: {total} {word}: " + ", ".join(parts)
