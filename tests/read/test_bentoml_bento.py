"""bento.yaml: the Python a bento asks for, the models it names, what its schema says."""

from __future__ import annotations

from pathlib import Path

from envcheck.model.findings import Severity
from envcheck.read.bentoml_bento import (
    bento_model_tags,
    bento_python,
    model_directory,
    schema_features,
)


def route(properties: dict[str, object], name: str = "predict") -> dict[str, object]:
    return {"name": name, "input": {"type": "object", "properties": properties}}


def test_python_from_version_txt_then_image_then_docker(tmp_path: Path) -> None:
    bento = {"image": {"python_version": "3.11"}, "docker": {"python_version": "3.9"}}
    assert bento_python(tmp_path, bento, {}) == ("3.11", "bento.yaml image.python_version", [])
    assert bento_python(tmp_path, {"docker": {"python_version": 3.9}}, {})[:2] == \
        ("3.9", "bento.yaml docker.python_version")
    (tmp_path / "env" / "python").mkdir(parents=True)
    (tmp_path / "env" / "python" / "version.txt").write_text("3.10.13\n")
    assert bento_python(tmp_path, bento, {}) == ("3.10.13", "env/python/version.txt", [])


def test_no_python_anywhere_is_a_warning(tmp_path: Path) -> None:
    version, source, [finding] = bento_python(tmp_path, {"image": {}}, {("image",): 7})
    assert (version, source) == (None, None)
    assert finding.severity is Severity.WARNING and (finding.file, finding.line) == \
        ("bento.yaml", 7)
    assert finding.message.startswith("neither env/python/version.txt nor bento.yaml "
                                      "image.python_version names the bento's Python")


def test_model_tags_from_every_place_once_in_order() -> None:
    bento = {"models": ["iris:v1", {"tag": "churn:v2", "module": "bentoml.sklearn"}],
             "services": [{"models": [{"tag": "churn:v2"}, {"tag": "other:v3"}]},
                          "not a service", {"models": None}]}
    assert bento_model_tags(bento) == ["iris:v1", "churn:v2", "other:v3"]
    assert bento_model_tags({"models": "churn:v1", "services": None}) == []


def test_model_directory_inside_models_only(tmp_path: Path) -> None:
    (tmp_path / "models" / "churn" / "v1").mkdir(parents=True)
    assert model_directory(tmp_path, "churn:v1") == (tmp_path / "models" / "churn" / "v1", None)
    _, escaped = model_directory(tmp_path, "../..:etc")
    assert escaped is not None and escaped.message == \
        "model tag '../..:etc' in bento.yaml points outside models/"
    _, missing = model_directory(tmp_path, "churn:v2")
    assert missing is not None and missing.details == {"model": "churn:v2",
                                                       "expected": "models/churn/v2/"}


def test_schema_features_when_the_inputs_are_named_scalars() -> None:
    props = {"tenure": {"type": "number"}, "tickets": {"type": "integer"},
             "plan": {"type": "string"}, "active": {"type": "boolean"}}
    bento = {"schema": {"routes": [route({"x": {"type": "array"}}, "explain"), route(props)]}}
    assert schema_features(bento) == [
        {"name": "tenure", "type": "float"}, {"name": "tickets", "type": "int"},
        {"name": "plan", "type": "string"}, {"name": "active", "type": "bool"}]


def test_schema_features_not_when_an_input_is_not_a_column() -> None:
    # def predict(self, rows: list) -> list: the schema does not say enough.
    rows = {"schema": {"routes": [route({"rows": {"type": "array", "items": {}}})]}}
    assert schema_features(rows) == []
    assert schema_features({"schema": {"routes": []}}) == []
    assert schema_features({"apis": [{"name": "predict", "input_type": "PandasDataFrame"}]}) == []
