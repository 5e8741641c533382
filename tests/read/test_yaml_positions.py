"""envcheck.read.yaml_positions.load_yaml_lines (MLmodel, python_env.yaml, conda files):
lines by key path; bombs, recursion and oversized files refused before anything walks them."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from conftest import FIXTURES

from envcheck.model.findings import Severity
from envcheck.model.options import Options
from envcheck.read.formats import read_package
from envcheck.read.yaml_positions import load_yaml_lines

BOMB = "\n".join(['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
                 + [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
                 + ["flavors: *a8"]) + "\n"


def test_lines_by_key_path(tmp_path: Path) -> None:
    path = tmp_path / "conda.yaml"
    path.write_text("name: x\ndependencies:\n  - python=3.11\n  - pip:\n      - six\n")
    data, lines, problem = load_yaml_lines(path, "conda.yaml")
    assert problem is None and data["name"] == "x"
    assert lines[("dependencies", "1", "pip", "0")] == 5 and lines[("dependencies",)] == 2


@pytest.mark.parametrize("text, message", [
    (BOMB, "MLmodel: aliases expand this document to "),
    ("a: &a [*a]\n", "MLmodel: an alias refers to the mapping or list that contains it"),
])
def test_bombs_and_recursion_are_refused_at_once(tmp_path: Path, text: str,
                                                 message: str) -> None:
    path = tmp_path / "MLmodel"
    path.write_text(text, encoding="utf-8")
    # Not a speed figure: a walk of the expansion would never end, so stop it instead.
    def hang(signum: int, frame: object) -> None:
        raise TimeoutError("load_yaml_lines walks the alias expansion")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, 60)
    try:
        data, lines, problem = load_yaml_lines(path, "MLmodel")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert data is None and lines == {}
    assert problem is not None and problem.message.startswith(message)


def test_an_mlflow_directory_with_a_bomb_is_a_finding(tmp_path: Path) -> None:
    root = tmp_path / "model"
    shutil.copytree(FIXTURES / "mlflow" / "churn-skops", root)
    (root / "MLmodel").write_text(BOMB, encoding="utf-8")
    pkg, results = read_package(root, Options())
    schema = next(r for r in results if r.id == "metadata.schema")
    assert any(f.severity is Severity.ERROR and "refusing a possible YAML bomb" in f.message
               for f in schema.findings)


def test_oversized_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "environment.yml"
    path.write_bytes(b"#" * 5_000_001)
    _, _, problem = load_yaml_lines(path, "environment.yml")
    assert problem is not None and problem.message == (
        "environment.yml is 5000001 bytes; files over 5000000 bytes are refused")


# 9 * 8**8 values from 28 written: walking it (for key lines) would never end.
BOMB_8 = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 8) + "]\n"
    for i in range(8))


def test_yaml_bomb_refusal_counts_and_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "MLmodel"
    path.write_text(BOMB_8, encoding="utf-8")
    data, lines, problem = load_yaml_lines(path, "MLmodel")
    assert (data, lines) == (None, {}) and problem is not None
    assert problem.message == ("MLmodel: aliases expand this document to 194478756 values "
                               "from 28 written (limit: 10000 more); refusing a possible YAML "
                               "bomb")
    assert problem.line == 8


def test_a_fifo_is_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    os.mkfifo(path)
    _, _, problem = load_yaml_lines(path, "model.yaml")
    assert problem is not None and problem.message == "model.yaml is not a regular file"


def test_plain_file_with_its_key_lines(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("name: churn\ncontext:\n  framework_versions:\n    scikit-learn: 1.5.2\n")
    data, lines, problem = load_yaml_lines(path, "model.yaml")
    assert problem is None and data["context"]["framework_versions"] == {"scikit-learn": "1.5.2"}
    assert lines[("context", "framework_versions", "scikit-learn")] == 4
