"""BentoML fixtures checked end to end: real environments built from what the entry or the
bento declares (the bento's lock installs bentoml itself), the saved model loaded with
joblib in the sandbox -- never through bentoml -- and real predictions."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES

import envcheck
from envcheck.model.findings import Severity, Status

BENTOML = FIXTURES / "bentoml"
SAVED = ("LogisticRegression", "1.5.2", "1.6.1")


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(root.rglob("*"))}


def statuses(package: object) -> dict[str, str]:
    return {c.id: c.status.value for c in package.checks}  # type: ignore[attr-defined]


def loaded_versions(package: object) -> set[tuple[str, str, str]]:
    warned = package.check("load.warnings")  # type: ignore[attr-defined]
    # one finding per cause (issue 15): every estimator of it under details.objects
    return {(o["estimator"], f.details["pickled_with"], f.details["loaded_with"])
            for f in warned.findings if f.severity is Severity.ERROR
            for o in f.details["objects"]}


@pytest.mark.slow
def test_store_entry_with_synthesized_env_records_and_passes(envcheck_cache: Path,
                                                             tmp_path: Path) -> None:
    entry = tmp_path / "churn"
    entry.mkdir()
    for name in ("model.yaml", "saved_model.pkl"):
        shutil.copyfile(BENTOML / "store-match" / name, entry / name)
    inputs = tmp_path / "rows.csv"
    inputs.write_text("tenure,monthly_charges,num_tickets\n1.5,20.0,0\n40.0,80.5,4\n"
                      "70.2,110.0,1\n", encoding="utf-8")
    summary = envcheck.record(entry, inputs=inputs, cache_dir=envcheck_cache)
    assert summary.startswith("recorded reference/ for churn: 3 input rows (rows.csv)")
    report = envcheck.check(entry, cache_dir=envcheck_cache)
    package = report.packages[0]
    assert report.exit_code == 0, statuses(package)
    assert package.environment["packages"]["scikit-learn"] == "1.5.2"
    assert "bentoml" not in package.environment["packages"]
    assert package.check("package.layout").status is Status.WARN  # the synthesized env
    assert package.check("load").findings[0].message.startswith(
        "loaded sklearn.pipeline.Pipeline in ")
    smoke = package.check("predict.smoke")
    assert smoke.status is Status.PASS
    assert smoke.findings[0].message.startswith("3 predicted values match reference/outputs.json")


@pytest.mark.slow
def test_picklable_model_loads_with_cloudpickle(envcheck_cache: Path, tmp_path: Path) -> None:
    entry = tmp_path / "store-picklable"
    shutil.copytree(BENTOML / "store-picklable", entry)
    inputs = tmp_path / "rows.json"
    inputs.write_text('{"columns": ["tenure", "monthly_charges", "num_tickets"], '
                      '"data": [[1.5, 20.0, 0], [70.2, 110.0, 1]]}', encoding="utf-8")
    envcheck.record(entry, inputs=inputs, cache_dir=envcheck_cache)
    report = envcheck.check(entry, cache_dir=envcheck_cache)
    package = report.packages[0]
    assert report.exit_code == 0, statuses(package)
    assert package.check("load").findings[0].message.startswith(
        "loaded sklearn.pipeline.Pipeline in ")
    assert package.check("predict.smoke").status is Status.PASS
    # The context says another cloudpickle than the one installed (the same env): the
    # loader says so after loading, naming both versions.
    recorded = package.environment["packages"]["cloudpickle"]
    text = (entry / "model.yaml").read_text(encoding="utf-8")
    (entry / "model.yaml").write_text(text.replace(f"cloudpickle: {recorded}",
                                                   "cloudpickle: 3.0.0"), encoding="utf-8")
    package = envcheck.check(entry, cache_dir=envcheck_cache).packages[0]
    warned = package.check("load.warnings")
    assert warned.status is Status.WARN
    assert any("RecordedVersionWarning" in f.message and
               f"model.yaml context.framework_versions records cloudpickle 3.0.0 (the model "
               f"was saved with it) but cloudpickle {recorded} is installed" in f.message
               for f in warned.findings), warned.findings
    assert package.check("pickle.versions").status is Status.FAIL  # against the pin, statically


@pytest.mark.slow
def test_store_entry_mismatch_fails_naming_both_versions(envcheck_cache: Path,
                                                         tmp_path: Path) -> None:
    entry = tmp_path / "store-mismatch"
    shutil.copytree(BENTOML / "store-mismatch", entry)
    report = envcheck.check(entry, cache_dir=envcheck_cache)
    package = report.packages[0]
    assert report.exit_code == 1
    assert package.environment["packages"]["scikit-learn"] == "1.6.1"
    assert package.check("load").status is Status.PASS
    assert package.check("load.warnings").status is Status.FAIL
    assert SAVED in loaded_versions(package)
    versions = package.check("pickle.versions")
    assert versions.status is Status.FAIL
    assert any(f.message.startswith("model.yaml records scikit-learn 1.5.2 in "
                                    "context.framework_versions") and
               "pins scikit-learn==1.6.1" in f.message for f in versions.findings)


@pytest.mark.slow
def test_bento_builds_its_own_env_and_passes(envcheck_cache: Path) -> None:
    bento = BENTOML / "bento-match"
    before = tree_digest(bento)
    report = envcheck.check(bento, cache_dir=envcheck_cache)
    package = report.packages[0]
    assert report.exit_code == 0, statuses(package)
    installed = package.environment["packages"]
    assert (installed["scikit-learn"], installed["bentoml"]) == ("1.5.2", "1.4.40")
    assert package.environment["python"].startswith("3.11.")
    for check_id in ("load", "load.warnings", "predict.schema", "predict.determinism"):
        assert package.check(check_id).status is Status.PASS, check_id
    # Smoke inputs from bento.yaml's API schema: three named columns.
    assert package.check("predict.schema").findings[0].message == \
        "3 input column(s) match bento.yaml input_features"
    assert tree_digest(bento) == before


@pytest.mark.slow
def test_bento_mismatch_fails_naming_both_versions(envcheck_cache: Path) -> None:
    report = envcheck.check(BENTOML / "bento-mismatch", cache_dir=envcheck_cache)
    package = report.packages[0]
    assert report.exit_code == 1
    assert package.environment["packages"]["scikit-learn"] == "1.6.1"
    assert SAVED in loaded_versions(package)
    versions = package.check("pickle.versions")
    assert versions.status is Status.FAIL
    assert any("records scikit-learn 1.5.2 in context.framework_versions" in f.message and
               "env/python/requirements.txt pins scikit-learn==1.6.1" in f.message
               for f in versions.findings)
