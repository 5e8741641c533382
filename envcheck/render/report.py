"""Render a :class:`~envcheck.model.findings.Report` as text, JSON, JUnit XML, Markdown or
GitHub Actions annotations.  Renderers only format; they never decide a status."""

from __future__ import annotations

import json
import os
from typing import Callable, TextIO
from xml.etree import ElementTree as ET

from envcheck.model import checks
from envcheck.model.findings import Finding, Report, Severity, Status

FORMATS = ("text", "json", "junit", "markdown", "github")

_ANSI = {"red": "\033[31m", "green": "\033[32m", "yellow": "\033[33m", "dim": "\033[2m",
         "bold": "\033[1m", "reset": "\033[0m"}
_STATUS_COLOUR = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red",
                  Status.ERROR: "red", Status.SKIP: "dim"}
_STATUS_LABEL = {Status.PASS: "PASS", Status.WARN: "WARN", Status.FAIL: "FAIL",
                 Status.ERROR: "ERROR", Status.SKIP: "skip"}
_MARKDOWN_ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌",
                  Status.ERROR: "💥", Status.SKIP: "⏭️"}


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


def render_text(report: Report, colour: bool = False) -> str:
    def paint(text: str, name: str) -> str:
        return f"{_ANSI[name]}{text}{_ANSI['reset']}" if colour else text

    lines: list[str] = []
    for package in report.packages:
        title = package.name or package.path
        lines.append(paint(f"{title} ({package.path})", "bold"))
        env = package.environment
        if env:
            reuse = "reused" if env.get("reused") else "built"
            lines.append(paint(f"  environment: python {env.get('python')}, "
                               f"{env.get('installer')}, {reuse} [{str(env.get('key'))[:12]}]",
                               "dim"))
        if package.internal_error:
            lines.append(paint(f"  ERROR  {package.internal_error}", "red"))
        for check in package.checks:
            label = paint(f"{_STATUS_LABEL[check.status]:<5}", _STATUS_COLOUR[check.status])
            important = [f for f in check.findings if f.severity is not Severity.INFO]
            if len(important) == 1:  # the verdict line says it all, then any detail lines
                first, *rest = finding_line(important[0]).splitlines() or [""]
                lines.append(f"  {label}  {check.id:<22}{first}")
                lines.extend("           " + text for text in rest)
                continue
            summary = _check_summary(check.findings, check.status) or (
                _PASSED.get(check.id, "") if check.status is Status.PASS else "")
            lines.append(f"  {label}  {check.id:<22}{summary}".rstrip())
            for finding in important:
                for i, text in enumerate(finding_line(finding).splitlines() or [""]):
                    prefix = "         - " if i == 0 else "           "
                    lines.append(prefix + text)
        verdict = package.status
        lines.append("  " + paint(f"=> {verdict.value.upper()}", _STATUS_COLOUR[verdict])
                     + paint(f"  ({package.duration_s:.1f}s)", "dim"))
        lines.append("")
    lines.append(_summary_line(report))
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
    return findings[0].message.splitlines()[0] if findings else ""


def _summary_line(report: Report) -> str:
    counts = {status: 0 for status in Status}
    for package in report.packages:
        counts[package.status] += 1
    total = len(report.packages)
    word = "package" if total == 1 else "packages"
    parts = [f"{counts[Status.PASS]} passed", f"{counts[Status.FAIL]} failed"]
    if counts[Status.ERROR]:
        parts.append(f"{counts[Status.ERROR]} errored")
    return f"envcheck: {total} {word}: " + ", ".join(parts)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str) + "\n"


def render_junit(report: Report) -> str:
    """One <testsuite> per package, one <testcase> per check (as CI systems expect)."""
    suites = ET.Element("testsuites", name="envcheck")
    for package in report.packages:
        failures = sum(c.status is Status.FAIL for c in package.checks)
        errors = sum(c.status is Status.ERROR for c in package.checks) + (
            1 if package.internal_error else 0)
        skipped = sum(c.status is Status.SKIP for c in package.checks)
        suite = ET.SubElement(suites, "testsuite", name=package.name or package.path,
                              tests=str(len(package.checks)), failures=str(failures),
                              errors=str(errors), skipped=str(skipped),
                              time=f"{package.duration_s:.3f}")
        if package.internal_error:
            case = ET.SubElement(suite, "testcase", classname=package.path, name="envcheck")
            ET.SubElement(case, "error", message=package.internal_error)
        for check in package.checks:
            case = ET.SubElement(suite, "testcase", classname=package.name or package.path,
                                 name=check.id, time=f"{check.duration_s:.3f}")
            body = "\n".join(finding_line(f) for f in check.findings)
            first = check.findings[0].message.splitlines()[0] if check.findings else ""
            if check.status is Status.FAIL:
                ET.SubElement(case, "failure", message=first).text = body
            elif check.status is Status.ERROR:
                ET.SubElement(case, "error", message=first).text = body
            elif check.status is Status.SKIP:
                ET.SubElement(case, "skipped", message=first)
            elif body:
                ET.SubElement(case, "system-out").text = body
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(report: Report) -> str:
    lines = ["# envcheck report", ""]
    for package in report.packages:
        icon = _MARKDOWN_ICON[package.status]
        lines.append(f"## {icon} {package.name or package.path} — {package.status.value}")
        lines.append("")
        env = package.environment
        if env:
            lines.append(f"Environment: Python {env.get('python')}, installer "
                         f"{env.get('installer')}, {'reused' if env.get('reused') else 'built'}.")
            lines.append("")
        if package.internal_error:
            lines.append(f"**envcheck error:** {_md_escape(package.internal_error)}")
            lines.append("")
        lines.append("| check | status | findings |")
        lines.append("|---|---|---|")
        for check in package.checks:
            shown = [f for f in check.findings if f.severity is not Severity.INFO] or check.findings
            text = "<br>".join(_md_escape(finding_line(f)) for f in shown[:5])
            if len(shown) > 5:
                text += f"<br>… {len(shown) - 5} more"
            lines.append(f"| `{check.id}` | {_MARKDOWN_ICON[check.status]} {check.status.value} "
                         f"| {text} |")
        lines.append("")
    lines.append(_summary_line(report))
    return "\n".join(lines) + "\n"


def _gh_escape(text: str) -> str:
    # The workflow-command escaping GitHub documents for messages and properties.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_escape(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report) -> str:
    """GitHub Actions workflow commands: ``::error file=…,line=…::message``."""
    lines: list[str] = []
    for package in report.packages:
        for check in package.checks:
            for finding in check.findings:
                if finding.severity is Severity.INFO:
                    continue
                level = "error" if finding.severity is Severity.ERROR else "warning"
                props = [f"title={_gh_property(check.id)}"]
                if finding.file:
                    path = os.path.join(package.path, finding.file)
                    props.insert(0, f"file={_gh_property(path)}")
                    if finding.line is not None:
                        props.insert(1, f"line={finding.line}")
                        if finding.column is not None:
                            props.insert(2, f"col={finding.column}")
                lines.append(f"::{level} {','.join(props)}::{_gh_escape(finding.message)}")
        if package.internal_error:
            lines.append(f"::error title=envcheck::{_gh_escape(package.internal_error)}")
    lines.append(_summary_line(report))
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Report], str]] = {
    "json": render_json,
    "junit": render_junit,
    "markdown": render_markdown,
    "github": render_github,
}


def render(report: Report, fmt: str, colour: bool = False) -> str:
    if fmt == "text":
        return render_text(report, colour=colour)
    return RENDERERS[fmt](report)

