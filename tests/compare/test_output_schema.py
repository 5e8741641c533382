"""predict.schema's output half (envcheck/compare/output_schema.py): what predict() returned
against metadata's output -- warnings with a hint, never failures (--strict escalates)."""

from __future__ import annotations

from typing import Any

from envcheck.compare.output_schema import output_findings, output_width
from envcheck.model import checks
from envcheck.model.findings import Severity, Status

ONE_FLOAT = {"output": [{"name": "churn_probability", "type": "float"}]}


def ndarray(values: Any, dtype: str) -> dict[str, Any]:
    shape = [len(values)] + ([len(values[0])] if values and isinstance(values[0], list) else [])
    return {"kind": "ndarray", "dtype": dtype, "shape": shape, "values": values}


def test_two_probability_columns_get_the_binary_classifier_hint() -> None:
    (finding,) = output_findings(ONE_FLOAT, ndarray([[0.25, 0.75], [0.9, 0.1]], "float64"),
                                 "metadata.yaml")
    assert finding.severity is Severity.WARNING
    assert finding.message == (
        "predict() returns 2 value(s) per row, metadata.yaml declares 1 output(s) "
        "['churn_probability']: these are the two probability columns of a binary classifier "
        "(predict_proba): declare both outputs in metadata.yaml, or return "
        "predict_proba(X)[:, 1] for churn_probability (the metadata does not describe the "
        "model; --strict fails this)")
    assert finding.file == "metadata.yaml"


def test_two_columns_that_are_not_probabilities_get_the_plain_advice() -> None:
    (finding,) = output_findings(ONE_FLOAT, ndarray([[3.0, 4.0], [1.0, 2.0]], "float64"),
                                 "metadata.yaml")
    assert finding.message == (
        "predict() returns 2 value(s) per row, metadata.yaml declares 1 output(s) "
        "['churn_probability']: declare what predict() returns in metadata.yaml's output (the "
        "metadata does not describe the model; --strict fails this)")
    assert finding.details["hint"] is None


def test_int_labels_where_a_float_is_declared() -> None:
    (finding,) = output_findings(ONE_FLOAT, ndarray([0, 1, 1, 0], "int64"), "metadata.yaml")
    assert finding.severity is Severity.WARNING
    assert finding.message == (
        "metadata.yaml declares output 'churn_probability' as float, predict() returned int64: "
        "these look like class labels (0, 1): return predict_proba(X)[:, 1] for a "
        "probability, or declare churn_probability as int (or categorical) (--strict fails "
        "this)")
    assert finding.details["type"] == "float" and finding.details["dtype"] == "int64"


def test_floats_where_an_int_is_declared_and_types_that_match() -> None:
    declared_int = {"output": {"name": "label", "type": "int"}}
    (finding,) = output_findings(declared_int, ndarray([0.2, 0.8], "float32"), "metadata.yaml")
    assert finding.message == ("metadata.yaml declares output 'label' as int, predict() "
                               "returned float32: declare label as float, or return the class "
                               "labels (predict) (--strict fails this)")
    assert output_findings(declared_int, ndarray([0, 1], "int32"), "metadata.yaml") == []
    assert output_findings(ONE_FLOAT, ndarray([0.2, 0.8], "float64"), "metadata.yaml") == []
    labels = {"output": [{"name": "churn", "type": "categorical", "categories": [0, 1]}]}
    assert output_findings(labels, ndarray([0, 1], "int64"), "metadata.yaml") == []


def test_lists_and_dataframes_are_typed_by_their_values_and_columns() -> None:
    as_list = {"kind": "list", "dtype": "list", "shape": [2], "values": [1, 0]}
    (finding,) = output_findings(ONE_FLOAT, as_list, "metadata.yaml")
    assert "predict() returned int" in finding.message
    two = {"output": [{"name": "p0", "type": "float"}, {"name": "p1", "type": "float"}]}
    frame = {"kind": "dataframe", "dtype": "mixed", "shape": [2, 2], "columns": ["a", "p1"],
             "dtypes": ["float64", "int64"], "values": [[0.5, 1], [0.5, 0]]}
    names, types = output_findings(two, frame, "metadata.yaml")
    assert names.message == ("predict() returns columns ['a', 'p1'], metadata.yaml output "
                             "names are ['p0', 'p1'] (--strict fails this)")
    assert types.message.startswith("metadata.yaml declares output 'p1' as float, predict() "
                                    "returned int64")


def test_output_width() -> None:
    assert output_width(ndarray([1.0], "float64")) == 1
    assert output_width(ndarray([[1.0, 2.0, 3.0]], "float64")) == 3
    assert output_width({"kind": "ndarray", "shape": [1, 2, 3], "values": []}) is None


def test_strict_escalates_the_warnings_of_predict_schema() -> None:
    result = checks.PREDICT_SCHEMA.result(
        output_findings(ONE_FLOAT, ndarray([0, 1], "int64"), "metadata.yaml"))
    assert result.status is Status.WARN
    strict = checks.PREDICT_SCHEMA.apply_strict(result)
    assert strict.status is Status.FAIL
    assert [f.severity for f in strict.findings] == [Severity.ERROR]
