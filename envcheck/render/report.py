"""Render a :class:`~envcheck.model.findings.Report` in any format: one module per format
(:mod:`~envcheck.render.text`, :mod:`~envcheck.render.junit`,
:mod:`~envcheck.render.markdown`, :mod:`~envcheck.render.github`; JSON here, since
``json.dumps`` escapes every control character itself).  Renderers only format; they
never decide a status."""

from __future__ import annotations

import json
from typing import Callable

from envcheck.model.findings import Report
from envcheck.render.github import render_github
from envcheck.render.junit import render_junit
from envcheck.render.markdown import render_markdown
from envcheck.render.text import finding_line, render_text, use_colour

FORMATS = ("text", "json", "junit", "markdown", "github")
__all__ = ["FORMATS", "finding_line", "render", "render_json", "use_colour"]


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str) + "\n"


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
