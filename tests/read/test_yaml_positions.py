"""load_yaml_lines (MLmodel, python_env.yaml, model.yaml, bento.yaml): what it refuses."""

from __future__ import annotations

import os
from pathlib import Path

from envcheck.read.yaml_positions import MAX_YAML_BYTES, load_yaml_lines

# 9 * 8**8 values from 28 written: walking it (for key lines) would never end.
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 8) + "]\n"
    for i in range(8))


def test_yaml_bomb_refused_before_it_is_walked(tmp_path: Path) -> None:
    path = tmp_path / "MLmodel"
    path.write_text(BOMB, encoding="utf-8")
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


def test_oversized_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "bento.yaml"
    path.write_bytes(b"#" * (MAX_YAML_BYTES + 1))
    _, _, problem = load_yaml_lines(path, "bento.yaml")
    assert problem is not None and problem.message == (
        f"bento.yaml is {MAX_YAML_BYTES + 1} bytes; over {MAX_YAML_BYTES} bytes is refused")


def test_plain_file_with_its_key_lines(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("name: churn\ncontext:\n  framework_versions:\n    scikit-learn: 1.5.2\n")
    data, lines, problem = load_yaml_lines(path, "model.yaml")
    assert problem is None and data["context"]["framework_versions"] == {"scikit-learn": "1.5.2"}
    assert lines[("context", "framework_versions", "scikit-learn")] == 4
