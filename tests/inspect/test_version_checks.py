"""envcheck.inspect.version_checks: versions recorded by non-pickle artifacts, against the
pins and the installed env -- one real file per format, both versions named."""

from __future__ import annotations

from pathlib import Path

import pytest

from envcheck.inspect.artifacts import inspect_artifact
from envcheck.inspect.version_checks import check_versions, installed_version_findings
from envcheck.model.findings import Severity, Status
from envcheck.model.package import ModelPackage

BENIGN = Path(__file__).resolve().parents[2] / "fixtures" / "formats" / "benign"


def _pkg(pins: dict[str, str]) -> ModelPackage:
    return ModelPackage(root=BENIGN, metadata_path=BENIGN / "metadata.yaml",
                        requirements_path=BENIGN / "requirements.txt",
                        interface_path=BENIGN / "interface.py", pins=pins, metadata={})


MISMATCHES = [
    ("xgboost_model.json", {"xgboost": "2.0.3"},
     "xgboost_model.json: the xgboost model was written by xgboost 3.2.0, but "
     "requirements.txt declares xgboost==2.0.3"),
    ("xgboost_model.ubj", {"xgboost": "1.7.6"},
     "xgboost_model.ubj: the xgboost model was written by xgboost 3.2.0, but "
     "requirements.txt declares xgboost==1.7.6"),
    ("lightgbm_model.txt", {"lightgbm": "3.3.5"},
     "lightgbm_model.txt: the LightGBM model (format v4) was written by lightgbm 4.0 or "
     "later, but requirements.txt declares lightgbm==3.3.5"),
    ("pipeline.skops", {"skops": "0.9.0"},
     "pipeline.skops!schema.json: the skops file was written by skops 0.16.0, but "
     "requirements.txt declares skops==0.9.0"),
    ("pipeline.skops", {"scikit-learn": "1.5.2"},
     # one finding per cause (issue 15), naming every estimator of the schema
     "pipeline.skops!schema.json: 3 estimators (LogisticRegression, Pipeline, StandardScaler) "
     "were pickled with scikit-learn 1.9.1 but requirements.txt declares scikit-learn==1.5.2"),
    ("pipeline.onnx", {"onnxruntime": "1.14.1"},
     "pipeline.onnx: the ONNX model (ir=10, ai.onnx=9, ai.onnx.ml=1, by skl2onnx 1.20.0) "
     "cannot run where requirements.txt declares onnxruntime==1.14.1: it needs IR version "
     "10, and onnxruntime 1.14 supports up to 8"),
    ("model.keras", {"keras": "3.3.3"},
     "model.keras!metadata.json: the Keras model was written by keras 3.6.0, but "
     "requirements.txt declares keras==3.3.3"),
    ("hf-model/config.json", {"transformers": "4.30.0"},
     "hf-model/config.json: the Hugging Face config was written by transformers 4.44.2, "
     "but requirements.txt declares transformers==4.30.0"),
]


@pytest.mark.parametrize("name, pins, message", MISMATCHES, ids=[m[0] + "-" + next(iter(m[1]))
                                                                 for m in MISMATCHES])
def test_a_pin_that_cannot_read_the_artifact_fails_naming_both(name: str, pins: dict,
                                                               message: str) -> None:
    check = check_versions(_pkg(pins), inspect_artifact(BENIGN / name), None)
    assert check.id == "pickle.versions" and check.status is Status.FAIL
    assert any(f.message.startswith(message) and f.severity is Severity.ERROR
               for f in check.findings), [f.message for f in check.findings]


@pytest.mark.parametrize("name, pins", [
    ("xgboost_model.json", {"xgboost": "3.2.0"}),
    ("xgboost_model.json", {"xgboost": "3.3.1"}),  # xgboost reads older models
    ("lightgbm_model.txt", {"lightgbm": "4.6.0"}),
    ("pipeline.onnx", {"onnxruntime": "1.18.0"}),
    ("pipeline.skops", {"skops": "0.16.0", "scikit-learn": "1.9.1"}),
    ("model.keras", {"keras": "3.6.0"}),
    ("model.safetensors", {"safetensors": "0.1.0"}),  # records no version
])
def test_a_pin_that_can_read_it_passes(name: str, pins: dict) -> None:
    check = check_versions(_pkg(pins), inspect_artifact(BENIGN / name), None)
    assert check.status is Status.PASS, [f.message for f in check.findings]


def test_the_installed_version_is_judged_when_unpinned() -> None:
    inspections = inspect_artifact(BENIGN / "xgboost_model.json") + inspect_artifact(
        BENIGN / "pipeline.onnx")
    findings = installed_version_findings(_pkg({}), inspections,
                                          {"xgboost": "2.1.4", "onnxruntime": "1.16.3"})
    assert [f.message for f in findings] == [
        "xgboost_model.json: the xgboost model was written by xgboost 3.2.0, but the "
        "environment has xgboost 2.1.4 installed: an older version, which cannot be "
        "relied on to read it",
        "pipeline.onnx: the ONNX model (ir=10, ai.onnx=9, ai.onnx.ml=1, by skl2onnx 1.20.0) "
        "cannot run where the environment has onnxruntime 1.16.3 installed: it needs IR "
        "version 10, and onnxruntime 1.16 supports up to 9"]
    assert findings[0].details["source"] == "envcheck (installed dist-info)"


def test_a_pin_judged_statically_is_not_reported_again_once_installed() -> None:
    inspections = inspect_artifact(BENIGN / "xgboost_model.json")
    assert installed_version_findings(_pkg({"xgboost": "2.1.4"}), inspections,
                                      {"xgboost": "2.1.4"}) == []
    # ... but a pin the installer did not honour is
    found = installed_version_findings(_pkg({"xgboost": "3.2.0"}), inspections,
                                       {"xgboost": "2.1.4"})
    assert len(found) == 1 and "xgboost 2.1.4 installed" in found[0].message
