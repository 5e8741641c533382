"""envcheck.inspect.origins (+ package_code, gadgets, the VM-side rules in policy): a
global is judged by what the pickle does with it and where it comes from."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from envcheck.inspect.gadgets import GADGET_CLASSES, INIT_READS_FILES
from envcheck.inspect.package_code import read_package_code
from envcheck.inspect.pickles import check_safety, inspect_pickle
from envcheck.model.findings import Status
from envcheck.model.package import ModelPackage

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "pickles"))
import make_corpus as mc  # noqa: E402

PROTO = mc.proto(4)


def package(root: Path, requirements: tuple[str, ...] = (),
            settings: Optional[dict[str, Any]] = None,
            files: Optional[dict[str, str]] = None) -> ModelPackage:
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    metadata: dict[str, Any] = {"envcheck": settings} if settings else {}
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py", metadata=metadata,
                        requirement_lines=list(requirements),
                        pins={r.split("==")[0]: r.split("==")[1] for r in requirements})


def verdict(root: Path, data: bytes, **kw: Any) -> tuple[Status, str]:
    (root / "model.pkl").write_bytes(data)
    result = check_safety(package(root, **kw), [inspect_pickle(root / "model.pkl")], [])
    return result.status, result.headline


def constructed(module: str, name: str) -> bytes:  # NEWOBJ: cls.__new__(cls), then BUILD
    return (PROTO + mc.sglob(module, name) + mc.EMPTY_TUPLE + mc.NEWOBJ + mc.EMPTY_DICT
            + mc.BUILD + mc.STOP)


def called(module: str, name: str, arg: str = "x") -> bytes:  # REDUCE: module.name(arg)
    return PROTO + mc.sglob(module, name) + mc.u(arg) + mc.TUPLE1 + mc.REDUCE + mc.STOP


def referenced(module: str, name: str) -> bytes:
    return PROTO + mc.sglob(module, name) + mc.STOP


FEATURES = '''
import os
from os import system
from subprocess import Popen as P
import subprocess
from sklearn.base import BaseEstimator

class Scaler(BaseEstimator):
    pass

def log_clip(x):
    return x

def system_wrapper(cmd):
    return os.system(cmd)

class Runner(P):
    pass

class Runner2(subprocess.Popen):
    pass

class Indirect(Runner):
    pass

alias = os.system
'''


def test_package_code_is_read_not_imported(tmp_path: Path) -> None:
    (tmp_path / "features.py").write_text(FEATURES + "\nraise SystemExit('imported!')\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("from .impl import Model\n")
    (tmp_path / "lib" / "impl.py").write_text("class Model: pass\n")
    (tmp_path / "dyn.py").write_text("globals()['Model'] = print\nclass Model: pass\n")
    code = read_package_code([tmp_path])
    assert code.binding("features", "Scaler").kind == "class"
    assert code.binding("features", "log_clip").kind == "def"
    assert code.binding("features", "system").target == ("os", "system")
    assert code.binding("features", "alias").kind == "other"
    assert code.binding("lib", "Model").target == ("lib.impl", "Model")
    assert code.binding("dyn", "Model") is None  # rewrites its namespace: vouches for nothing
    assert code.ships("lib.impl") and not code.ships("sklearn")


@pytest.mark.parametrize("data, status", [
    (constructed("features", "Scaler"), Status.PASS),
    (called("features", "Scaler"), Status.PASS),  # constructing the package's class
    (referenced("features", "log_clip"), Status.PASS),  # FunctionTransformer(func=...)
    (referenced("features", "system_wrapper"), Status.PASS),  # the package's own def
    (called("features", "log_clip"), Status.FAIL),  # a def may not be called on load
    (called("features", "system_wrapper"), Status.FAIL),
    (referenced("features", "alias"), Status.FAIL),
    (referenced("features", "Missing"), Status.FAIL),
    (referenced("notshipped", "X"), Status.FAIL),
])
def test_package_defined_globals(tmp_path: Path, data: bytes, status: Status) -> None:
    assert verdict(tmp_path, data, files={"features.py": FEATURES})[0] is status


@pytest.mark.parametrize("name, gadget", [
    ("system", "os.system"), ("P", "subprocess.Popen"), ("Runner", "subprocess.Popen"),
    ("Runner2", "subprocess.Popen"), ("Indirect", "Runner")])
def test_reexported_and_subclassed_gadgets_are_dangerous(tmp_path: Path, name: str,
                                                         gadget: str) -> None:
    for data in (referenced("features", name), called("features", name, "true")):
        status, headline = verdict(tmp_path, data, files={"features.py": FEATURES})
        assert status is Status.FAIL
        assert headline.endswith(f"known dangerous: features.{name}"), headline
    (tmp_path / "model.pkl").write_bytes(referenced("features", name))
    result = check_safety(package(tmp_path), [inspect_pickle(tmp_path / "model.pkl")],
                          ["features.*"])  # a wildcard does not cover it either
    assert result.status is Status.FAIL
    assert any(gadget in f.message for f in result.findings)


def test_distribution_origin(tmp_path: Path) -> None:
    cat = ("catboost==1.2.7",)
    assert verdict(tmp_path, constructed("catboost.core", "CatBoostClassifier"),
                   requirements=cat)[0] is Status.PASS
    status, headline = verdict(tmp_path, constructed("catboost.core", "CatBoostClassifier"))
    assert headline.endswith("no installed distribution: catboost.core.CatBoostClassifier")
    # pulled in: scipy by scikit-learn, patsy by statsmodels
    assert verdict(tmp_path, constructed("scipy.stats._continuous_distns", "uniform_gen"),
                   requirements=("scikit-learn==1.5.2",))[0] is Status.PASS
    assert verdict(tmp_path, referenced("patsy.design_info", "DesignInfo"),
                   requirements=("statsmodels==0.14.4",))[0] is Status.PASS
    # called: only the exact allowlist, or Cython's generated unpickler
    status, headline = verdict(tmp_path, called("catboost.core", "some_function"),
                               requirements=cat)
    assert headline.endswith("called while unpickling: catboost.core.some_function")
    assert verdict(tmp_path, called("catboost._catboost", "__pyx_unpickle_X"),
                   requirements=cat)[0] is Status.PASS
    # the standard library is never "installed", whatever a requirement is called
    status, headline = verdict(tmp_path, constructed("logging", "Logger"),
                               requirements=("logging==0.4.9.6",))
    assert headline.endswith("standard library: logging.Logger")


@pytest.mark.parametrize("module, name", sorted(GADGET_CLASSES))
def test_every_surveyed_gadget_class_is_denied(tmp_path: Path, module: str, name: str) -> None:
    top = module.split(".")[0]
    reqs = () if top in ("subprocess", "os", "asyncio", "logging") else (f"{top}==1.0",)
    for data in (constructed(module, name), called(module, name, "/tmp/x")):
        status, headline = verdict(tmp_path, data, requirements=reqs)
        assert status is Status.FAIL and "known dangerous" in headline, headline


@pytest.mark.parametrize("module, name", sorted(INIT_READS_FILES))
def test_booster_may_be_restored_not_called(tmp_path: Path, module: str, name: str) -> None:
    reqs = ("xgboost==2.1.4", "lightgbm==4.5.0")
    assert verdict(tmp_path, constructed(module, name), requirements=reqs)[0] is Status.PASS
    status, headline = verdict(tmp_path, called(module, name, "/etc/passwd"), requirements=reqs)
    assert status is Status.FAIL and "known dangerous" in headline


class _WithDoc:
    pass


def test_build_may_set_doc_to_text_only(tmp_path: Path) -> None:
    def build(key: str, value: bytes) -> bytes:
        return (PROTO + mc.sglob("statsmodels.base.wrapper", "ResultsWrapper") + mc.EMPTY_TUPLE
                + mc.NEWOBJ + mc.EMPTY_DICT + mc.u(key) + value + mc.SETITEM + mc.BUILD
                + mc.STOP)
    reqs = ("statsmodels==0.14.4",)
    assert verdict(tmp_path, build("__doc__", mc.u("OLS results")), requirements=reqs)[0] \
        is Status.PASS
    assert verdict(tmp_path, build("__doc__", mc.NONE), requirements=reqs)[0] is Status.PASS
    for key, value in (("__doc__", mc.sglob("os", "getcwd")), ("__class__", mc.u("x")),
                       ("__reduce__", mc.u("x")), ("__doc__", mc.binint(1))):
        status, headline = verdict(tmp_path, build(key, value), requirements=reqs)
        assert status is Status.FAIL, (key, headline)


def test_protocol2_bytes_over_64k_pass(tmp_path: Path) -> None:
    status, _ = verdict(tmp_path, pickle.dumps(bytes(range(256)) * 400, protocol=2))
    assert status is Status.PASS
    status, headline = verdict(tmp_path, pickle.dumps(bytes(300_000), protocol=2))
    assert status is Status.PASS, headline


def test_getattr_only_on_constructed_objects(tmp_path: Path) -> None:
    reqs = ("scikit-learn==1.5.2",)
    obj = mc.sglob("scipy.stats._continuous_distns", "uniform_gen") + mc.EMPTY_TUPLE + mc.NEWOBJ
    method = mc.sglob("builtins", "getattr") + obj + mc.u("_ppf_single") + mc.TUPLE2 + mc.REDUCE
    assert verdict(tmp_path, PROTO + method + mc.STOP, requirements=reqs)[0] is Status.PASS
    for bad in (
            PROTO + method + mc.EMPTY_TUPLE + mc.REDUCE + mc.STOP,  # calling the bound method
            PROTO + mc.sglob("builtins", "getattr") + mc.sglob("numpy", "ndarray")
            + mc.u("tofile") + mc.TUPLE2 + mc.REDUCE + mc.STOP,  # on a class
            PROTO + mc.sglob("builtins", "getattr") + obj + mc.u("__class__") + mc.TUPLE2
            + mc.REDUCE + mc.STOP,  # a dunder
            PROTO + mc.sglob("builtins", "getattr") + mc.STOP):  # imported, not called
        status, headline = verdict(tmp_path, bad, requirements=reqs)
        assert status is Status.FAIL and "dangerous" in headline or "REDUCE" in headline, headline


def test_a_shipped_module_shadows_an_installed_one(tmp_path: Path) -> None:
    # the package ships sklearn/ whose LogisticRegression is os.system: the exact
    # allowlist alone would have let sklearn.linear_model._logistic.LogisticRegression in
    shadow = {"sklearn/__init__.py": "",
              "sklearn/linear_model/__init__.py": "",
              "sklearn/linear_model/_logistic.py": "from os import system as "
                                                   "LogisticRegression\n"}
    data = called("sklearn.linear_model._logistic", "LogisticRegression", "true")
    status, headline = verdict(tmp_path, data, requirements=("scikit-learn==1.5.2",),
                               files=shadow)
    assert status is Status.FAIL
    assert "known dangerous: sklearn.linear_model._logistic.LogisticRegression" in headline


def test_a_plain_folder_is_not_a_module(tmp_path: Path) -> None:
    (tmp_path / "numpy").mkdir()  # data, not code: does not shadow the installed numpy
    (tmp_path / "numpy" / "notes.txt").write_text("x")
    assert not read_package_code([tmp_path]).ships("numpy")


@pytest.mark.parametrize("module, name", [
    ("pandas", "DataFrame"), ("pandas", "Series"), ("pandas", "Index"), ("pandas", "RangeIndex"),
    ("pandas", "StringDtype"), ("pandas.arrays", "StringArray"), ("numpy.ma", "MaskedArray"),
    ("sklearn.metrics._ranking", "roc_auc_score")])
def test_named_false_alarms_pass(tmp_path: Path, module: str, name: str) -> None:
    data = referenced(module, name) if name.islower() else constructed(module, name)
    assert verdict(tmp_path, data, requirements=("scikit-learn==1.9.1", "pandas==3.1.1"))[0] \
        is Status.PASS


def test_links_and_fifos_are_never_read(tmp_path: Path) -> None:
    import os

    outside = tmp_path / "outside.py"
    outside.write_text("class Secret: pass\n")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "linked.py").symlink_to(outside)
    os.mkfifo(pkg / "fifo.py")  # opening it would block: the reader must not
    code = read_package_code([pkg])
    assert code.binding("linked", "Secret") is None and code.modules["linked"].dynamic
    assert code.modules["fifo"].dynamic
