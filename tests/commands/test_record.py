"""envcheck.commands.record: record a real package, then check it; refusals; atomic replacement.

The scikit-learn package is pickled by the host's scikit-learn and run by the host
interpreter in a child process (a real interpreter with real libraries).
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from envcheck import __version__
from envcheck.commands.record import RecordError, record
from envcheck.compare.inputs import recorded_inputs
from envcheck.compare.integrity import check_integrity
from envcheck.compare.predictions import (
    check_determinism,
    check_predict_schema,
    check_predict_smoke,
)
from envcheck.model.findings import Severity, Status
from envcheck.model.options import Options
from envcheck.model.package import ModelPackage
from envcheck.probe.checks import check_load, check_load_warnings
from envcheck.probe.runner import run_probe

HOST = Path(sys.executable)
METADATA = {
    "name": "churn-model", "version": "1.0",
    "input_features": [
        {"name": "tenure", "type": "float"},
        {"name": "monthly_charges", "type": "float"},
        {"name": "payment_method", "type": "categorical",
         "categories": ["Credit Card", "Debit Card", "PayPal"]},
    ],
    "output": [{"name": "churn_probability", "type": "float"}],
}
SKLEARN_INTERFACE = """
    import pickle
    from pathlib import Path

    class ChurnModel:
        def __init__(self, pipeline):
            self.pipeline = pipeline

        def predict(self, frame):
            return self.pipeline.predict_proba(frame)[:, 1]

    def load_model():
        with open(Path(__file__).parent / "model.pkl", "rb") as handle:
            return ChurnModel(pickle.load(handle))
