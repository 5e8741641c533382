"""metadata.yaml: safe loading with positions, the shipped JSON Schema, the malformed corpus."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcheck.model.findings import Severity
from envcheck.read.metadata import MAX_BYTES, load_metadata, validate_metadata
from envcheck.read.metadata_schema import _clean_marker, load_schema
from envcheck.read.yaml_positions import format_path

CORPUS = FIXTURES / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))["metadata"]

GOOD = """\
name: churn-model
version: 1.0
description: churn
author: DS team
created_date: 2023-06-01
trained_on_data: synthetic
trained_with: {scikit-learn: "1.2.2"}
hyperparameters: {C: 1.0, max_iter: 1000}
python_version: "3.8"
input_features:
  - {name: tenure, type: float}
  - {name: payment_method, type: categorical, categories: [Credit Card, Debit Card, PayPal]}
output:
  - {name: churn_probability, type: float}
envcheck:
  timeout: 60
  memory: 512M
  rtol: 1e-6
  atol: 0
  allow_warnings: ["X has feature names"]
  trust_pickle: ["mylib.Model"]
  smoke_rows: 5
"""


def write(tmp_path: Path, text: str, name: str = "metadata.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors(findings):  # noqa: ANN001, ANN201
    return [f for f in findings if f.severity is Severity.ERROR]


# --------------------------------------------------------------------------- the corpus

def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in (CORPUS / "metadata").glob("*.yaml")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_fails_at_its_line(name: str) -> None:
    expected = EXPECTED[name]
    data, findings = load_metadata(CORPUS / "metadata" / name)
    first = errors(findings)[0]
    assert first.file == name
    assert (first.line, first.column) == (expected["line"], expected["column"]), first.message
    assert expected["message"] in first.message


# --------------------------------------------------------------------------- passing

def test_good_metadata_has_no_findings(tmp_path: Path) -> None:
    data, findings = load_metadata(write(tmp_path, GOOD))
    assert findings == []
    assert data["name"] == "churn-model"
    assert data["created_date"] == "2023-06-01"  # dates stay strings (the report is JSON)
    assert data["envcheck"]["rtol"] == 1e-6  # YAML 1.2 float, not the string "1e-6"
    assert data["input_features"][1]["categories"] == ["Credit Card", "Debit Card", "PayPal"]
    json.dumps(data)


def test_churn_ok_fixture_is_valid() -> None:
    path = FIXTURES / "packages" / "churn-ok" / "metadata.yaml"
    if not path.exists():
        pytest.skip("fixtures/packages/churn-ok not generated")
    _, findings = load_metadata(path)
    assert errors(findings) == []


def test_output_may_be_a_single_mapping(tmp_path: Path) -> None:
    text = GOOD.replace("output:\n  - {name: churn_probability, type: float}",
                        "output: {name: churned, type: categorical, categories: [yes, no]}")
    _, findings = load_metadata(write(tmp_path, text))
    assert errors(findings) == []


def test_merge_keys_may_override(tmp_path: Path) -> None:
    text = GOOD + "defaults: &d {C: 1.0, tol: 0.1}\ntuned:\n  <<: *d\n  C: 2.0\n"
    data, findings = load_metadata(write(tmp_path, text))
    assert errors(findings) == []
    assert data["tuned"] == {"C": 2.0, "tol": 0.1}


@pytest.mark.parametrize("version", ['"3.10"', '"3.8.18"', '">=3.9,<3.12"', "3.8"])
def test_python_version_forms(tmp_path: Path, version: str) -> None:
    text = GOOD.replace('python_version: "3.8"', f"python_version: {version}")
    _, findings = load_metadata(write(tmp_path, text))
    assert errors(findings) == []


# --------------------------------------------------------------------------- failing

def test_error_names_line_column_and_key_path(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - {name: payment_method, type: categorical, categories: [Credit Card, Debit Card, PayPal]}",
        "  - name: payment_method\n    type: categorical")
    _, findings = load_metadata(write(tmp_path, text), display="metadata.yaml")
    (finding,) = errors(findings)
    assert finding.location == "metadata.yaml:12:5"
    assert finding.details["key_path"] == "input_features[1].categories"
    assert finding.message.startswith("input_features[1].categories: missing required key")


@pytest.mark.parametrize("missing", ["name", "version", "input_features", "output"])
def test_each_required_key(tmp_path: Path, missing: str) -> None:
    data = {"name": "m", "version": "1", "input_features": [{"name": "a", "type": "float"}],
            "output": [{"name": "y", "type": "float"}]}
    del data[missing]
    _, findings = load_metadata(write(tmp_path, json.dumps(data)))  # JSON is YAML
    (finding,) = errors(findings)
    assert finding.details["key_path"] == missing
    assert f"missing required key {missing!r}" in finding.message


def test_feature_needs_name_and_type(tmp_path: Path) -> None:
    text = GOOD.replace("  - {name: tenure, type: float}", "  - {type: float}\n  - {name: x}")
    _, findings = load_metadata(write(tmp_path, text))
    paths = sorted(f.details["key_path"] for f in errors(findings))
    assert paths == ["input_features[0].name", "input_features[1].type"]
    assert [f.line for f in errors(findings)] == [11, 12]


@pytest.mark.parametrize("setting,value,fragment", [
    ("timeout", "soon", "must be number"),
    ("timeout", "0", "less than or equal to the minimum"),
    ("memory", "lots", "not a memory size"),
    ("rtol", "-1", "less than the minimum"),
    ("allow_warnings", '"X has"', "must be array"),
    ("trust_pickle", "[1]", "must be string"),
    ("smoke_rows", "0", "less than the minimum"),
])
def test_settings_are_validated(tmp_path: Path, setting: str, value: str, fragment: str) -> None:
    base = GOOD.split("envcheck:")[0]
    _, findings = load_metadata(write(tmp_path, base + f"envcheck:\n  {setting}: {value}\n"))
    (finding,) = errors(findings)
    assert finding.details["key_path"].startswith(f"envcheck.{setting}")
    assert finding.line == base.count("\n") + 2
    assert fragment in finding.message


def test_unknown_setting_is_an_error_with_suggestion(tmp_path: Path) -> None:
    _, findings = load_metadata(write(tmp_path, GOOD + "  timout: 5\n"))
    (finding,) = errors(findings)
    assert "unknown setting 'timout' (did you mean 'timeout'?)" in finding.message
    assert finding.line == GOOD.count("\n") + 1


def test_typo_of_known_key_warns_custom_key_does_not(tmp_path: Path) -> None:
    _, findings = load_metadata(write(tmp_path, GOOD + "descripton: x\nteam_slack: '#ml'\n"))
    assert [f.severity for f in findings] == [Severity.WARNING]
    assert "did you mean 'description'" in findings[0].message


def test_version_read_as_shorter_number_warns(tmp_path: Path) -> None:
    _, findings = load_metadata(write(tmp_path, GOOD.replace("version: 1.0", "version: 1.10")))
    assert [f.severity for f in findings] == [Severity.WARNING]
    assert findings[0].line == 2


def test_not_a_python_version(tmp_path: Path) -> None:
    _, findings = load_metadata(write(tmp_path, GOOD.replace('"3.8"', "three")))
    (finding,) = errors(findings)
    assert finding.details["key_path"] == "python_version" and finding.line == 9


def test_non_string_key(tmp_path: Path) -> None:
    _, findings = load_metadata(write(tmp_path, GOOD + "on: push\n"))
    (finding,) = errors(findings)
    assert "key True is not a string" in finding.message


def test_empty_file(tmp_path: Path) -> None:
    data, findings = load_metadata(write(tmp_path, "# nothing\n"))
    assert data == {}
    assert "is empty" in errors(findings)[0].message


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    data, findings = load_metadata(write(tmp_path, GOOD + "#" * MAX_BYTES))
    assert data == {}
    assert "refused" in errors(findings)[0].message


def test_format_path() -> None:
    assert format_path(["input_features", 1, "categories"]) == "input_features[1].categories"
    assert format_path([]) == "(top level)"


# --------------------------------------------------------------------------- the schema

def test_schema_ships_and_is_valid() -> None:
    shipped = resources.files("envcheck").joinpath("read/schema/metadata.schema.json").read_text()
    schema = json.loads(shipped)
    assert schema == load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["required"]) == {"name", "version", "input_features", "output"}
    for key in ("description", "author", "created_date", "trained_on_data", "hyperparameters",
                "python_version", "artifacts", "interface", "envcheck"):
        assert key in schema["properties"]
    assert set(schema["$defs"]["settings"]["properties"]) == {
        "timeout", "memory", "rtol", "atol", "allow_warnings", "trust_pickle", "smoke_rows",
        "max_output_mb"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("abc:-[]{}&*!|>'\"#\n\t ,?%@`0123456789.")),
                    max_size=120))
def test_never_raises(tmp_path: Path, text: str) -> None:
    """Whatever the bytes, a result and findings, never a traceback."""
    data, findings = load_metadata(write(tmp_path, text))
    assert isinstance(data, dict)
    if not data:
        assert errors(findings)


def test_clean_validation_is_remembered_errors_never(tmp_path, monkeypatch) -> None:
    """A warm check skips jsonschema for metadata it validated before; errors always show."""
    good = {"name": "m", "version": "1", "output": [{"name": "y", "type": "float"}],
            "input_features": [{"name": "x", "type": "float"}]}
    assert validate_metadata(good, cache_root=tmp_path) == []
    marker = _clean_marker(good, tmp_path)
    assert marker is not None and marker.exists()
    bad = {**good, "input_features": [{"name": "x", "type": "categorical"}]}
    for _ in range(2):
        findings = validate_metadata(bad, cache_root=tmp_path)
        assert any("categories" in f.message for f in findings)
    assert not _clean_marker(bad, tmp_path).exists()
