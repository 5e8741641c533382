"""Known cross-version load/predict failures explained by versions
(envcheck/probe/signatures.py): the facts come from real pickles, read statically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

from envcheck.inspect.pickles import inspect_pickle
from envcheck.probe.result import ProbeResult
from envcheck.probe.signatures import VersionFacts, explain, facts_from

PACKAGES = FIXTURES / "packages"


def failed(exception_type: str, message: str, **kwargs: Any) -> ProbeResult:
    return ProbeResult(kind="exception", stage="load", exception_type=exception_type,
                       message=f"{exception_type}: {message}", **kwargs)


def facts(package: str, artifact: str, **installed: str) -> VersionFacts:
    path = PACKAGES / package / artifact
    return facts_from([inspect_pickle(path)], {k.replace("_", "-"): v
                                               for k, v in installed.items()},
                      lambda p: Path(p).name)


def test_facts_from_real_pickles() -> None:
    numpy2 = facts("churn-numpy2", "model.pkl", numpy="1.24.4")
    assert numpy2.numpy2_files == ("model.pkl",)
    assert numpy2.sklearn_recorded == ("1.5.2",)
    pipeline = facts("churn-pipeline-joblib", "model.joblib", scikit_learn="1.5.2")
    assert pipeline.numpy2_files == () and pipeline.sklearn_recorded == ("1.3.2",)
    assert "DecisionTreeClassifier" in pipeline.sklearn_estimators


@pytest.mark.parametrize("installed, explained", [("1.24.4", True), ("1.26.0", True),
                                                   ("1.26.1", False), ("2.0.2", False)])
def test_numpy_core_is_explained_only_where_numpy_cannot_read_numpy2(
        installed: str, explained: bool) -> None:
    result = failed("ModuleNotFoundError", "No module named 'numpy._core'",
                    missing_module="numpy._core")
    explanation = explain(result, facts("churn-numpy2", "model.pkl", numpy=installed))
    assert (explanation is not None) is explained
    if explanation is not None:
        assert explanation.message.startswith(
            f"model.pkl was written by numpy 2.x (it needs numpy._core) but the environment "
            f"has numpy {installed}, which cannot read it: pin numpy 2.x")


def test_a_renamed_sklearn_private_module() -> None:
    result = failed("ModuleNotFoundError", "No module named 'sklearn.ensemble.forest'",
                    missing_module="sklearn.ensemble.forest")
    explanation = explain(result, VersionFacts({"scikit-learn": "1.2.2"}, ("0.21.3",),
                                               ("RandomForestClassifier",)))
    assert explanation is not None
    assert explanation.message == (
        "the pickle needs module 'sklearn.ensemble.forest', which scikit-learn 1.2.2 "
        "installed here does not have: a private module of the scikit-learn that wrote it "
        "(0.21.3), renamed or removed between versions; pin scikit-learn==0.21.3 in "
        "requirements.txt, or re-train and pickle with 1.2.2")
    assert explanation.details["signature"] == "sklearn private module"
    old = explain(failed("ModuleNotFoundError", "No module named 'sklearn.utils._joblib'",
                         missing_module="sklearn.utils._joblib"),
                  VersionFacts({"scikit-learn": "1.2.2"}, ("pre-0.18",)))
    assert old is not None and "(a release older than 0.18 (it records no version))" in \
        old.message


def test_pandas_internals() -> None:
    pandas = VersionFacts({"pandas": "1.5.3"})
    block = explain(failed("AttributeError", "Can't get attribute '_unpickle_block' on "
                           "<module 'pandas._libs.internals' from '/x.so'>"), pandas)
    assert block is not None and block.message.startswith(
        "the pickle needs pandas internal 'pandas._libs.internals._unpickle_block', which "
        "exists only in newer pandas (2.x pickles call it), but the environment has pandas "
        "1.5.3")
    numeric = explain(failed("ModuleNotFoundError", "No module named "
                             "'pandas.core.indexes.numeric'",
                             missing_module="pandas.core.indexes.numeric"),
                      VersionFacts({"pandas": "2.2.2"}))
    assert numeric is not None and "exists only in pandas < 2.0" in numeric.message


def test_an_attribute_the_installed_estimator_expects() -> None:
    pipeline = facts("churn-pipeline-joblib", "model.joblib", scikit_learn="1.5.2")
    result = failed("AttributeError", "'SimpleImputer' object has no attribute '_fill_dtype'")
    explanation = explain(result, pipeline)
    assert explanation is not None and explanation.message.startswith(
        "SimpleImputer was pickled with scikit-learn 1.3.2 and lacks attribute '_fill_dtype' "
        "that scikit-learn 1.5.2 installed here expects (SimpleImputer reads it in newer "
        "scikit-learn)")
    same = facts("churn-pipeline-joblib", "model.joblib", scikit_learn="1.3.2")
    assert explain(result, same) is None  # same version: not a version problem


def test_unknown_failures_and_missing_facts_are_not_explained() -> None:
    result = failed("ValueError", "bad things")
    assert explain(result, VersionFacts({"numpy": "1.24.4"})) is None
    numpy_core = failed("ModuleNotFoundError", "No module named 'numpy._core'",
                        missing_module="numpy._core")
    assert explain(numpy_core, None) is None
    assert explain(numpy_core, VersionFacts({})) is None  # numpy not even installed


def test_a_missing_module_of_an_installed_distribution_is_not_missing_from_requirements(
        tmp_path: Path) -> None:
    from envcheck.model.package import ModelPackage
    from envcheck.probe.checks import check_load

    for name in ("metadata.yaml", "requirements.txt", "interface.py"):
        (tmp_path / name).write_text("")
    pkg = ModelPackage(root=tmp_path, metadata_path=tmp_path / "metadata.yaml",
                       requirements_path=tmp_path / "requirements.txt",
                       interface_path=tmp_path / "interface.py", artifacts=[],
                       metadata={}, metadata_ok=True, requirements_ok=True)
    result = failed("ModuleNotFoundError", "No module named 'pandas.core.frobnicate'",
                    missing_module="pandas.core.frobnicate")
    (finding,) = check_load(pkg, result, VersionFacts({"pandas": "2.2.2"})).findings
    assert finding.message == (
        "load_model() needs module 'pandas.core.frobnicate', which pandas 2.2.2 installed in "
        "the package's environment does not have: the module belongs to another version of it")
    (unknown,) = check_load(pkg, result, VersionFacts({})).findings
    assert unknown.message.endswith("which is not installed in the package's environment: "
                                    "add pandas to requirements.txt")
