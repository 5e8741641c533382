"""MLflow model directories (fixtures/mlflow/, written by a real mlflow.sklearn.save_model)
read and checked like native packages.

Note: ``mlflow models predict`` on churn-mismatch serves the model and exits 0 (the
scikit-learn version mismatch is only a logged warning); envcheck must exit 1 on it.  The
mlflow CLI is not run here: mlflow is never installed in envcheck's own environment.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES

import envcheck
from envcheck.compare.inputs import InputsError, example_inputs
from envcheck.inspect.pickles import is_pickle_artifact
from envcheck.model.findings import Status
from envcheck.model.options import Options
from envcheck.read.formats import read_package
from envcheck.read.mlflow_package import MlflowModelPackage

MLFLOW = FIXTURES / "mlflow"
SKOPS = MLFLOW / "churn-skops"
PICKLE = MLFLOW / "churn-pickle"
MISMATCH = MLFLOW / "churn-mismatch"
HGB = MLFLOW / "churn-hgb-untrusted"
TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
FEATURES = [{"name": "tenure", "type": "float"}, {"name": "monthly_charges", "type": "float"},
            {"name": "num_tickets", "type": "int"}]


def read(path: Path, **options: object):
    pkg, results = read_package(path, Options(**options))  # type: ignore[arg-type]
    return pkg, {r.id: r for r in results}


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(root.rglob("*"))}


def copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    return dest


# --------------------------------------------------------------------------- static

@pytest.mark.parametrize("fixture,fmt,artifact", [(SKOPS, "skops", "model.skops"),
                                                  (PICKLE, "cloudpickle", "model.pkl"),
                                                  (MISMATCH, "skops", "model.skops")])
def test_fixture_read_like_a_package(fixture: Path, fmt: str, artifact: str) -> None:
    pkg, results = read(fixture)
    assert isinstance(pkg, MlflowModelPackage)
    assert list(results) == ["package.layout", "metadata.schema", "package.settings",
                             "requirements.parse",
                             "requirements.pinned", "interface.contract"]
    assert results["package.layout"].status is Status.PASS
    assert results["metadata.schema"].status is Status.PASS
    assert results["interface.contract"].status is Status.PASS
    assert pkg.flavor == "sklearn" and pkg.serialization_format == fmt
    assert pkg.sklearn_version == "1.5.2"
    assert [p.name for p in pkg.artifacts] == [artifact]
    assert is_pickle_artifact(pkg.artifacts[0]) is (fmt != "skops")
    # Metadata synthesized from MLmodel: signature -> features, python_env.yaml -> python.
    assert pkg.name == "churn-model"
    assert pkg.metadata["input_features"] == FEATURES
    assert pkg.metadata["output"] == [{"name": "prediction", "type": "int"}]
    assert pkg.python_version == "3.11.7"
    assert pkg.metadata_path == fixture.resolve() / "MLmodel"
    assert pkg.requirements_ok and pkg.requirements_path.name == "requirements.txt"
    assert "mlflow==3.17.2" in pkg.requirement_lines
    assert pkg.pins["pandas"] == "2.2.3"
    assert pkg.smoke_inputs_path == fixture.resolve() / "input_example.json"
    # The generated loader lives outside the package.
    assert pkg.interface_path.is_file()
    assert fixture.resolve() not in pkg.interface_path.parents
    source = pkg.interface_path.read_text()
    assert f"FORMAT = {fmt!r}" in source and "RECORDED_SKLEARN = '1.5.2'" in source


def test_pins_of_each_fixture() -> None:
    assert read(SKOPS)[0].pins["scikit-learn"] == "1.5.2"
    assert "skops" in read(SKOPS)[0].pins and "cloudpickle" not in read(SKOPS)[0].pins
    assert read(PICKLE)[0].pins["cloudpickle"] == "3.1.1"
    assert read(MISMATCH)[0].pins["scikit-learn"] == "1.6.1"


def test_recorded_version_mismatch_found_statically(tmp_path: Path) -> None:
    pkg, results = read(MISMATCH)
    assert results["requirements.pinned"].status is Status.PASS  # pinned, just not to 1.5.2
    [finding] = pkg.version_findings
    # The pipeline reports it under pickle.versions, even with --static.
    report = envcheck.check(MISMATCH, static=True, cache_dir=tmp_path)
    versions = report.packages[0].check("pickle.versions")
    assert versions.status is Status.FAIL and versions.findings[-1] == finding
    # ... beside what model.skops records itself: each estimator's _sklearn_version, one
    # finding for the one cause
    assert [f.message for f in versions.findings[:-1]] == [
        "model.skops!schema.json: 3 estimators (LogisticRegression, Pipeline, StandardScaler) "
        "were pickled with scikit-learn 1.5.2 but requirements.txt declares scikit-learn==1.6.1"]
    assert finding.details == {"library": "scikit-learn", "recorded": "1.5.2",
                               "pinned": "1.6.1", "recorded_in": "MLmodel"}
    assert "1.5.2" in finding.message and "scikit-learn==1.6.1" in finding.message
    assert (finding.file, finding.line) == ("requirements.txt", 3)
    assert read(SKOPS)[0].version_findings == []


def test_model_trusting_its_own_skops_types_is_a_warning() -> None:
    pkg, results = read(HGB)
    assert pkg.trusted_by_model == [TREE_PREDICTOR]
    contract = results["interface.contract"]
    assert contract.status is Status.WARN
    [finding] = [f for f in contract.findings if f.severity.value == "warning"]
    assert TREE_PREDICTOR in finding.message and "--trust-pickle" in finding.message
    assert (finding.file, finding.line) == ("MLmodel", 15)


def test_trust_pickle_is_baked_into_the_loader() -> None:
    pkg, _ = read(HGB, trust_pickle=[TREE_PREDICTOR.rsplit(".", 1)[0] + ":TreePredictor"])
    assert f"TRUSTED_BY_USER = [{TREE_PREDICTOR!r}]" in pkg.interface_path.read_text()


def test_input_example_and_serving_example(tmp_path: Path) -> None:
    pkg, _ = read(SKOPS)
    inputs = example_inputs(pkg)
    assert inputs["columns"] == ["tenure", "monthly_charges", "num_tickets"]
    assert inputs["dtypes"] == {"tenure": "float64", "monthly_charges": "float64",
                                "num_tickets": "int64"}
    assert len(inputs["data"]) == 4 and inputs["source"] == "input_example.json"
    # Only the serving form ({"dataframe_split": ...}) left: still used.
    copied = copy(SKOPS, tmp_path)
    (copied / "input_example.json").unlink()
    pkg, _ = read(copied)
    served = example_inputs(pkg)
    assert served["source"] == "serving_input_example.json"
    assert served["data"] == inputs["data"]
    # An example whose columns do not match the signature is an error naming the file.
    (copied / "serving_input_example.json").write_text(json.dumps(
        {"dataframe_split": {"columns": ["tenure"], "data": [[1.0]]}}))
    with pytest.raises(InputsError, match="serving_input_example.json.*missing monthly_charges"):
        example_inputs(read(copied)[0])


def test_native_package_is_not_affected() -> None:
    pkg, _ = read(FIXTURES / "packages" / "churn-ok-py311")
    assert not isinstance(pkg, MlflowModelPackage)
    assert example_inputs(pkg) is None


# --------------------------------------------------------------------------- bad MLmodel

def make_dir(tmp_path: Path, mlmodel: str, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / "model"
    root.mkdir()
    (root / "MLmodel").write_text(mlmodel)
    for name, text in (files or {"requirements.txt": "scikit-learn==1.5.2\n",
                                 "python_env.yaml": "python: 3.11.7\ndependencies:\n"
                                                    "- -r requirements.txt\n",
                                 "model.pkl": "x"}).items():
        (root / name).write_text(text)
    return root


def test_malformed_mlmodel_names_the_line(tmp_path: Path) -> None:
    root = make_dir(tmp_path, "flavors:\n  sklearn: {pickled_model: model.pkl\n")
    pkg, results = read(root)
    schema = results["metadata.schema"]
    assert schema.status is Status.FAIL
    assert schema.findings[0].file == "MLmodel" and schema.findings[0].line is not None
    assert results["interface.contract"].status is Status.FAIL


def test_unsupported_flavor_and_missing_model_file(tmp_path: Path) -> None:
    root = make_dir(tmp_path, "flavors:\n  tensorflow: {saved_model_dir: tfmodel}\n")
    _, results = read(root)
    contract = results["interface.contract"]
    assert contract.status is Status.FAIL and "tensorflow" in contract.findings[0].message
    (tmp_path / "b").mkdir()
    root = make_dir(tmp_path / "b", "flavors:\n  sklearn:\n    pickled_model: gone.pkl\n"
                                   "    serialization_format: cloudpickle\n")
    _, results = read(root)
    layout = results["package.layout"]
    assert layout.status is Status.FAIL and "gone.pkl" in layout.findings[0].message
    pinned = results["requirements.pinned"]  # cloudpickle format, cloudpickle not required
    assert pinned.status is Status.FAIL
    assert any(f.details.get("missing") == "cloudpickle" for f in pinned.findings)


def test_inline_python_env_dependencies_map_back(tmp_path: Path) -> None:
    root = make_dir(tmp_path, "flavors:\n  sklearn: {pickled_model: model.pkl}\n", {
        "requirements.txt": "scikit-learn==1.5.2\n",
        "python_env.yaml": "python: 3.11.7\ndependencies:\n- -r requirements.txt\n"
                           "- numpy==2.1.3\n- not a requirement!!\n",
        "model.pkl": "x"})
    pkg, results = read(root)
    assert results["requirements.parse"].status is Status.FAIL
    bad = [f for f in results["requirements.parse"].findings if f.severity.value == "error"]
    assert bad and bad[0].file == "python_env.yaml" and bad[0].line == 5
    assert pkg.pins["numpy"] == "2.1.3" and pkg.pins["scikit-learn"] == "1.5.2"
    assert pkg.serialization_format == "pickle"  # MLflow's default when not recorded


# --------------------------------------------------------------------------- end to end

@pytest.mark.slow
def test_mismatch_fails_load_warnings(envcheck_cache: Path) -> None:
    before = tree_digest(MISMATCH)
    report = envcheck.check(MISMATCH, cache_dir=envcheck_cache)
    assert report.exit_code == 1
    package = report.packages[0]
    warnings = package.check("load.warnings")
    assert warnings.status is Status.FAIL
    versions = {(o["estimator"], f.details["pickled_with"], f.details["loaded_with"])
                for f in warnings.findings if f.severity.value == "error"
                for o in f.details["objects"]}
    assert ("LogisticRegression", "1.5.2", "1.6.1") in versions
    assert package.check("load").status is Status.PASS
    assert package.check("pickle.versions").status is Status.FAIL
    assert package.environment["packages"]["scikit-learn"] == "1.6.1"
    assert tree_digest(MISMATCH) == before


@pytest.mark.slow
def test_skops_fixture_passes(envcheck_cache: Path) -> None:
    before = tree_digest(SKOPS)
    report = envcheck.check(SKOPS, cache_dir=envcheck_cache)
    package = report.packages[0]
    assert report.exit_code == 0, [(c.id, c.status, c.findings) for c in package.checks]
    for check_id in ("load", "load.warnings", "predict.schema", "predict.determinism"):
        assert package.check(check_id).status is Status.PASS, check_id
    assert tree_digest(SKOPS) == before


@pytest.mark.slow
def test_untrusted_skops_types(envcheck_cache: Path, tmp_path: Path) -> None:
    # As saved: MLmodel trusts TreePredictor itself -> loads, and the warning names it.
    package = envcheck.check(HGB, cache_dir=envcheck_cache).packages[0]
    assert package.check("load").status is Status.PASS
    warned = package.check("load.warnings")
    assert warned.status is Status.WARN
    assert any("SkopsTrustWarning" in f.message and TREE_PREDICTOR in f.message
               for f in warned.findings)
    # Without the model's self-trust: skops's get_untrusted_types, in the env, blocks it.
    copied = copy(HGB, tmp_path)
    mlmodel = (copied / "MLmodel").read_text()
    (copied / "MLmodel").write_text(mlmodel.replace(
        f"    skops_trusted_types:\n    - {TREE_PREDICTOR}\n", "    skops_trusted_types: null\n"))
    report = envcheck.check(copied, cache_dir=envcheck_cache)
    assert report.exit_code == 1
    load = report.packages[0].check("load")
    assert load.status is Status.FAIL
    assert "UntrustedTypesError" in load.findings[0].message
    assert TREE_PREDICTOR in load.findings[0].message
    # Trusted knowingly on the command line: loads, no warning about it.
    report = envcheck.check(copied, cache_dir=envcheck_cache, trust_pickle=[TREE_PREDICTOR])
    package = report.packages[0]
    assert package.check("load").status is Status.PASS
    assert package.check("load.warnings").status is Status.PASS
