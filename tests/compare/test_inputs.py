"""envcheck.compare.inputs: synthesized, file and recorded smoke inputs (no child processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envcheck.compare.inputs import (
    InputsError,
    build_synthetic_inputs,
    load_inputs_file,
    recorded_inputs,
    smoke_inputs,
    synthesize_inputs,
)
from envcheck.model.package import ModelPackage

METADATA = {
    "name": "churn-model",
    "input_features": [
        {"name": "tenure", "type": "float"},
        {"name": "num_products", "type": "int"},
        {"name": "payment_method", "type": "categorical",
         "categories": ["Credit Card", "Debit Card", "PayPal", "Bank Transfer", "Cash",
                        "Voucher", "Crypto"]},
        {"name": "is_active", "type": "bool"},
        {"name": "city", "type": "string"},
    ],
}


def package(root: Path, metadata: dict) -> ModelPackage:
    root.mkdir(parents=True, exist_ok=True)
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py", metadata=metadata)


def test_synthesized_rows_cover_every_category_with_dtypes() -> None:
    inputs = synthesize_inputs(METADATA)
    assert inputs["columns"] == ["tenure", "num_products", "payment_method", "is_active", "city"]
    assert inputs["dtypes"] == {"tenure": "float64", "num_products": "int64",
                                "payment_method": "object", "is_active": "bool",
                                "city": "object"}
    rows = inputs["data"]
    assert len(rows) == 7  # at least one row per category
    columns = list(zip(*rows))
    assert set(columns[2]) == set(METADATA["input_features"][2]["categories"])
    assert set(columns[3]) == {True, False}
    assert all(isinstance(v, float) for v in columns[0]) and len(set(columns[0])) > 3
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in columns[1])
    assert synthesize_inputs(METADATA) == inputs  # deterministic


def test_synthesized_rows_respect_bounds_and_count() -> None:
    metadata = {"input_features": [{"name": "age", "type": "int", "min": 18, "max": 90}]}
    inputs = synthesize_inputs(metadata, rows=3)
    assert len(inputs["data"]) == 3
    assert all(18 <= row[0] <= 90 for row in inputs["data"])


def test_no_features_means_no_synthesized_inputs() -> None:
    assert synthesize_inputs({"name": "x"}) is None
    with pytest.raises(InputsError, match="declares no input_features"):
        build_synthetic_inputs({"name": "x"})
    with pytest.raises(InputsError, match="'plan' lists no categories"):
        build_synthetic_inputs({"input_features": [{"name": "plan", "type": "categorical"}]})
    with pytest.raises(InputsError, match="type 'complex'"):
        build_synthetic_inputs({"input_features": [{"name": "z", "type": "complex"}]})


def test_csv_is_typed_and_reordered_by_metadata(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("city,is_active,payment_method,num_products,tenure\n"
                    "Oslo,true,PayPal,2,1.5\n"
                    "Rome,0,Cash,3,\n", encoding="utf-8")
    inputs = load_inputs_file(path, METADATA)
    assert inputs["columns"] == ["tenure", "num_products", "payment_method", "is_active", "city"]
    assert inputs["data"] == [[1.5, 2, "PayPal", True, "Oslo"], [None, 3, "Cash", False, "Rome"]]
    assert inputs["dtypes"]["num_products"] == "int64"
    assert inputs["source"] == "rows.csv"


def test_csv_errors_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("tenure,num_products,payment_method,is_active,city\n"
                    "1.0,2,Cash,true,Oslo\n"
                    "abc,2,Cash,true,Oslo\n", encoding="utf-8")
    with pytest.raises(InputsError, match=r"bad.csv:3 column 'tenure': 'abc' is not a number"):
        load_inputs_file(path, METADATA)
    path.write_text("tenure,city\n1.0,Oslo\n", encoding="utf-8")
    with pytest.raises(InputsError, match="missing num_products, payment_method, is_active"):
        load_inputs_file(path, METADATA)
    path.write_text("tenure\n1.0,2\n", encoding="utf-8")
    with pytest.raises(InputsError, match="bad.csv:2: 2 fields, the header has 1"):
        load_inputs_file(path)


@pytest.mark.parametrize("payload", [
    {"columns": ["b", "a"], "data": [[2.0, 1.0], [4.0, 3.0]]},
    [{"a": 1.0, "b": 2.0}, {"b": 4.0, "a": 3.0}],
    {"a": [1.0, 3.0], "b": [2.0, 4.0]},
])
def test_json_orients(tmp_path: Path, payload: object) -> None:
    metadata = {"input_features": [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}]}
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    inputs = load_inputs_file(path, metadata)
    assert inputs["columns"] == ["a", "b"]
    assert inputs["data"] == [[1.0, 2.0], [3.0, 4.0]]


def test_json_and_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputsError, match="not valid JSON"):
        load_inputs_file(path)
    path.write_text('"a string"', encoding="utf-8")
    with pytest.raises(InputsError, match="split"):
        load_inputs_file(path)
    (tmp_path / "rows.parquet").write_bytes(b"PAR1")
    with pytest.raises(InputsError, match="expected a .csv or .json"):
        load_inputs_file(tmp_path / "rows.parquet")
    with pytest.raises(InputsError, match="no such file"):
        load_inputs_file(tmp_path / "absent.csv")


def test_recorded_inputs_and_smoke_inputs(tmp_path: Path) -> None:
    pkg = package(tmp_path / "pkg", METADATA)
    assert recorded_inputs(pkg) is None
    inputs, source = smoke_inputs(pkg)
    assert source == "synthesized from metadata.yaml" and len(inputs["data"]) == 7
    (pkg.root / "reference").mkdir()
    (pkg.root / "reference" / "inputs.json").write_text(json.dumps(
        {"columns": ["tenure"], "data": [[{"$float": "nan"}]], "dtypes": {"tenure": "float64"}}))
    recorded = recorded_inputs(pkg)
    assert recorded["data"] == [[{"$float": "nan"}]]
    assert recorded["dtypes"] == {"tenure": "float64"}
    assert smoke_inputs(pkg)[1] == "reference/inputs.json"
    (pkg.root / "reference" / "inputs.json").write_text("[1, 2")
    with pytest.raises(InputsError, match="reference/inputs.json: not valid JSON"):
        recorded_inputs(pkg)
    bare = package(tmp_path / "bare", {"name": "x"})
    assert smoke_inputs(bare) == (None, "metadata.yaml declares no input_features: give smoke "
                                        "inputs with --inputs FILE (CSV or JSON)")
