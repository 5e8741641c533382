"""envcheck.compare.reference: integrity, schema, smoke and determinism checks.

Comparison logic is tested on probe results written as data; the determinism and
bad-output cases run real child interpreters.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from envcheck.compare.integrity import artifact_digests, check_integrity
from envcheck.compare.predictions import (
    check_determinism,
    check_predict_schema,
    check_predict_smoke,
    compare_outputs,
    resolve_tolerances,
)
from envcheck.compare.reference import reference_dir
from envcheck.model.findings import Severity, Status
from envcheck.model.options import Options
from envcheck.model.package import ModelPackage
from envcheck.probe.result import ProbeResult
from envcheck.probe.runner import run_probe

HOST = Path(sys.executable)
METADATA = {"name": "m", "input_features": [{"name": "a", "type": "float"},
                                            {"name": "b", "type": "categorical",
                                             "categories": ["x", "y"]}],
            "output": [{"name": "score", "type": "float"}]}
INPUTS = {"columns": ["a", "b"], "data": [[1.0, "x"], [2.0, "y"], [3.0, "x"]],
          "dtypes": {"a": "float64", "b": "object"}}


def package(root: Path, metadata: Optional[dict[str, Any]] = None,
            interface: str = "def load_model():\n    return None\n",
            files: Optional[dict[str, bytes]] = None) -> ModelPackage:
    root.mkdir(parents=True, exist_ok=True)
    metadata = metadata if metadata is not None else dict(METADATA)
    (root / "metadata.yaml").write_text(yaml.safe_dump(metadata), encoding="utf-8")
    (root / "interface.py").write_text(textwrap.dedent(interface).lstrip(), encoding="utf-8")
    (root / "requirements.txt").write_text("", encoding="utf-8")
    files = files if files is not None else {"model.bin": b"weights-v1"}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py",
                        artifacts=[root / n for n in files], metadata=metadata)


def array(values: list[Any], dtype: str = "float64") -> dict[str, Any]:
    shape = [len(values)] + ([len(values[0])] if values and isinstance(values[0], list) else [])
    return {"kind": "ndarray", "type": "numpy.ndarray", "dtype": dtype, "shape": shape,
            "values": values}


def probe(predictions: Optional[dict[str, Any]], repeat: Optional[dict[str, Any]] = None,
          **kwargs: Any) -> ProbeResult:
    fields: dict[str, Any] = dict(
        kind="ok", stage="done", completed=["import", "load", "inputs", "predict", "predict-repeat"],
        predictions=predictions, predictions_repeat=repeat if repeat is not None else predictions,
        frame={"columns": ["a", "b"], "dtypes": ["float64", "object"], "rows": 3})
    fields.update(kwargs)
    return ProbeResult(**fields)


def write_reference(pkg: ModelPackage, output: dict[str, Any]) -> None:
    ref = pkg.root / "reference"
    ref.mkdir(exist_ok=True)
    (ref / "inputs.json").write_text(json.dumps(INPUTS))
    (ref / "outputs.json").write_text(json.dumps({"format": 1, "output": output}))
    (ref / "environment.json").write_text(json.dumps(
        {"python": "3.11.7", "artifacts": artifact_digests(pkg, None)}))


def errors(result) -> list:
    return [f for f in result.findings if f.severity is Severity.ERROR]


# --------------------------------------------------------------------------- compare


def test_compare_values_within_and_beyond_tolerance() -> None:
    recorded = array([[0.1, 0.9], [0.2, 0.8], [0.5, 0.5], [0.7, 0.3]])
    close = array([[0.1 + 1e-9, 0.9], [0.2, 0.8], [0.5, 0.5], [0.7, 0.3]])
    assert compare_outputs(recorded, close, 1e-05, 1e-08).equal
    far = array([[0.1, 0.9], [0.2, 0.8], [0.5, 0.531], [0.7, 0.3 + 1e-3]])
    comparison = compare_outputs(recorded, far, 1e-05, 1e-08)
    (finding,) = comparison.findings
    assert finding.message.startswith("2 of 8 values differ from reference/outputs.json "
                                      "(max abs diff 0.031 at row 2;")
    assert [r["row"] for r in finding.details["rows"]] == [2, 3]
    assert finding.details["rows"][0] == {"row": 2, "recorded": [0.5, 0.5], "got": [0.5, 0.531]}
    assert compare_outputs(recorded, far, 0.1, 0.0).equal  # a looser rtol accepts it


def test_compare_shape_dtype_labels_and_nan() -> None:
    recorded = array([1.0, 2.0, 3.0])
    (shape,) = compare_outputs(recorded, array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]), 1e-5, 1e-8).findings
    assert shape.message == "predict() returned shape (3, 2), reference/outputs.json has (3,)"
    (dtype,) = compare_outputs(recorded, array([1.0, 2.0, 3.0], "float32"), 1e-5, 1e-8).findings
    assert "dtype float32" in dtype.message and "float64" in dtype.message
    labels = array(["churn", "stay", "stay"], "object")
    (label,) = compare_outputs(labels, array(["churn", "stay", "churn"], "object"), 1, 1).findings
    assert label.message.startswith("1 of 3 values differ") and "first at row 2" in label.message
    nan = {"$float": "nan"}
    assert compare_outputs(array([nan, 1.0]), array([nan, 1.0]), 1e-5, 1e-8).equal
    assert not compare_outputs(array([nan, 1.0]), array([0.0, 1.0]), 1e-5, 1e-8).equal


def test_tolerances_precedence(tmp_path: Path) -> None:
    pkg = package(tmp_path / "p", dict(METADATA, envcheck={"rtol": 0.01}))
    assert resolve_tolerances(pkg, Options()) == (0.01, 1e-08)
    assert resolve_tolerances(pkg, Options(rtol=0.5, atol=0.1)) == (0.5, 0.1)
    assert resolve_tolerances(package(tmp_path / "q"), Options()) == (1e-05, 1e-08)


# --------------------------------------------------------------------------- integrity


def test_integrity_skip_pass_swap_missing_extra(tmp_path: Path) -> None:
    pkg = package(tmp_path / "p", files={"model.bin": b"weights-v1", "vocab/words.txt": b"a b"})
    assert check_integrity(pkg).status is Status.SKIP
    write_reference(pkg, array([1.0, 2.0, 3.0]))
    assert check_integrity(pkg).status is Status.PASS
    (pkg.root / "model.bin").write_bytes(b"weights-v2")
    result = check_integrity(pkg)
    assert result.status is Status.FAIL
    (finding,) = errors(result)
    assert finding.file == "model.bin"
    assert finding.message.startswith("model.bin changed since it was recorded: sha256")
    (pkg.root / "vocab" / "words.txt").unlink()
    (pkg.root / "extra.bin").write_bytes(b"new")
    pkg.artifacts = [pkg.root / "model.bin", pkg.root / "extra.bin"]
    result = check_integrity(pkg)
    assert {f.file for f in errors(result)} == {"model.bin", "vocab/words.txt"}
    assert [f.file for f in result.findings if f.severity is Severity.WARNING] == ["extra.bin"]
    (pkg.root / "reference" / "environment.json").write_text("{")
    assert "unreadable" in errors(check_integrity(pkg))[0].message


def test_reference_dir_falls_back_to_old_after_interrupted_swap(tmp_path: Path) -> None:
    pkg = package(tmp_path / "p")
    assert reference_dir(pkg) is None
    (pkg.root / "reference.tmp-1234").mkdir()  # never read: possibly incomplete
    assert reference_dir(pkg) is None
    write_reference(pkg, array([1.0, 2.0, 3.0]))
    (pkg.root / "reference").rename(pkg.root / "reference.old-abcd")
    assert reference_dir(pkg) == pkg.root / "reference.old-abcd"
    assert check_integrity(pkg).status is Status.PASS


# --------------------------------------------------------------------------- schema


def test_schema_passes_and_catches_columns_dtypes_features_outputs(tmp_path: Path) -> None:
    pkg = package(tmp_path / "p")
    good = probe(array([1.0, 2.0, 3.0]),
                 model_features={"found_on": "model", "feature_names_in": ["a", "b"],
                                 "n_features_in": 2})
    assert check_predict_schema(pkg, INPUTS, good).status is Status.PASS

    swapped = probe(array([1.0, 2.0, 3.0]),
                    frame={"columns": ["b", "a"], "dtypes": ["object", "float64"], "rows": 3})
    (finding,) = errors(check_predict_schema(pkg, INPUTS, swapped))
    assert "has columns ['b', 'a']" in finding.message and finding.file == "metadata.yaml"

    wrong_dtype = probe(array([1.0, 2.0, 3.0]),
                        frame={"columns": ["a", "b"], "dtypes": ["object", "object"], "rows": 3})
    (finding,) = errors(check_predict_schema(pkg, INPUTS, wrong_dtype))
    assert finding.message == "column 'a' has dtype object, metadata.yaml says float"

    other_features = probe(array([1.0, 2.0, 3.0]),
                           model_features={"found_on": "model", "feature_names_in": ["a", "c"]})
    (finding,) = errors(check_predict_schema(pkg, INPUTS, other_features))
    assert "model expects ['c']" in finding.message and "declares ['b']" in finding.message
    wrapped = probe(array([1.0, 2.0, 3.0]),
                    model_features={"found_on": "model.pipeline", "n_features_in": 7})
    result = check_predict_schema(pkg, INPUTS, wrapped)
    assert result.status is Status.PASS  # the wrapper may engineer features: info only
    assert result.findings[0].severity is Severity.INFO
    assert result.findings[0].message == "2 input column(s) match metadata.yaml input_features"
    assert "model.pipeline.n_features_in_ is 7" in result.findings[1].message

    # The output metadata documents wrongly: a warning (the model predicts fine), with the
    # hint for the two probability columns of a binary classifier.
    two_columns = probe(array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]]))
    result = check_predict_schema(pkg, INPUTS, two_columns)
    assert result.status is Status.WARN and not errors(result)
    assert result.findings[0].severity is Severity.WARNING
    assert result.findings[0].message.startswith(
        "predict() returns 2 value(s) per row, metadata.yaml declares 1 output(s) ['score']: "
        "these are the two probability columns of a binary classifier (predict_proba)")


def test_schema_and_smoke_skip_when_not_loaded(tmp_path: Path) -> None:
    pkg = package(tmp_path / "p")
    failed = ProbeResult(kind="exception", stage="load", completed=["import"])
    assert check_predict_schema(pkg, INPUTS, failed).status is Status.SKIP
    assert check_predict_smoke(pkg, failed, Options()).status is Status.SKIP
    assert check_determinism(failed).status is Status.SKIP


# --------------------------------------------------------------------------- smoke


def test_smoke_without_reference(tmp_path: Path) -> None:
    pkg = package(tmp_path / "p")
    result = check_predict_smoke(pkg, probe(array([1.0, 2.0, 3.0])), Options())
    assert result.status is Status.PASS
    assert "no reference recorded: run envcheck record" in result.findings[-1].message
    nan = check_predict_smoke(pkg, probe(array([1.0, {"$float": "nan"}, 3.0])), Options())
    assert errors(nan)[0].message == "predict() returned NaN for 1 of 3 rows (first: row 1)"
    short = check_predict_smoke(pkg, probe(array([1.0, 2.0])), Options())
    assert errors(short)[0].message == "predict() returned 2 rows for 3 input rows"
    mutated = check_predict_smoke(pkg, probe(array([1.0, 2.0, 3.0]), input_mutated=True), Options())
    assert mutated.status is Status.WARN


def test_smoke_against_reference(tmp_path: Path) -> None:
    pkg = package(tmp_path / "p")
    write_reference(pkg, array([0.25, 0.5, 0.75]))
    same = check_predict_smoke(pkg, probe(array([0.25, 0.5, 0.75 + 1e-12])), Options())
    assert same.status is Status.PASS
    drift = check_predict_smoke(pkg, probe(array([0.25, 0.52, 0.75])), Options())
    (finding,) = errors(drift)
    assert finding.file == "reference/outputs.json"
    assert finding.message.startswith("1 of 3 values differ from reference/outputs.json "
                                      "(max abs diff 0.02 at row 1")
    assert check_predict_smoke(pkg, probe(array([0.25, 0.52, 0.75])),
                               Options(atol=0.05)).status is Status.PASS


def test_determinism_from_data() -> None:
    assert check_determinism(probe(array([1.0, 2.0, 3.0]))).status is Status.PASS
    flaky = check_determinism(probe(array([1.0, 2.0, 3.0]), array([1.0, 2.5, 3.0])))
    (finding,) = errors(flaky)
    assert finding.message.startswith("non-deterministic: two predict() calls on the same "
                                      "input differ: 1 of 3 values differ")


# --------------------------------------------------------------------------- children


@pytest.mark.slow
def test_non_deterministic_predict_fails(tmp_path: Path) -> None:
    pkg = package(tmp_path / "random", interface="""
        import os

        class Model:
            def predict(self, frame):
                return [int.from_bytes(os.urandom(4), "little") / 2**32 for _ in range(len(frame))]

        def load_model():
            return Model()
    """)
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert result.kind == "ok"
    determinism = check_determinism(result)
    assert determinism.status is Status.FAIL
    assert "3 of 3 values differ" in errors(determinism)[0].message
    assert check_predict_smoke(pkg, result, Options()).status is Status.PASS


@pytest.mark.slow
def test_bad_outputs_fail_smoke(tmp_path: Path) -> None:
    pkg = package(tmp_path / "none", interface="""
        class Model:
            def predict(self, frame):
                return ({"score": 1.0} for _ in range(len(frame)))

        def load_model():
            return Model()
    """)
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert (result.kind, result.stage) == ("bad-output", "predict")
    smoke = check_predict_smoke(pkg, result, Options())
    assert smoke.status is Status.FAIL
    assert "predict() returned a generator" in errors(smoke)[0].message

    raising = package(tmp_path / "raises", interface="""
        class Model:
            def predict(self, frame):
                return frame["missing_column"]

        def load_model():
            return Model()
    """)
    result = run_probe(HOST, raising, INPUTS, Options())
    (finding,) = errors(check_predict_smoke(raising, result, Options()))
    assert finding.message.startswith("predict() raised KeyError")
    assert (finding.file, finding.line) == ("interface.py", 3)


def test_wrong_output_findings_name_the_interface(tmp_path: Path) -> None:
    """What predict() returned is the package's code's doing: the finding names
    interface.py (BUG-2)."""
    pkg = package(tmp_path / "p")
    for predictions, text in ((array([0.1, 0.2]), "returned 2 rows for 3 input rows"),
                              ({"kind": "scalar", "dtype": "float", "shape": [],
                                "values": 0.5}, "returned a single float"),
                              (array([0.1, {"$float": "nan"}, 0.3]), "returned NaN for 1 of 3")):
        result = check_predict_smoke(pkg, probe(predictions), Options())
        (finding,) = errors(result)
        assert text in finding.message
        assert (finding.file, finding.line) == ("interface.py", None)


def test_probe_stopped_during_predict_fails_predict_smoke(tmp_path: Path) -> None:
    """Load completed, the probe was killed in predict(): predict.smoke fails naming the
    kind, on interface.py (BUG-6)."""
    pkg = package(tmp_path / "p")
    for kind, stage, text in (("timeout", "predict", "predict() did not finish within 4 s"),
                              ("signal", "predict", "crashed during predict(): killed by SIGSEGV"),
                              ("flood", "predict-repeat", "the second predict()")):
        result = probe(None, None, kind=kind, stage=stage, timeout_s=4.0, signal_name="SIGSEGV",
                       message="wrote more than 8 MB to stdout (output flood)",
                       completed=["import", "load", "inputs"], frame=None)
        check = check_predict_smoke(pkg, result, Options())
        assert check.status is Status.FAIL, kind
        (finding,) = errors(check)
        assert text in finding.message and finding.file == "interface.py"


def test_digest_cache_rehashes_any_change(tmp_path, monkeypatch) -> None:
    """Unchanged artifacts are not re-read; a change -- even one that restores the mtime --
    is hashed again, so the recorded sha256 still decides."""
    import hashlib
    import json
    import os

    from envcheck.compare.integrity import cached_file_digests

    def cached_file_digest(path):
        return cached_file_digests([path], tmp_path / "cache")[path]

    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(b"A" * 4096)
    first = cached_file_digest(artifact)
    assert first == {"sha256": hashlib.sha256(b"A" * 4096).hexdigest(), "size": 4096}
    store = tmp_path / "cache" / "digests.json"
    entries = json.loads(store.read_text())
    assert len(entries) == 1
    # Served from the cache while the file's identity is unchanged: plant a marker to see it.
    (identity,) = entries
    store.write_text(json.dumps({identity: {"sha256": "cached", "size": 4096}}))
    assert cached_file_digest(artifact)["sha256"] == "cached"
    # Same size, mtime put back: ctime still moves, so the new bytes are hashed.
    stat = artifact.stat()
    artifact.write_bytes(b"B" * 4096)
    os.utime(artifact, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cached_file_digest(artifact)["sha256"] == hashlib.sha256(b"B" * 4096).hexdigest()
