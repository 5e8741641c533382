"""envcheck matrix: each combination its own env, a table of what is safe to move to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from envcheck.commands.matrix import Axis, combinations, parse_axis
from envcheck.model.errors import UsageError
from envcheck.model.options import Options
from envcheck.pipeline import apply_overrides
from envcheck.read.formats import read_package

SKLEARN_132 = FIXTURES / "packages" / "churn-sklearn-1.3.2"


def test_parse_axis() -> None:
    axis = parse_axis("Scikit_Learn==1.3.2, 1.4.2,1.5.2")
    assert axis == Axis("scikit-learn", ["1.3.2", "1.4.2", "1.5.2"])


@pytest.mark.parametrize("text", ["scikit-learn", "scikit-learn>=1.3", "scikit-learn==1.x", "==1.0"])
def test_parse_axis_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_axis(text)


def test_combinations_are_the_product_in_order() -> None:
    combos = combinations([Axis("scikit-learn", ["1.3.2", "1.4.2"]), Axis("numpy", ["1.26.4"])])
    assert combos == [{"scikit-learn": "1.3.2", "numpy": "1.26.4"},
                      {"scikit-learn": "1.4.2", "numpy": "1.26.4"}]
    with pytest.raises(UsageError):
        combinations([Axis("numpy", ["1"]), Axis("numpy", ["2"])])


def test_overrides_replace_the_pin_only() -> None:
    pkg, _ = read_package(SKLEARN_132, Options())
    assert pkg is not None
    apply_overrides(pkg, {"scikit-learn": "1.4.2"})
    assert "scikit-learn==1.4.2" in pkg.requirement_lines
    assert not any(line.startswith("scikit-learn==1.5.2") for line in pkg.requirement_lines)
    assert "numpy==1.26.4" in pkg.requirement_lines
    assert pkg.pins["scikit-learn"] == "1.4.2"


@pytest.mark.slow
def test_matrix_finds_the_safe_version(envcheck_cache: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "envcheck", "matrix", str(SKLEARN_132),
         "--with", "scikit-learn==1.3.2,1.5.2", "--format", "json", "-j", "2"],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "ENVCHECK_CACHE_DIR": str(envcheck_cache)})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = {c["versions"]["scikit-learn"]: c for c in data["combinations"]}
    assert rows["1.3.2"]["status"] == "pass"
    assert rows["1.3.2"]["checks"]["load.warnings"] == "pass"
    assert rows["1.5.2"]["status"] == "fail"
    assert rows["1.5.2"]["checks"]["load.warnings"] == "fail"
    assert "1.3.2" in rows["1.5.2"]["reason"] and "1.5.2" in rows["1.5.2"]["reason"]
    assert rows["1.5.2"]["environment"]["packages"]["scikit-learn"] == "1.5.2"


@pytest.mark.slow
def test_an_install_failure_keeps_its_reason_after_the_colon(tmp_path: Path) -> None:
    """The installer's explanation follows "could not install X (...):" on its own line;
    the matrix shows all of it, as check does (text and JSON)."""
    import pickle

    pkg = tmp_path / "tiny"
    pkg.mkdir()
    (pkg / "metadata.yaml").write_text(
        "name: tiny\nversion: '1'\ninput_features:\n  - {name: x, type: float}\n"
        "output:\n  - {name: y, type: float}\n")
    (pkg / "requirements.txt").write_text("six==1.16.0\n")
    (pkg / "interface.py").write_text("def load_model():\n    return None\n")
    (pkg / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0]}, protocol=4))
    environ = {**os.environ, "ENVCHECK_CACHE_DIR": str(tmp_path / "cache")}
    base = [sys.executable, "-m", "envcheck", "matrix", str(pkg), "--with", "six==99.0.0"]
    text = subprocess.run(base, capture_output=True, text=True, timeout=300, env=environ)
    assert text.returncode == 1, text.stderr
    line = next(t for t in text.stdout.splitlines() if t.startswith("six==99.0.0: "))
    assert line.startswith("six==99.0.0: env.build: could not install six==99.0.0 (uv ")
    assert "no version of six==99.0.0" in line  # what came after the colon
    proc = subprocess.run(base + ["--format", "json"], capture_output=True, text=True,
                          timeout=300, env=environ)
    (combo,) = json.loads(proc.stdout)["combinations"]
    assert combo["checks"]["env.build"] == "fail"
    assert combo["reason"] == line[len("six==99.0.0: "):]
