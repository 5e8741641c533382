"""envcheck.read.conda: the python= and pip: section of an environment.yml; conda-only
packages named with their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from envcheck.model.findings import Severity
from envcheck.read.conda import conda_python, conda_spec, read_conda

ENV = '''name: churn
channels: [conda-forge]
dependencies:
  - conda-forge::python=3.10.13=h955ad1f_0
  - pip
  - numpy=1.26.4
  - scikit-learn
  - pip:
      - scikit-learn==1.5.2
      - -r extra.txt
'''


@pytest.mark.parametrize("text, name, rest", [
    ("python=3.11", "python", "=3.11"),
    ("conda-forge::numpy=1.26.4=py311_0", "numpy", "=1.26.4=py311_0"),
    ("libgomp", "libgomp", ""),
    ("numpy >=1.20", "numpy", ">=1.20"),
])
def test_conda_spec(text: str, name: str, rest: str) -> None:
    assert conda_spec(text) == (name, rest)


@pytest.mark.parametrize("spec, request_", [
    ("=3.11", "3.11"), ("==3.11.7", "3.11.7"), ("=3.11.7=h955ad1f_0", "3.11.7"),
    (">=3.9", ">=3.9"), ("3.11.*", "3.11.*"), ("", None),
])
def test_conda_python(spec: str, request_) -> None:
    assert conda_python(spec) == request_


def test_pip_section_built_conda_only_named(tmp_path: Path) -> None:
    (tmp_path / "environment.yml").write_text(ENV, encoding="utf-8")
    (tmp_path / "extra.txt").write_text("pandas==2.2.2\n", encoding="utf-8")
    source, notes = read_conda(tmp_path / "environment.yml", tmp_path, "environment.yml")
    assert source is not None and notes == []
    assert source.reqs.install_lines() == ["pandas==2.2.2", "scikit-learn==1.5.2"]
    assert [(r.name, r.line) for r in source.declared] == [("scikit-learn", 9), ("pandas", 1)]
    assert (source.python, source.python_key, source.python_line) == ("3.10.13", "python", 4)
    # scikit-learn is in both sections; numpy only in conda's.
    [only] = [f for f in source.reqs.findings if f.severity is Severity.WARNING]
    assert (only.file, only.line) == ("environment.yml", 6)
    assert only.details == {"conda_only": ["numpy=1.26.4"]}
    assert only.message.startswith("1 conda package outside the pip: section cannot be "
                                   "installed from PyPI, so this environment cannot be "
                                   "reproduced from PyPI: numpy=1.26.4 (environment.yml:6); "
                                   "envcheck builds Python 3.10.13 and the pip: section only")
    assert source.ok  # a warning: what PyPI has is built; load says whether it was enough


@pytest.mark.parametrize("text, message", [
    ("name: x\n", "environment.yml has no `dependencies:` list: no environment to build"),
    ("dependencies: [python=3.11\n", "environment.yml is not valid YAML"),
])
def test_unusable_environment_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "environment.yml").write_text(text, encoding="utf-8")
    source, _ = read_conda(tmp_path / "environment.yml", tmp_path, "environment.yml")
    assert not source.ok
    assert source.reqs.findings[0].message.startswith(message)
