"""pickle.versions grouped by cause (envcheck/inspect/version_groups.py): one finding per
(scikit-learn, recorded version, declared or installed version), listing the objects."""

from __future__ import annotations

from pathlib import Path

from conftest import FIXTURES

import envcheck
from envcheck.inspect.version_groups import group_by_cause, objects_text
from envcheck.model.findings import Severity, Status, error, info, warning

PIPELINE = FIXTURES / "packages" / "churn-pipeline-joblib"
SEED = FIXTURES / "packages" / "churn-sklearn-0.24.2"


def declared(estimator: str, version: str, pin: str, file: str = "model.pkl", count: int = 1):
    return error(f"{file}: {estimator} was pickled with scikit-learn {version} but "
                 f"requirements.txt declares scikit-learn=={pin}", file=file,
                 details={"estimator": estimator, "pickled_with": version, "declared": pin,
                          "file": file, "count": count})


def test_one_finding_per_cause_with_the_objects_listed() -> None:
    findings = group_by_cause([
        declared("Pipeline", "1.3.2", "1.5.2"), declared("StandardScaler", "1.3.2", "1.5.2",
                                                         count=2),
        declared("Old", "0.24.2", "1.5.2", file="old.pkl"),
        info("unrelated"),
        declared("LogisticRegression", "1.3.2", "1.5.2", file="other.pkl")])
    assert [f.message for f in findings] == [
        "model.pkl, other.pkl: 3 estimators (Pipeline, StandardScaler x2, LogisticRegression) "
        "were pickled with scikit-learn 1.3.2 but requirements.txt declares "
        "scikit-learn==1.5.2",
        "old.pkl: Old was pickled with scikit-learn 0.24.2 but requirements.txt declares "
        "scikit-learn==1.5.2",
        "unrelated"]
    grouped = findings[0]
    assert grouped.details["objects"] == [
        {"estimator": "Pipeline", "count": 1, "file": "model.pkl"},
        {"estimator": "StandardScaler", "count": 2, "file": "model.pkl"},
        {"estimator": "LogisticRegression", "count": 1, "file": "other.pkl"}]
    assert grouped.details["count"] == 4 and grouped.details["files"] == ["model.pkl",
                                                                         "other.pkl"]
    assert grouped.details["pickled_with"] == "1.3.2" and grouped.details["declared"] == "1.5.2"
    assert findings[1].details["objects"] == [{"estimator": "Old", "count": 1,
                                               "file": "old.pkl"}]


def test_unpinned_and_installed_causes_keep_their_own_advice() -> None:
    unpinned = [warning("x", file="m.pkl", details={"estimator": name, "pickled_with": "1.3.2",
                                                    "declared": None, "file": "m.pkl"})
                for name in ("A", "B")]
    (finding,) = group_by_cause(unpinned)
    assert finding.severity is Severity.WARNING
    assert finding.message == ("m.pkl: 2 estimators (A, B) were pickled with scikit-learn "
                               "1.3.2, but requirements.txt does not pin scikit-learn: the "
                               "pickled version cannot be compared")
    installed = [error("x", file="m.pkl", details={"estimator": name, "pickled_with": "1.3.2",
                                                   "loaded_with": "1.6.1", "file": "m.pkl"})
                 for name in ("A", "B")]
    (finding,) = group_by_cause(installed)
    assert finding.message == ("m.pkl: 2 estimators (A, B) were pickled with scikit-learn "
                               "1.3.2 but the environment has scikit-learn 1.6.1 installed: "
                               "pin scikit-learn==1.3.2, or re-train with 1.6.1")


def test_objects_text() -> None:
    assert objects_text([("Pipeline", 1), ("DecisionTreeClassifier", 6)]) == \
        "Pipeline, DecisionTreeClassifier x6"


def test_static_check_of_a_pipeline_says_it_once(tmp_path: Path) -> None:
    package = envcheck.check(PIPELINE, static=True, cache_dir=tmp_path).packages[0]
    versions = package.check("pickle.versions")
    assert versions.status is Status.FAIL
    (finding,) = versions.findings
    assert finding.message.startswith("model.joblib: 6 estimators (ColumnTransformer, "
                                      "DecisionTreeClassifier x6, OneHotEncoder x2, Pipeline, ")
    assert finding.file == "model.joblib"
    # A single estimator reads as before.
    seed = envcheck.check(SEED, static=True, cache_dir=tmp_path).packages[0]
    (single,) = seed.check("pickle.versions").findings
    assert single.message == ("model.pkl: LogisticRegression was pickled with scikit-learn "
                              "0.24.2 but requirements.txt declares scikit-learn==1.2.2")
    assert single.details["estimator"] == "LogisticRegression"
