"""MLflow's ``conda.yaml`` beside ``python_env.yaml``: a second description of one env.

MLflow writes both.  envcheck builds from ``python_env.yaml`` and the requirements it
names (the virtualenv description, installable from PyPI); ``conda.yaml`` is compared
with them (a ``requirements.parse`` warning per disagreement, naming both files and
lines) and its conda-only packages are reported (:mod:`envcheck.read.conda`).  A model
directory with neither ``python_env.yaml`` nor ``requirements.txt`` is built from
``conda.yaml``: its ``python=`` and its ``pip:`` section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from envcheck.model.findings import Finding
from envcheck.read.conda import MLFLOW_CONDA_FILE, read_conda
from envcheck.read.env_source import Source
from envcheck.read.mlflow_package import MlflowModelPackage
from envcheck.read.requirements_file import RequirementsFile
from envcheck.read.source_compare import between_declared

PYTHON_ENV_FILE = "python_env.yaml"


def _inside(root: Path, path: Path) -> bool:
    """A conda.yaml that is a link out of the model directory is never read."""
    return path.is_file() and path.resolve().is_relative_to(root.resolve())


def conda_only_environment(pkg: MlflowModelPackage) -> Optional[RequirementsFile]:
    """The requirements from conda.yaml when it is the only environment file."""
    root = pkg.root
    path = root / MLFLOW_CONDA_FILE
    if (root / PYTHON_ENV_FILE).is_file() or (root / "requirements.txt").is_file() \
            or not _inside(root, path):
        return None
    source, _ = read_conda(path, root, MLFLOW_CONDA_FILE)
    if source is None:
        return None
    pkg.requirements_path = path
    if source.python and "python_version" not in pkg.metadata:
        pkg.metadata["python_version"] = source.python
        pkg.python_version_file = MLFLOW_CONDA_FILE
        pkg.python_version_key = "python"
    return source.reqs


def conda_disagreements(pkg: MlflowModelPackage, reqs: RequirementsFile) -> list[Finding]:
    """conda.yaml against what is installed (python_env.yaml / requirements.txt)."""
    path = pkg.root / MLFLOW_CONDA_FILE
    if Path(pkg.requirements_path) == path or not _inside(pkg.root, path):
        return []
    conda, _ = read_conda(path, pkg.root, MLFLOW_CONDA_FILE)
    if conda is None:
        return []
    chosen = Source(pkg.relative(Path(pkg.requirements_path)), reqs, declared=reqs.direct)
    python = pkg.python_version if pkg.python_version and pkg.python_version[:1].isdigit() \
        else None
    minor = ".".join(python.split(".")[:2]) if python else None
    return conda.reqs.findings + between_declared(
        conda.declared_items(), chosen.declared_items(), MLFLOW_CONDA_FILE, chosen.file, minor)
