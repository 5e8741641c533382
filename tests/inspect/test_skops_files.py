"""envcheck.inspect.skops_files: a skops schema's types through the pickle policy."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from envcheck.inspect.artifacts import inspect_artifact

SKOPS = Path(__file__).resolve().parents[2] / "fixtures" / "formats" / "benign" / "pipeline.skops"


def _skops(tmp_path: Path, content: dict) -> Path:
    schema = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
              "protocol": 2, "_skops_version": "0.16.0", "content": content}
    path = tmp_path / "m.skops"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    return path


def test_the_real_pipeline_passes_with_its_sklearn_versions() -> None:
    inspection, = inspect_artifact(SKOPS)
    assert inspection.safe and inspection.format == "skops"
    assert inspection.sklearn_versions == {"Pipeline": {"1.9.1": 1},
                                           "StandardScaler": {"1.9.1": 1},
                                           "LogisticRegression": {"1.9.1": 1}}
    assert ("sklearn.linear_model._logistic", "LogisticRegression") in {
        (g.module, g.name) for g in inspection.globals}


@pytest.mark.parametrize("node, reason", [
    ({"__class__": "system", "__module__": "os", "__loader__": "FunctionNode"},
     "known dangerous"),
    ({"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode"},
     "known dangerous"),
    ({"__class__": "Popen", "__module__": "subprocess", "__loader__": "ObjectNode"},
     "known dangerous"),
    ({"__class__": "x", "__module__": "os", "__loader__": "EvalNode"},
     "skops node with unknown __loader__ 'EvalNode'"),
])
def test_dangerous_types_are_refused_like_in_a_pickle(tmp_path: Path, node: dict,
                                                      reason: str) -> None:
    inspection, = inspect_artifact(_skops(tmp_path, {"x": node}))
    assert any(reason in u.reason and u.dangerous for u in inspection.unsafe), inspection.unsafe


def test_a_function_may_only_be_referenced_not_built(tmp_path: Path) -> None:
    # numpy.log1p is allowed as a reference (FunctionTransformer(np.log1p)) ...
    ref = {"__class__": "log1p", "__module__": "numpy", "__loader__": "FunctionNode"}
    assert inspect_artifact(_skops(tmp_path, {"f": ref}))[0].safe
    # ... but a node that calls it is refused, as REDUCE of a reference is in a pickle
    call = dict(ref, __loader__="ReduceNode")
    inspection, = inspect_artifact(_skops(tmp_path, {"f": call}))
    assert any("which may only be referenced" in u.reason for u in inspection.unsafe)


def test_json_values_import_nothing(tmp_path: Path) -> None:
    value = {"__class__": "NoSuchType", "__module__": "nowhere", "__loader__": "JsonNode",
             "content": "1", "is_json": True}
    inspection, = inspect_artifact(_skops(tmp_path, {"v": value}))
    assert inspection.safe and ("nowhere", "NoSuchType") not in {
        (g.module, g.name) for g in inspection.globals}


def test_an_unreadable_schema_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "m.skops"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", "{not json")
    inspection, = inspect_artifact(path)
    assert inspection.error is not None and "skops schema.json cannot be read" in inspection.error


def test_a_compiled_loss_is_judged_under_its_scikit_learn_module(tmp_path: Path) -> None:
    # skops records sklearn's Cython losses under the module they report ("_loss")
    loss = {"__class__": "CyHalfBinomialLoss", "__module__": "_loss", "__loader__": "LossNode"}
    inspection, = inspect_artifact(_skops(tmp_path, {"l": loss}))
    assert inspection.safe
    assert ("sklearn._loss._loss", "CyHalfBinomialLoss") in {
        (g.module, g.name) for g in inspection.globals}
    # ... only for a LossNode: elsewhere "_loss" is just an unknown module
    # (and the origin policy of pickle.safety judges "_loss" as a module no distribution
    # the package installs provides)
    other = dict(loss, __loader__="ObjectNode")
    seen = {(g.module, g.name) for g in inspect_artifact(_skops(tmp_path, {"l": other}))[0].globals}
    assert ("_loss", "CyHalfBinomialLoss") in seen
    assert ("sklearn._loss._loss", "CyHalfBinomialLoss") not in seen
