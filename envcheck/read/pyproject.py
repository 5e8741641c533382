"""``pyproject.toml`` as an environment: ``[project] dependencies`` and ``requires-python``.

Only what PEP 621 declares statically is read.  Dependencies a build backend computes
(``dynamic = ["dependencies"]``), optional dependencies and dependency groups are not
installed: the model's environment is the project's own runtime requirements.  The
project itself is never built or installed (that would run its build backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from envcheck.model.findings import Finding, error, info, warning
from envcheck.read.env_source import Source, toml_source
from envcheck.read.requirements import parse_entries
from envcheck.read.requirements_file import RequirementsFile

PYPROJECT_FILE = "pyproject.toml"


def read_pyproject(path: Path, root: Path) -> tuple[Optional[Source], list[Finding]]:
    """The source, or None (and a note saying why) when the file declares no environment."""
    shown = PYPROJECT_FILE
    doc = toml_source(path, shown)
    if isinstance(doc, Source):
        return doc, []
    project = doc.data.get("project")
    if not isinstance(project, dict) or "dependencies" not in project:
        dynamic = project.get("dynamic") if isinstance(project, dict) else None
        if isinstance(dynamic, list) and "dependencies" in dynamic:
            return None, [warning(
                f"{shown} declares its dependencies dynamic (its build backend computes "
                f"them, and envcheck runs no build backend): not read as an environment; "
                f"write them under [project] dependencies", file=shown,
                line=doc.key_line("dynamic"))]
        return None, [info(f"{shown} has no [project] dependencies: not read as an "
                           f"environment", file=shown)]
    start = doc.header_line("project") or 1
    deps_line = doc.key_line("dependencies", start) or start
    deps = project["dependencies"]
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        reqs = RequirementsFile(path=path, findings=[error(
            f"[project] dependencies in {shown} must be a list of requirement strings",
            file=shown, line=deps_line)])
        return Source(shown, reqs), []
    entries = []
    for dep in deps:
        entries.append(((doc.string_line(dep, deps_line) or deps_line), dep.strip()))
    reqs = parse_entries(path, entries, root)
    python = project.get("requires-python")
    source = Source(shown, reqs, declared=reqs.direct)
    if python is not None:
        source.python = str(python).strip()
        source.python_key = "requires-python"
        source.python_line = doc.key_line("requires-python", start)
    return source, []