"""


def train(c: float) -> bytes:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({
        "tenure": [1.0, 5.0, 12.0, 24.0, 36.0, 48.0, 3.0, 60.0],
        "monthly_charges": [70.0, 20.0, 55.0, 90.0, 30.0, 65.0, 99.0, 25.0],
        "payment_method": ["PayPal", "Credit Card", "Debit Card", "PayPal", "Credit Card",
                           "Debit Card", "PayPal", "Credit Card"]})
    pipeline = Pipeline([
        ("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"),
                                     ["payment_method"])], remainder="passthrough")),
        ("clf", LogisticRegression(C=c, max_iter=1000))])
    pipeline.fit(frame, [1, 0, 0, 1, 0, 0, 1, 0])
    return pickle.dumps(pipeline)


def make_package(root: Path, interface: str, files: dict[str, bytes],
                 metadata: Optional[dict[str, Any]] = None) -> ModelPackage:
    root.mkdir(parents=True)
    metadata = metadata if metadata is not None else METADATA
    (root / "interface.py").write_text(textwrap.dedent(interface).lstrip(), encoding="utf-8")
    (root / "metadata.yaml").write_text(yaml.safe_dump(metadata), encoding="utf-8")
    (root / "requirements.txt").write_text("scikit-learn\npandas\n", encoding="utf-8")
    for name, data in files.items():
        (root / name).write_bytes(data)
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py",
                        artifacts=[root / n for n in files], metadata=metadata,
                        requirement_lines=["pandas", "scikit-learn"],
                        requirements_ok=True, metadata_ok=True)


def copy_package(pkg: ModelPackage, root: Path) -> ModelPackage:
    shutil.copytree(pkg.root, root)
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py",
                        artifacts=[root / p.name for p in pkg.artifacts], metadata=pkg.metadata,
                        requirements_ok=True, metadata_ok=True)


def run_checks(pkg: ModelPackage) -> dict[str, Any]:
    inputs = recorded_inputs(pkg)
    result = run_probe(HOST, pkg, inputs, Options())
    checks = [check_load(pkg, result), check_load_warnings(pkg, result, Options()),
              check_predict_schema(pkg, inputs, result),
              check_predict_smoke(pkg, result, Options()), check_determinism(result),
              check_integrity(pkg)]
    return {c.id: c for c in checks}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> ModelPackage:
    root = tmp_path_factory.mktemp("record") / "churn"
    pkg = make_package(root, SKLEARN_INTERFACE, {"model.pkl": train(1.0)})
    outcome = record(pkg, HOST, {"pip": "0"}, "3.11.7", Options())
    assert outcome.reference_dir == root / "reference"
    return pkg


@pytest.mark.slow
def test_recorded_files(recorded: ModelPackage) -> None:
    ref = recorded.root / "reference"
    assert sorted(p.name for p in ref.iterdir()) == ["environment.json", "inputs.json",
                                                      "outputs.json"]
    inputs = json.loads((ref / "inputs.json").read_text())
    assert inputs["columns"] == ["tenure", "monthly_charges", "payment_method"]
    assert inputs["source"].startswith("synthesized")
    outputs = json.loads((ref / "outputs.json").read_text())
    assert outputs["output"]["shape"] == [len(inputs["data"])]
    assert outputs["output"]["dtype"] == "float64"
    environment = json.loads((ref / "environment.json").read_text())
    import sklearn

    assert environment["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert environment["packages"]["scikit-learn"] == sklearn.__version__
    assert environment["envcheck_version"] == __version__
    digest = environment["artifacts"]["model.pkl"]
    assert digest["size"] == (recorded.root / "model.pkl").stat().st_size
    assert len(digest["sha256"]) == 64
    assert environment["time"].endswith("+00:00")
    assert not list(recorded.root.glob("reference.tmp-*"))
    assert not list(recorded.root.glob("reference.old-*"))


@pytest.mark.slow
def test_clean_package_recorded_then_checked_passes(recorded: ModelPackage) -> None:
    checks = run_checks(recorded)
    for check_id in ("load", "load.warnings", "predict.schema", "predict.smoke",
                     "predict.determinism", "artifacts.integrity"):
        assert checks[check_id].status is Status.PASS, checks[check_id]
    assert "match reference/outputs.json" in checks["predict.smoke"].findings[-1].message


@pytest.mark.slow
def test_swapped_artifact_fails_integrity_and_smoke(recorded: ModelPackage,
                                                    tmp_path: Path) -> None:
    pkg = copy_package(recorded, tmp_path / "swapped")
    (pkg.root / "model.pkl").write_bytes(train(0.01))
    checks = run_checks(pkg)
    assert checks["artifacts.integrity"].status is Status.FAIL
    (integrity,) = [f for f in checks["artifacts.integrity"].findings
                    if f.severity is Severity.ERROR]
    assert integrity.file == "model.pkl" and "changed since it was recorded" in integrity.message
    assert checks["load"].status is Status.PASS
    assert checks["predict.smoke"].status is Status.FAIL
    (smoke,) = [f for f in checks["predict.smoke"].findings if f.severity is Severity.ERROR]
    assert "values differ from reference/outputs.json" in smoke.message
    assert smoke.details["rows"][0].keys() == {"row", "recorded", "got"}


@pytest.mark.slow
def test_refuses_to_overwrite_without_force(recorded: ModelPackage) -> None:
    before = (recorded.root / "reference" / "environment.json").read_text()
    with pytest.raises(RecordError, match="reference/ already exists .*--force"):
        record(recorded, HOST, {}, "3.11.7", Options())
    assert (recorded.root / "reference" / "environment.json").read_text() == before


LIGHT_INTERFACE = """
    import json
    from pathlib import Path

    class Model:
        def __init__(self, weights):
            self.weights = weights

        def predict(self, frame):
            return [sum(w * float(v) for w, v in zip(self.weights, row))
                    for row in frame.itertuples(index=False)]

    def load_model():
        {body}
        return Model(json.loads((Path(__file__).parent / "weights.json").read_text()))
