"""Markdown (a PR comment, a job summary): a heading and a table per package.

Package strings pass :func:`envcheck.render.neutralize.markdown`: no tag, comment,
heading, table cell or link of theirs can hide or forge a part of the report.
"""

from __future__ import annotations

from envcheck.model.findings import Report, Severity, Status
from envcheck.render import neutralize as nz
from envcheck.render.text import finding_line, summary_line

_MARKDOWN_ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌",
                  Status.ERROR: "💥", Status.SKIP: "⏭️"}


def render_markdown(report: Report) -> str:
    lines = ["# envcheck report", ""]
    for package in report.packages:
        icon = _MARKDOWN_ICON[package.status]
        lines.append(f"## {icon} {nz.markdown(package.name or package.path)} — "
                     f"{package.status.value}")
        lines.append("")
        env = package.environment
        if env:
            lines.append(f"Environment: Python {env.get('python')}, installer "
                         f"{env.get('installer')}, {'reused' if env.get('reused') else 'built'}.")
            lines.append("")
        if package.internal_error:
            lines.append(f"**envcheck error:** {nz.markdown(package.internal_error)}")
            lines.append("")
        lines.append("| check | status | findings |")
        lines.append("|---|---|---|")
        for check in package.checks:
            shown = [f for f in check.findings if f.severity is not Severity.INFO] or check.findings
            text = "<br>".join(nz.markdown(finding_line(f)) for f in shown[:5])
            if len(shown) > 5:
                text += f"<br>… {len(shown) - 5} more"
            lines.append(f"| `{check.id}` | {_MARKDOWN_ICON[check.status]} {check.status.value} "
                         f"| {text} |")
        lines.append("")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
