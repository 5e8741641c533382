"""Verdicts that explain themselves (issue 15), on real packages in real environments:
severities a user agrees with, one finding per cause, load failures in terms of versions.

The packages are built by fixtures/make_verdict_fixtures.py (and make_fixtures.py for the
Pipeline); all but churn-numpy2 share churn-ok-py311's env (scikit-learn 1.5.2, numpy
1.26.4, pandas 2.2.2 on Python 3.11).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

import envcheck
from envcheck.model.findings import PackageReport, Severity, Status

PROBA = FIXTURES / "packages" / "churn-proba-columns"
LABELS = FIXTURES / "packages" / "churn-labels-as-float"
NUMPY2 = FIXTURES / "packages" / "churn-numpy2"
PIPELINE = FIXTURES / "packages" / "churn-pipeline-joblib"


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envcheck", *args], capture_output=True,
                          text=True, timeout=900,
                          env={**os.environ, "ENVCHECK_CACHE_DIR": str(cache),
                               "NO_COLOR": "1"})


def only(findings: list, severity: Severity) -> Any:
    chosen = [f for f in findings if f.severity is severity]
    assert len(chosen) == 1, [f.message for f in findings]
    return chosen[0]


def verdict(package: PackageReport, check_id: str, status: Status, severity: Severity) -> Any:
    """The one finding of ``severity`` of a check that must have ``status``."""
    check = package.check(check_id)
    assert check is not None and check.status is status, (check_id, check)
    return only(check.findings, severity)


@pytest.mark.slow
def test_two_probability_columns_under_one_output_warn_and_fail_under_strict(
        envcheck_cache: Path) -> None:
    report = envcheck.check(PROBA, cache_dir=envcheck_cache)
    package = report.packages[0]
    finding = verdict(package, "predict.schema", Status.WARN, Severity.WARNING)
    assert finding.message == (
        "predict() returns 2 value(s) per row, metadata.yaml declares 1 output(s) "
        "['churn_probability']: these are the two probability columns of a binary "
        "classifier (predict_proba): declare both outputs in metadata.yaml, or return "
        "predict_proba(X)[:, 1] for churn_probability (the metadata does not describe the "
        "model; --strict fails this)")
    assert finding.details["width"] == 2 and finding.details["mismatch"] == "documentation"
    assert package.status is Status.PASS and report.exit_code == 0  # a warning only

    strict = envcheck.check(PROBA, cache_dir=envcheck_cache, strict=True)
    assert verdict(strict.packages[0], "predict.schema", Status.FAIL,
                   Severity.ERROR).message == finding.message
    assert strict.exit_code == 1


@pytest.mark.slow
def test_class_labels_where_a_float_is_declared(envcheck_cache: Path) -> None:
    proc = run_cli("check", str(LABELS), cache=envcheck_cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("WARN   predict.schema        metadata.yaml declares output 'churn_probability' "
            "as float, predict() returned int64: these look like class labels (0, 1): "
            "return predict_proba(X)[:, 1] for a probability, or declare churn_probability "
            "as int (or categorical) (--strict fails this)") in proc.stdout
    strict = run_cli("check", "--strict", "--format", "json", str(LABELS), cache=envcheck_cache)
    assert strict.returncode == 1
    checks = {c["id"]: c for c in json.loads(strict.stdout)["packages"][0]["checks"]}
    schema = checks["predict.schema"]
    assert schema["status"] == "fail"
    # (besides an info: the wrapper's estimator sees one-hot columns, not the raw features)
    [finding] = [f for f in schema["findings"] if f["severity"] != "info"]
    assert finding["severity"] == "error"
    assert finding["details"] == {
        "output": "churn_probability", "type": "float", "dtype": "int64",
        "mismatch": "documentation", "hint": finding["details"]["hint"]}
    assert "class labels (0, 1)" in finding["details"]["hint"]


@pytest.mark.slow
def test_load_line_says_what_its_time_includes(envcheck_cache: Path) -> None:
    package = envcheck.check(PROBA, cache_dir=envcheck_cache).packages[0]
    load, warnings = package.check("load"), package.check("load.warnings")
    assert load.status is Status.PASS
    match = re.fullmatch(r"loaded interface\.ChurnModel in (\d+\.\d\d) s \(import (\d+\.\d\d) "
                         r"s \+ load_model\(\) (\d+\.\d\d) s\), peak memory \d+ MB",
                         load.findings[0].message)
    assert match, load.findings[0].message
    total, imported, loaded = (float(g) for g in match.groups())
    assert abs(total - (imported + loaded)) <= 0.011
    # load.warnings watches the same window (import + load_model()): never longer.
    assert warnings.duration_s == load.duration_s
    assert abs(load.duration_s - total) <= 0.006


@pytest.mark.slow
def test_numpy2_pickle_under_numpy_1_24_is_explained_by_versions(envcheck_cache: Path) -> None:
    package = envcheck.check(NUMPY2, cache_dir=envcheck_cache).packages[0]
    assert package.environment["packages"]["numpy"] == "1.24.4"
    finding = verdict(package, "load", Status.FAIL, Severity.ERROR)
    assert finding.message == (
        "load_model() failed: model.pkl was written by numpy 2.x (it needs numpy._core) but "
        "the environment has numpy 1.24.4, which cannot read it: pin numpy 2.x (or >= "
        "1.26.1, which reads numpy 2 pickles) in requirements.txt, or re-save the model "
        "under numpy 1.24.4")
    assert "add numpy to requirements.txt" not in finding.message
    assert finding.details["cause"] == {"library": "numpy", "pickled_with": "2.x",
                                        "loaded_with": "1.24.4", "signature": "numpy._core"}
    assert finding.details["missing_module"] == "numpy._core"  # the old fields stay
    assert verdict(package, "pickle.versions", Status.FAIL, Severity.ERROR).message == (
        "model.pkl: written by numpy 2.x (numpy._core globals) but requirements.txt declares "
        "numpy==1.24.4, which cannot read it")


@pytest.mark.slow
def test_one_downgrade_under_a_pipeline_is_one_finding_per_check(envcheck_cache: Path) -> None:
    proc = run_cli("check", "--format", "json", str(PIPELINE), cache=envcheck_cache)
    assert proc.returncode == 1
    checks = {c["id"]: c for c in json.loads(proc.stdout)["packages"][0]["checks"]}
    versions = checks["pickle.versions"]
    assert versions["status"] == "fail" and len(versions["findings"]) == 1
    finding = versions["findings"][0]
    assert finding["message"] == (
        "model.joblib: 6 estimators (ColumnTransformer, DecisionTreeClassifier x6, "
        "OneHotEncoder x2, Pipeline, RandomForestClassifier, StandardScaler x2) were pickled "
        "with scikit-learn 1.3.2 but requirements.txt declares scikit-learn==1.5.2")
    assert [o["estimator"] for o in finding["details"]["objects"]] == [
        "ColumnTransformer", "DecisionTreeClassifier", "OneHotEncoder", "Pipeline",
        "RandomForestClassifier", "StandardScaler"]
    assert (finding["details"]["pickled_with"], finding["details"]["declared"],
            finding["details"]["count"]) == ("1.3.2", "1.5.2", 13)

    warnings = checks["load.warnings"]
    assert warnings["status"] == "fail" and len(warnings["findings"]) == 1
    message = warnings["findings"][0]["message"]
    assert message.startswith("6 estimators (")
    assert message.endswith(") were pickled with scikit-learn 1.3.2 but loaded with 1.5.2: pin "
                            "scikit-learn==1.3.2 in requirements.txt, or re-train and pickle "
                            "with 1.5.2")
    assert message.count("pin scikit-learn") == 1  # the advice once
    objects = {o["estimator"]: o["count"] for o in warnings["findings"][0]["details"]["objects"]}
    assert objects["DecisionTreeClassifier"] == 6 and objects["Pipeline"] == 1

    # The break that follows (trees pickled before 1.4 lack monotonic_cst), in versions.
    smoke = checks["predict.smoke"]
    assert smoke["status"] == "fail"
    assert smoke["findings"][-1]["message"] == (
        "predict() failed: DecisionTreeClassifier was pickled with scikit-learn 1.3.2 and "
        "lacks attribute 'monotonic_cst' that scikit-learn 1.5.2 installed here expects "
        "(trees read it since scikit-learn 1.4); pin scikit-learn==1.3.2 in "
        "requirements.txt, or re-train and pickle with 1.5.2")

    text = run_cli("check", str(PIPELINE), cache=envcheck_cache).stdout
    line = next(t for t in text.splitlines() if "pickle.versions" in t)
    assert line.startswith("  FAIL   pickle.versions       model.joblib: 6 estimators (")
    assert text.count("pickled with scikit-learn 1.3.2 but") == 2  # one line each, not 6 + 6
    assert "         - " not in text  # no check lists findings under its verdict line


@pytest.mark.slow
def test_numpy2_pickle_loads_under_numpy_1_26_4(envcheck_cache: Path, tmp_path: Path) -> None:
    """numpy 1.26.1+ ships a numpy._core shim: the same pickle loads, and pickle.versions
    does not claim otherwise (the env is churn-ok-py311's)."""
    pkg = tmp_path / "churn-numpy2-on-1.26.4"
    shutil.copytree(NUMPY2, pkg)
    (pkg / "requirements.txt").write_text(
        "scikit-learn==1.5.2\nnumpy==1.26.4\npandas==2.2.2\n")
    package = envcheck.check(pkg, cache_dir=envcheck_cache).packages[0]
    assert package.check("pickle.versions").status is Status.PASS
    assert package.check("load").status is Status.PASS
    assert package.status is Status.PASS


@pytest.mark.slow
def test_record_explains_a_numpy2_pickle_in_versions_too(envcheck_cache: Path,
                                                         tmp_path: Path) -> None:
    pkg = tmp_path / "churn-numpy2"
    shutil.copytree(NUMPY2, pkg)
    proc = run_cli("record", str(pkg), cache=envcheck_cache)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("cannot record: load_model() failed: model.pkl was written by numpy 2.x (it needs "
            "numpy._core) but the environment has numpy 1.24.4, which cannot read it") \
        in proc.stderr
    assert not (pkg / "reference").exists()