"""
LIGHT_METADATA = {"name": "light", "input_features": [{"name": "a", "type": "float"},
                                                      {"name": "b", "type": "int"}],
                  "output": [{"name": "y", "type": "float"}]}


def light(root: Path, body: str = "pass") -> ModelPackage:
    return make_package(root, LIGHT_INTERFACE.replace("{body}", body),
                        {"weights.json": b"[0.5, 2.0]"}, LIGHT_METADATA)


@pytest.mark.slow
def test_force_replaces_and_cleans_leftovers(tmp_path: Path) -> None:
    pkg = light(tmp_path / "light")
    record(pkg, HOST, {}, "3.11.7", Options())
    # The state a SIGKILL between the two renames leaves: no reference/, the old one
    # intact next to a partial new one.
    (pkg.root / "reference").rename(pkg.root / "reference.old-dead")
    (pkg.root / "reference.tmp-dead").mkdir()
    (pkg.root / "reference.tmp-dead" / "inputs.json").write_text("{partial")
    with pytest.raises(RecordError, match="reference.old-dead/ already exists"):
        record(pkg, HOST, {}, "3.11.7", Options())
    csv = tmp_path / "rows.csv"
    csv.write_text("b,a\n1,0.5\n2,1.5\n", encoding="utf-8")
    outcome = record(pkg, HOST, {}, "3.11.7", Options(), inputs_path=csv, force=True)
    assert sorted(p.name for p in pkg.root.iterdir() if p.name.startswith("reference")) \
        == ["reference"]
    assert json.loads((pkg.root / "reference" / "inputs.json").read_text())["data"] \
        == [[0.5, 1], [1.5, 2]]
    assert json.loads((pkg.root / "reference" / "outputs.json").read_text())["output"]["values"] \
        == [2.25, 4.75]
    assert outcome.inputs_source == "rows.csv"
    assert "2 input rows (rows.csv)" in outcome.summary(pkg)


@pytest.mark.slow
@pytest.mark.parametrize("body, message", [
    ("raise RuntimeError('no GPU')", "cannot record: load_model() raised RuntimeError: no GPU"),
    ("import warnings; warnings.warn('Trying to unpickle estimator Lasso from version 0.24.2 "
     "when using version 1.2.2. This might lead to breaking code or invalid results.')",
     "cannot record: Lasso was pickled with scikit-learn 0.24.2 but loaded with 1.2.2"),
])
def test_refuses_to_record_a_broken_package(tmp_path: Path, body: str, message: str) -> None:
    pkg = light(tmp_path / "broken", body)
    with pytest.raises(RecordError) as raised:
        record(pkg, HOST, {}, "3.11.7", Options())
    assert str(raised.value).startswith(message)
    assert [p.name for p in pkg.root.iterdir() if p.name.startswith("reference")] == []


@pytest.mark.slow
def test_refuses_bad_inputs_before_running_anything(tmp_path: Path) -> None:
    pkg = light(tmp_path / "light")
    csv = tmp_path / "rows.csv"
    csv.write_text("a\n0.5\n", encoding="utf-8")
    with pytest.raises(RecordError, match="cannot record: .*rows.csv: columns do not match "
                                          "input_features \\(missing b\\)"):
        record(pkg, HOST, {}, "3.11.7", Options(), inputs_path=csv)


# --------------------------------------------------------------------------- MLflow

@pytest.mark.slow
def test_record_then_check_an_mlflow_model_directory(tmp_path: Path,
                                                     envcheck_cache: Path) -> None:
    """`record` writes reference/ into an MLflow model directory (MLmodel, python_env.yaml,
    skops model, no metadata.yaml); `check` then compares against it and passes, and a
    changed recorded output fails predict.smoke."""
    import envcheck
    from conftest import FIXTURES
    from envcheck.commands.record import record_package

    model_dir = tmp_path / "churn-skops"
    shutil.copytree(FIXTURES / "mlflow" / "churn-skops", model_dir)
    summary = record_package(model_dir, Options(cache_dir=envcheck_cache), None, False)
    assert summary.startswith("recorded reference/ for churn-model: ")
    reference = model_dir / "reference"
    assert sorted(p.name for p in reference.iterdir()) == [
        "environment.json", "inputs.json", "outputs.json"]
    recorded = json.loads((reference / "environment.json").read_text())
    assert recorded["packages"]["scikit-learn"] == "1.5.2"
    assert recorded["python"].startswith("3.11.")
    assert not (model_dir / "metadata.yaml").exists()  # nothing else written into it

    package = envcheck.check(model_dir, cache_dir=envcheck_cache).packages[0]
    by_id = {c.id: c for c in package.checks}
    assert package.status is Status.PASS, [(c.id, c.status, c.headline) for c in package.checks]
    for check_id in ("artifacts.integrity", "env.drift", "predict.smoke"):
        assert by_id[check_id].status is Status.PASS, (check_id, by_id[check_id].headline)
    assert re.match(r"\d+ predicted values match ", by_id["predict.smoke"].headline), \
        by_id["predict.smoke"].headline

    outputs = json.loads((reference / "outputs.json").read_text())
    values = outputs["output"]["values"]
    values[0] = 1 - values[0] if isinstance(values[0], (int, float)) else values[0]
    (reference / "outputs.json").write_text(json.dumps(outputs))
    changed = envcheck.check(model_dir, cache_dir=envcheck_cache).packages[0]
    assert changed.check("predict.smoke").status is Status.FAIL
    assert changed.status is Status.FAIL
