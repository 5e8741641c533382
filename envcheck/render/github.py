"""GitHub Actions workflow commands: ``::error file=…,line=…::message``, one per finding.

Package strings pass :mod:`envcheck.render.neutralize`'s GitHub escaping: a newline in a
message cannot start a command of its own (``::add-mask::``, ``::stop-commands::``).
"""

from __future__ import annotations

import os

from envcheck.model.findings import Report, Severity
from envcheck.render import neutralize as nz
from envcheck.render.text import summary_line


def render_github(report: Report) -> str:
    """GitHub Actions workflow commands: ``::error file=…,line=…::message``."""
    lines: list[str] = []
    for package in report.packages:
        for check in package.checks:
            for finding in check.findings:
                if finding.severity is Severity.INFO:
                    continue
                level = "error" if finding.severity is Severity.ERROR else "warning"
                props = [f"title={nz.github_property(check.id)}"]
                if finding.file:
                    path = os.path.join(package.path, finding.file)
                    props.insert(0, f"file={nz.github_property(path)}")
                    if finding.line is not None:
                        props.insert(1, f"line={finding.line}")
                        if finding.column is not None:
                            props.insert(2, f"col={finding.column}")
                lines.append(f"::{level} {','.join(props)}::{nz.github_message(finding.message)}")
        if package.internal_error:
            lines.append(f"::error title=envcheck::{nz.github_message(package.internal_error)}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
