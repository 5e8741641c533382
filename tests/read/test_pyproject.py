"""envcheck.read.pyproject: [project] dependencies and requires-python, with their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from envcheck.model.findings import Severity
from envcheck.read.pyproject import read_pyproject

PROJECT = '''[build-system]
requires = ["setuptools"]

[project]
name = "churn-model"
version = "1.0"
requires-python = ">=3.10"
dependencies = [
    "scikit-learn==1.5.2",  # the model's version
    'numpy>=1.26,<2',
    "tomli; python_version < '3.11'",
]

[project.optional-dependencies]
dev = ["pytest"]
'''


def read(tmp_path: Path, text: str):
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return read_pyproject(path, tmp_path)


def test_dependencies_with_lines_and_requires_python(tmp_path: Path) -> None:
    source, notes = read(tmp_path, PROJECT)
    assert source is not None and notes == [] and source.ok
    assert [(r.name, r.line) for r in source.reqs.direct] == [
        ("scikit-learn", 9), ("numpy", 10), ("tomli", 11)]
    assert source.reqs.install_lines() == [
        "numpy<2,>=1.26", "scikit-learn==1.5.2", 'tomli ; python_version < "3.11"']
    assert (source.python, source.python_key, source.python_line) == (">=3.10",
                                                                      "requires-python", 7)
    assert not source.complete and source.declared == source.reqs.direct
    assert "pytest" not in {r.name for r in source.reqs.direct}  # optional: not installed


def test_a_bad_dependency_names_its_line(tmp_path: Path) -> None:
    source, _ = read(tmp_path, PROJECT.replace("'numpy>=1.26,<2'", "'numpy=1.26'"))
    [problem] = source.reqs.findings
    assert (problem.file, problem.line, problem.severity) == ("pyproject.toml", 10,
                                                             Severity.ERROR)
    assert "did you mean numpy==1.26?" in problem.message


def test_an_option_is_not_a_dependency(tmp_path: Path) -> None:
    source, _ = read(tmp_path, '[project]\nname = "x"\ndependencies = ["-r other.txt"]\n')
    assert [f.message for f in source.reqs.findings] == [
        "'-r other.txt' is not a requirement (options belong in requirements.txt)"]


@pytest.mark.parametrize("text, severity, message", [
    ('[project]\nname = "x"\ndynamic = ["dependencies"]\n', Severity.WARNING,
     "pyproject.toml declares its dependencies dynamic (its build backend computes them, and "
     "envcheck runs no build backend): not read as an environment; write them under [project] "
     "dependencies"),
    ("[tool.ruff]\nline-length = 99\n", Severity.INFO,
     "pyproject.toml has no [project] dependencies: not read as an environment"),
])
def test_no_static_dependencies_is_no_source(tmp_path: Path, text: str, severity: Severity,
                                             message: str) -> None:
    source, [note] = read(tmp_path, text)
    assert source is None
    assert (note.severity, note.message) == (severity, message)


@pytest.mark.parametrize("text, message, line", [
    ('[project]\ndependencies = "numpy"\n',
     "[project] dependencies in pyproject.toml must be a list of requirement strings", 2),
    ("[project\n", "pyproject.toml is not valid TOML", 1),
])
def test_malformed_is_an_error(tmp_path: Path, text: str, message: str, line: int) -> None:
    source, _ = read(tmp_path, text)
    [problem] = source.reqs.findings
    assert problem.message.startswith(message) and problem.line == line
    assert not source.ok


def test_non_utf8_and_oversized_are_refused(tmp_path: Path) -> None:
    source, _ = read(tmp_path, "")
    (tmp_path / "pyproject.toml").write_bytes(b"[project]\nname = '\xff'\n")
    source, _ = read_pyproject(tmp_path / "pyproject.toml", tmp_path)
    assert source.reqs.findings[0].message.startswith("pyproject.toml cannot be read")
    (tmp_path / "pyproject.toml").write_bytes(b"#" * 5_000_001)
    source, _ = read_pyproject(tmp_path / "pyproject.toml", tmp_path)
    assert source.reqs.findings[0].message == ("pyproject.toml is 5000001 bytes; files over "
                                               "5000000 bytes are refused")
