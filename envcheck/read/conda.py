"""A conda ``environment.yml`` (or MLflow's ``conda.yaml``) as an environment.

What envcheck can build from it is what PyPI can give: the Python version
(``python=3.11``) and the ``pip:`` section, read like a requirements file (``-r``
includes relative to the environment file).  Every other conda package (``numpy=1.26``,
``libgomp``, ``cudatoolkit``) that the ``pip:`` section does not also name is a warning
that names each one and its line: the environment cannot be reproduced from PyPI.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from packaging.utils import canonicalize_name

from envcheck.model.findings import Finding, error, warning
from envcheck.read.env_source import Source, unreadable
from envcheck.read.requirements import parse_entries
from envcheck.read.requirements_file import RequirementsFile
from envcheck.read.yaml_positions import load_yaml_lines

ENVIRONMENT_FILES = ("environment.yml", "environment.yaml")
MLFLOW_CONDA_FILE = "conda.yaml"
_NOT_PACKAGES = {"python", "pip"}
_SPEC = re.compile(r"^(?:[^:\s]+::)?([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(.*)$")


def conda_spec(text: str) -> tuple[str, str]:
    """``conda-forge::numpy=1.26.4=py311_0`` -> (``numpy``, ``=1.26.4=py311_0``)."""
    match = _SPEC.match(text.strip())
    return (match.group(1), match.group(2).strip()) if match else (text.strip(), "")


def conda_python(spec: str) -> Optional[str]:
    """A conda version spec of python as a version request: ``=3.11`` -> ``3.11``,
    ``==3.11.7`` -> ``3.11.7``, ``=3.11.7=h955ad1f_0`` -> ``3.11.7``, ``>=3.9`` as is."""
    text = spec.strip()
    if not text:
        return None
    if text[0] in "<>!~":
        return text  # a range, as packaging reads it
    # "=3.11" and "==3.11.7" pin; "=3.11.7=h955ad1f_0" and "3.11 h955ad1f_0" add a build.
    version = re.split(r"[=\s]", text.lstrip("="), maxsplit=1)[0]
    return version or None


def read_conda(path: Path, root: Path, shown: str) -> tuple[Optional[Source], list[Finding]]:
    data, lines, problem = load_yaml_lines(path, shown)
    if problem is not None:
        return unreadable(path, shown, problem), []
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, list):
        reqs = RequirementsFile(path=path, findings=[error(
            f"{shown} has no `dependencies:` list: no environment to build", file=shown,
            line=lines.get(("dependencies",)))])
        return Source(shown, reqs), []
    python: Optional[tuple[str, Optional[int]]] = None
    conda_only: list[tuple[str, str, Optional[int]]] = []
    pip_entries: list[tuple[int, str]] = []
    for index, dep in enumerate(deps):
        line = lines.get(("dependencies", str(index)))
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            for number, item in enumerate(dep["pip"]):
                at = lines.get(("dependencies", str(index), "pip", str(number))) or line or 1
                pip_entries.append((at, str(item).strip()))
        elif isinstance(dep, (str, int, float)):
            name, spec = conda_spec(str(dep))
            if name == "python":
                python = (conda_python(spec) or "", line)
            elif name not in _NOT_PACKAGES:
                conda_only.append((str(dep).strip(), name, line))
    reqs = parse_entries(path, pip_entries, root, options_allowed=True)
    reqs.findings.extend(_conda_only(conda_only, reqs.names(), shown, python))
    source = Source(shown, reqs, declared=reqs.direct)
    if python is not None and python[0]:
        source.python, source.python_line = python
        source.python_key = "python"
    return source, []


def _conda_only(packages: list[tuple[str, str, Optional[int]]], pip_names: set[str],
                shown: str, python: Optional[tuple[str, Optional[int]]]) -> list[Finding]:
    only = [(spec, line) for spec, name, line in packages
            if canonicalize_name(name) not in pip_names]
    if not only:
        return []
    listed = ", ".join(f"{spec} ({shown}:{line})" if line else spec for spec, line in only)
    built = f"Python {python[0]} and " if python and python[0] else ""
    return [warning(
        f"{len(only)} conda package{'s' if len(only) != 1 else ''} outside the pip: section "
        f"cannot be installed from PyPI, so this environment cannot be reproduced from "
        f"PyPI: {listed}; envcheck builds {built}the pip: section only -- move each into "
        f"pip: with an == pin where PyPI has it", file=shown, line=only[0][1],
        details={"conda_only": [spec for spec, _ in only]})]


