"""model.yaml's context: read, and compared with the environment's pins and Python."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import FIXTURES

from envcheck.model.findings import Severity
from envcheck.model.options import Options
from envcheck.read.bentoml_model import read_model_yaml
from envcheck.read.formats import read_package

STORE_MATCH = FIXTURES / "bentoml" / "store-match"


def entry_with(tmp_path: Path, old: str, new: str) -> Path:
    entry = tmp_path / "entry"
    shutil.copytree(STORE_MATCH, entry)
    text = (entry / "model.yaml").read_text(encoding="utf-8")
    assert old in text
    (entry / "model.yaml").write_text(text.replace(old, new), encoding="utf-8")
    return entry


def test_context_of_the_real_entry() -> None:
    model, findings = read_model_yaml(STORE_MATCH, "model.yaml")
    assert findings == [] and model is not None
    assert (model.module, model.framework_name) == ("bentoml.sklearn", "sklearn")
    assert model.framework_versions == {"scikit-learn": "1.5.2"}
    assert (model.serialization, model.model_file) == ("joblib",
                                                       STORE_MATCH / "saved_model.pkl")
    assert model.lines[("context", "framework_versions")] == 9


def test_no_context_is_a_warning(tmp_path: Path) -> None:
    entry = entry_with(tmp_path, "context:\n", "not_context:\n")
    model, [finding] = read_model_yaml(entry, "model.yaml")
    assert model is not None and model.framework_versions == {}
    assert finding.severity is Severity.WARNING
    assert finding.message == ("model.yaml has no `context:` mapping: the framework, BentoML "
                               "and Python versions the model was saved with are unknown")


def test_framework_versions_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    entry = entry_with(tmp_path, "  framework_versions:\n    scikit-learn: 1.5.2\n",
                       "  framework_versions: [scikit-learn]\n")
    _, findings = read_model_yaml(entry, "model.yaml")
    assert [(f.severity, f.message) for f in findings] == [
        (Severity.ERROR, "context.framework_versions in model.yaml is not a mapping"),
        (Severity.WARNING, ("context.framework_versions in model.yaml is empty: the library "
                           "versions the model was saved with are unknown"))]


def test_saved_by_another_bentoml_than_the_env_pins(tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    shutil.copytree(STORE_MATCH, entry)
    with (entry / "requirements.txt").open("a", encoding="utf-8") as handle:
        handle.write("bentoml==1.2.20\n")
    pkg, _ = read_package(entry, Options())
    [bentoml] = [f for f in pkg.version_findings if "bentoml" in f.message]
    assert bentoml.severity is Severity.WARNING
    assert bentoml.message == ("model.yaml: the model was saved by bentoml 1.4.40 but the "
                               "environment pins bentoml==1.2.20")
    assert (bentoml.file, bentoml.line) == ("model.yaml", 11)
