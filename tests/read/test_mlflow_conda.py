"""envcheck.read.mlflow_conda: MLflow's conda.yaml compared with python_env.yaml and
requirements.txt, and built from when it is the only environment file."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import FIXTURES

from envcheck.model.findings import Severity, Status
from envcheck.model.options import Options
from envcheck.read.formats import read_package

SKOPS = FIXTURES / "mlflow" / "churn-skops"


def parse_of(root: Path):
    pkg, results = read_package(root, Options())
    assert pkg is not None
    return pkg, next(r for r in results if r.id == "requirements.parse")


def test_fixture_conda_yaml_agrees() -> None:
    _, parse = parse_of(SKOPS)
    assert parse.status is Status.PASS and parse.headline == "4 requirements"


def test_conda_yaml_disagreeing_warns_naming_both(tmp_path: Path) -> None:
    root = tmp_path / "model"
    shutil.copytree(SKOPS, root)
    conda = root / "conda.yaml"
    conda.write_text(conda.read_text().replace("scikit-learn==1.5.2", "scikit-learn==1.6.1")
                     .replace("  - skops==0.16.0\n", "") + "", encoding="utf-8")
    pkg, parse = parse_of(root)
    assert parse.status is Status.WARN
    warned = [(f.file, f.line, f.message) for f in parse.findings
              if f.severity is Severity.WARNING]
    assert warned == [
        ("conda.yaml", 9, "scikit-learn==1.6.1 disagrees with scikit-learn==1.5.2 "
                          "(requirements.txt:3): envcheck installs requirements.txt; make the "
                          "two agree"),
        ("conda.yaml", None, "skops==0.16.0 (requirements.txt:4) is not in conda.yaml: envcheck "
                             "installs it from requirements.txt; add it to conda.yaml too, or "
                             "remove it")]
    assert pkg.pins["scikit-learn"] == "1.5.2"  # python_env.yaml's requirements are built


def test_conda_yaml_alone_is_built(tmp_path: Path) -> None:
    root = tmp_path / "model"
    shutil.copytree(SKOPS, root)
    (root / "python_env.yaml").unlink()
    (root / "requirements.txt").unlink()
    conda = root / "conda.yaml"
    conda.write_text(conda.read_text().replace("- pip\n", "- pip\n- libgomp\n"),
                     encoding="utf-8")
    pkg, parse = parse_of(root)
    assert pkg.requirements_path == conda
    assert pkg.requirement_lines == ["mlflow==3.17.2", "pandas==2.2.3", "scikit-learn==1.5.2",
                                     "skops==0.16.0"]
    [only] = [f for f in parse.findings if f.severity is Severity.WARNING]
    assert only.file == "conda.yaml" and only.details == {"conda_only": ["libgomp"]}
    assert pkg.python_version == "3.11.7"


def test_conda_yaml_linking_out_of_the_directory_is_not_read(tmp_path: Path) -> None:
    root = tmp_path / "model"
    shutil.copytree(SKOPS, root)
    outside = tmp_path / "secret.yaml"
    outside.write_text("dependencies:\n  - pip:\n      - leaked-secret==1.0\n")
    (root / "conda.yaml").unlink()
    (root / "conda.yaml").symlink_to(outside)
    _, parse = parse_of(root)
    assert "leaked-secret" not in str([f.to_dict() for f in parse.findings])
    assert parse.status is Status.PASS
