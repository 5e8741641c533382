"""envcheck.inspect.trust and its use by pickle.safety / record: wildcards, exact names,
where each trust came from, and the denylist no wildcard or package trust overrides."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from envcheck.commands.cli import _options, build_parser
from envcheck.commands.record import RecordError, record_package
from envcheck.inspect.pickles import allowed_predicate, check_safety, inspect_pickle
from envcheck.inspect.trust import CLI_TRUST, PACKAGE_TRUST, parse_entry
from envcheck.model.findings import Severity, Status
from envcheck.model.options import Options

from .test_origins import PROTO, mc, package


def _two_unknown(root: Path) -> Path:
    data = (PROTO + mc.sglob("mylib.models", "Fancy") + mc.EMPTY_TUPLE + mc.NEWOBJ
            + mc.sglob("otherlib", "Thing") + mc.EMPTY_TUPLE + mc.NEWOBJ + mc.TUPLE2 + mc.STOP)
    (root / "model.pkl").write_bytes(data)
    return root / "model.pkl"


@pytest.mark.parametrize("entry, module, name", [
    ("mylib.*", "mylib", "*"), ("mylib:*", "mylib", "*"), ("a.b:C", "a.b", "C"),
    ("a.b.C", "a.b", "C"), (" x:y ", "x", "y")])
def test_entries_parse(entry: str, module: str, name: str) -> None:
    trust = parse_entry(entry, CLI_TRUST)
    assert trust is not None and (trust.module, trust.name) == (module, name)


@pytest.mark.parametrize("entry", ["*", "mylib", ":", "os*", "a b:c", "a:b c", ".x"])
def test_bad_entries_are_none(entry: str) -> None:
    assert parse_entry(entry, CLI_TRUST) is None


def test_wildcard_trusts_a_module_tree_and_names_its_origin(tmp_path: Path) -> None:
    pkg = package(tmp_path, settings={"trust_pickle": ["otherlib.*"]})
    insp = inspect_pickle(_two_unknown(tmp_path))
    refused = check_safety(pkg, [insp], [])
    assert refused.status is Status.FAIL
    assert refused.headline == ("model.pkl: refused 1 global(s) or construct(s) -- no "
                                "installed distribution: mylib.models.Fancy")
    ok = check_safety(pkg, [insp], ["mylib.*"])
    assert ok.status is Status.WARN  # the package's own trust of otherlib is a warning
    by = {f.details["module"]: f for f in ok.findings if "trusted_by" in f.details}
    assert by["mylib.models"].severity is Severity.INFO
    assert by["mylib.models"].details["trusted_by"] == CLI_TRUST
    assert by["mylib.models"].details["trust_entry"] == "mylib.*"
    assert "trusted by --trust-pickle 'mylib.*'" in by["mylib.models"].message
    assert by["otherlib"].details["trusted_by"] == PACKAGE_TRUST
    assert "trusted by metadata.yaml's envcheck.trust_pickle 'otherlib.*'" \
        in by["otherlib"].message


def test_refusal_names_every_global(tmp_path: Path) -> None:
    insp = inspect_pickle(_two_unknown(tmp_path))
    result = check_safety(package(tmp_path), [insp], [])
    assert result.headline == ("model.pkl: refused 2 global(s) or construct(s) -- no "
                               "installed distribution: mylib.models.Fancy, otherlib.Thing")


def test_wildcard_never_covers_the_denylist(tmp_path: Path) -> None:
    data = PROTO + mc.sglob("os", "system") + mc.u("true") + mc.TUPLE1 + mc.REDUCE + mc.STOP
    (tmp_path / "model.pkl").write_bytes(data)
    insp = inspect_pickle(tmp_path / "model.pkl")
    for trusted, settings in ((["os.*"], {}), ([], {"trust_pickle": ["os.*", "os:system"]})):
        result = check_safety(package(tmp_path, settings=settings), [insp], trusted)
        assert result.status is Status.FAIL
        detail = [f for f in result.findings if f.details.get("trust_refused")]
        assert detail and "covers it, but" in detail[0].message
    # only the user, exactly, on the command line
    assert check_safety(package(tmp_path), [insp], ["os:system"]).status is Status.WARN


def test_invalid_entry_is_a_warning_not_silence(tmp_path: Path) -> None:
    result = check_safety(package(tmp_path), [], ["mylib"])
    assert result.findings[0].message == ("--trust-pickle entry 'mylib' is neither "
                                          "module:name nor module.*: ignored")


def test_runtime_predicate_uses_wildcards_and_the_installed_env(tmp_path: Path) -> None:
    allowed = allowed_predicate(package(tmp_path), ["mylib.*"], installed=["catboost"])
    assert allowed("mylib.deep.mod", "X") and allowed("catboost.core", "CatBoostClassifier")
    assert not allowed("otherlib", "X") and not allowed("os", "system")
    assert not allowed("__main__", "Model")
    assert allowed_predicate(package(tmp_path), [])("sklearn.linear_model._coordinate_descent",
                                                    "Lasso")


def test_record_takes_trust_pickle() -> None:
    args = build_parser().parse_args(["record", "pkg", "--trust-pickle", "mylib.*",
                                      "--trust-pickle", "a:b"])
    assert _options(args).trust_pickle == ["mylib.*", "a:b"]


def test_record_refusal_names_all_globals(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    shutil.copytree(Path(__file__).resolve().parents[2] / "fixtures" / "models"
                    / "np2-sk-logreg-pipeline", root)
    _two_unknown(root)
    with pytest.raises(RecordError) as raised:
        record_package(root, Options(cache_dir=tmp_path / "cache"), None, False)
    assert str(raised.value) == (
        "refusing to load the model: pickle.safety failed: model.pkl: refused 2 global(s) "
        "or construct(s) -- no installed distribution: mylib.models.Fancy, otherlib.Thing")


def test_runtime_predicate_allows_what_the_static_check_proved() -> None:
    models = Path(__file__).resolve().parents[2] / "fixtures" / "models"
    from envcheck.read.formats import read_package

    pkg, _ = read_package(models / "np2-sk-randomsearch-scorers", Options())
    assert pkg is not None
    insp = inspect_pickle(pkg.artifacts[0])
    assert ("builtins", "getattr") in {(g.module, g.name) for g in insp.globals}
    assert allowed_predicate(pkg, [], inspections=[insp])("builtins", "getattr")
    assert not allowed_predicate(pkg, [])("builtins", "getattr")
