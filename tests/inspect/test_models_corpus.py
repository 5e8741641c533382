"""The real-model corpus (fixtures/models, written by make_models.py with real library
versions from PyPI): every model passes pickle.safety as shipped, with no trust line; the
``__main__`` ones fail with the explanation a user needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envcheck.inspect.origins import MAIN_REASON
from envcheck.inspect.pickles import check_safety, inspect_pickle
from envcheck.model.findings import Severity, Status
from envcheck.model.options import Options
from envcheck.read.formats import read_package

MODELS = Path(__file__).resolve().parents[2] / "fixtures" / "models"
MANIFEST = json.loads((MODELS / "MANIFEST.json").read_text())


def _safety(name: str):
    pkg, _ = read_package(MODELS / name, Options())
    assert pkg is not None
    assert "trust_pickle" not in pkg.settings  # as shipped: nobody vouches for anything
    inspections = [inspect_pickle(p) for p in pkg.artifacts]
    assert inspections and all(i.error is None for i in inspections)
    return check_safety(pkg, inspections, trusted=[])


def test_corpus_is_large_and_small() -> None:
    passing = [n for n, e in MANIFEST.items() if e["expect"] == "pass"]
    assert len(passing) >= 30
    stacks = {e["written_by"]["numpy"].split(".")[0] for e in MANIFEST.values()}
    assert stacks == {"1", "2"}
    pandas = {e["written_by"]["pandas"].split(".")[0] for e in MANIFEST.values()}
    assert pandas == {"2", "3"}
    for family in ("sk-", "xgb-", "lgbm-", "catboost-", "statsmodels-", "imblearn-",
                   "pandas-", "numpy-"):
        assert any(family in n for n in passing), family
    size = sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file())
    assert size < 4_000_000


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if e["expect"] == "pass"))
def test_real_model_passes_as_shipped(name: str) -> None:
    result = _safety(name)
    assert result.status is Status.PASS, result.headline
    assert all(f.severity is Severity.INFO for f in result.findings)


@pytest.mark.parametrize("name, global_", [("np2-main-class", "__main__.MainTransformer"),
                                           ("np2-main-function", "__main__.main_function")])
def test_main_models_fail_with_the_explanation(name: str, global_: str) -> None:
    result = _safety(name)
    assert result.status is Status.FAIL
    assert result.headline == (f"model.pkl: refused 1 global(s) or construct(s) -- "
                               f"defined in __main__: {global_}")
    [detail] = [f for f in result.findings if not f.details.get("summary")]
    assert detail.message.endswith(f"imports {global_} at byte {detail.details['offset']}: "
                                   f"{MAIN_REASON}")
    assert "move it into a module shipped with the package" in detail.message
    assert detail.details["origin"] == "main"


def test_main_global_cannot_be_trusted() -> None:
    pkg, _ = read_package(MODELS / "np2-main-class", Options())
    assert pkg is not None
    result = check_safety(pkg, [inspect_pickle(pkg.artifacts[0])],
                          trusted=["__main__:MainTransformer", "__main__.*"])
    assert result.status is Status.FAIL
