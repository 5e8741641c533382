"""envcheck.inspect.pickles: static inspection (pickle.safety, pickle.versions) on real corpora.

The malicious corpus is hand-assembled by fixtures/pickles/make_corpus.py; its MANIFEST
records that each payload really runs under pickle.load/joblib.load (proven again here in a
child interpreter for a sample).  The benign corpus holds real models pickled by
scikit-learn 1.9.1/numpy 2.x and scikit-learn 0.24.2/numpy 1.19.5.
"""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcheck.inspect.pickles import (
    check_safety,
    check_versions,
    inspect_pickle,
    is_pickle_artifact,
)
from envcheck.inspect.policy import PickleInspection
from envcheck.inspect.versions import xgboost_version
from envcheck.model.findings import Severity, Status
from envcheck.model.package import ModelPackage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

CORPUS = FIXTURES / "pickles"
MALICIOUS = CORPUS / "malicious"
BENIGN = CORPUS / "benign"
MANIFEST = json.loads((MALICIOUS / "MANIFEST.json").read_text())
SENTINEL = "ENVCHECK_PWNED"

sys.path.insert(0, str(CORPUS))
import make_corpus as mc  # noqa: E402  (the opcode assembler, reused for small cases)


def _pkg(root: Path, pins: dict[str, str] | None = None, **metadata: object) -> ModelPackage:
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py", pins=dict(pins or {}),
                        metadata=dict(metadata))


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- corpora


def test_corpora_are_large_enough_and_payloads_are_real() -> None:
    runs = [n for n, e in MANIFEST.items() if e.get("payload_runs")]
    assert len(runs) >= 30, "each technique's payload must be proven to run"
    benign = [p for p in BENIGN.iterdir() if p.is_file()]
    assert len(benign) >= 15
    assert all(p.stat().st_size < 300_000 for p in benign)
    assert any(p.name.startswith("sklearn0242_") for p in benign)  # numpy 1.x writers


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_malicious_pickle_is_flagged_and_never_runs(name: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # payloads create ./ENVCHECK_PWNED when they run
    path = MALICIOUS / name
    root = MALICIOUS
    if name in mc.PACKAGE_FILES:  # the package's own modules re-export or subclass a gadget
        root = tmp_path / "pkg"
        root.mkdir()
        path = root / name
        path.write_bytes((MALICIOUS / name).read_bytes())
        for module, text in mc.PACKAGE_FILES[name].items():
            (root / module).write_text(text)
    result = inspect_pickle(path)
    assert not result.safe
    check = check_safety(_pkg(root), [result], trusted=[])
    assert check.id == "pickle.safety" and check.status is Status.FAIL
    assert result.error is not None or any(
        f.details.get("dangerous") for f in check.findings if "dangerous" in f.details)
    assert all(f.file == name for f in check.findings)
    if result.error is None:  # no trust from the package, nor any wildcard, lets it through
        modules = sorted({g.module for g in result.globals})
        trusted = [f"{m}.*" for m in modules]
        vouched = _pkg(root, envcheck={"trust_pickle": trusted + [
            f"{g.module}:{g.name}" for g in result.globals]})
        assert check_safety(vouched, [result], trusted=trusted).status is Status.FAIL
    assert not any(p.name.startswith(SENTINEL) for p in tmp_path.rglob("*"))


def _unsafe_names(path: Path) -> set[str]:
    return {f"{u.module}.{u.name}" for u in inspect_pickle(path).unsafe}


@pytest.mark.parametrize("name, expected", [
    ("p0_global_os_system.pkl", "os.system"),
    ("py2_builtin_eval.pkl", "builtins.eval"),  # __builtin__ mapped like fix_imports does
    ("memo_overwrite.pkl", "os.system"),
    ("memoize_index_confusion.pkl", "os.system"),
    ("numpy_ufunc_reconstruct.pkl", "os.system"),  # the gadget's arguments are judged
    ("numpy_memmap_write.pkl", "numpy.memmap"),
    ("dotted_stack_global.pkl", "joblib.numpy_pickle.os.system"),
    ("joblib_payload_after_raw_array.joblib", "os.system"),
    ("joblib_array_bytes_are_opcodes.joblib", "os.system"),
    ("joblib_object_array_nested.joblib", "os.system"),
    ("joblib_lz4_payload.joblib", "os.system"),
    ("copyreg_reconstructor_popen.pkl", "subprocess.Popen"),
    ("code_object_marshal.pkl", "marshal.loads"),
    ("nested_joblib_load.pkl", "joblib.load"),
])
def test_the_payload_global_is_named(name: str, expected: str) -> None:
    assert expected in _unsafe_names(MALICIOUS / name)


@pytest.mark.parametrize("name", ["memo_overwrite.pkl", "joblib_payload_after_raw_array.joblib",
                                  "payload_after_big_blob.pkl", "inst_opcode.pkl"])
def test_offsets_point_at_the_importing_opcode(name: str) -> None:
    data = (MALICIOUS / name).read_bytes()
    refs = [u for u in inspect_pickle(MALICIOUS / name).unsafe if u.module == "os"]
    assert refs
    assert data[refs[0].offset] in (0x93, ord("c"), ord("i"))  # STACK_GLOBAL/GLOBAL/INST


def test_array_bytes_read_as_opcodes_are_attributed_to_pickle_load() -> None:
    result = inspect_pickle(MALICIOUS / "joblib_array_bytes_are_opcodes.joblib")
    assert result.format == "joblib" and result.arrays == 1
    assert any("pickle.load" in u.reason for u in result.unsafe)


@pytest.mark.parametrize("name, error", [
    ("concatenated_second_pickle.pkl", "after the pickle's STOP"),
    ("stack_global_non_string.pkl", "STACK_GLOBAL requires str"),
    ("unknown_opcode.pkl", "unknown opcode 0xfe"),
    ("truncated.pkl", "truncated"),
])
def test_fail_closed_on_malformed_streams(name: str, error: str) -> None:
    result = inspect_pickle(MALICIOUS / name)
    assert result.error is not None and error in result.error
    finding = check_safety(_pkg(MALICIOUS), [result], []).findings[0]
    assert finding.severity is Severity.ERROR and "will not be loaded" in finding.message


@pytest.mark.parametrize("path", sorted(p for p in BENIGN.iterdir() if p.is_file()),
                         ids=lambda p: p.name)
def test_benign_models_have_no_false_alarms(path: Path) -> None:
    result = inspect_pickle(path)
    assert result.error is None, result.error
    assert result.unsafe == []
    assert result.sklearn_versions or path.name == "object_array.joblib"
    check = check_safety(_pkg(BENIGN), [result], [])
    assert check.status is Status.PASS


def test_formats_writers_and_versions_of_benign_models() -> None:
    new = inspect_pickle(BENIGN / "random_forest.joblib")
    assert new.format == "joblib" and new.arrays > 0 and new.numpy_writer == "2.x"
    assert new.sklearn_versions == {"DecisionTreeClassifier": {"1.9.1": 9},
                                    "RandomForestClassifier": {"1.9.1": 1}}
    old = inspect_pickle(BENIGN / "sklearn0242_random_forest.joblib")
    assert old.numpy_writer == "1.x"
    assert old.sklearn_versions["RandomForestClassifier"] == {"0.24.2": 1}
    pipe = inspect_pickle(BENIGN / "sklearn0242_pipeline_columntransformer.joblib")
    assert pipe.format == "joblib-zlib"
    # numpy 1.x pickles np.log1p as _ufunc_reconstruct('numpy.core._multiarray_umath', ...)
    assert ("numpy.core._multiarray_umath", "log1p") in {(g.module, g.name) for g in pipe.globals}
    assert inspect_pickle(BENIGN / "ridge_protocol0.pkl").protocol == 0
    assert inspect_pickle(BENIGN / "knn_lz4.joblib").format == "joblib-lz4"
    assert inspect_pickle(BENIGN / "object_array.joblib").max_protocol == 5


@pytest.mark.slow
@pytest.mark.parametrize("name", ["p4_stack_global_os_system.pkl",
                                  "joblib_payload_after_raw_array.joblib",
                                  "joblib_zlib_payload.joblib",
                                  "memoize_index_confusion.pkl"])
def test_payload_really_runs_in_a_child(name: str, tmp_path: Path) -> None:
    """Proves the corpus is not inert: the real loader, in a child, runs the payload."""
    loader = MANIFEST[name]["loader"]
    code = ("import pickle, joblib, sys\n"
            + ("joblib.load(sys.argv[1])" if loader == "joblib"
               else "pickle.load(open(sys.argv[1], 'rb'))"))
    subprocess.run([sys.executable, "-c", code, str(MALICIOUS / name)], cwd=tmp_path,
                   capture_output=True, timeout=120)
    assert (tmp_path / SENTINEL).exists()


# --------------------------------------------------------------------------- safety policy


def _custom_class_pickle() -> bytes:
    return (mc.proto(4) + mc.sglob("mymod", "MyClass") + mc.EMPTY_TUPLE + mc.NEWOBJ
            + mc.EMPTY_DICT + mc.BUILD + mc.STOP)


def test_unknown_global_fails_and_can_be_trusted(tmp_path: Path) -> None:
    path = _write(tmp_path, "model.pkl", _custom_class_pickle())
    result = inspect_pickle(path)
    [ref] = result.unsafe
    assert (ref.module, ref.name, ref.offset, ref.dangerous) == ("mymod", "MyClass", 18, False)
    check = check_safety(_pkg(tmp_path), [result], [])
    assert check.status is Status.FAIL
    summary, finding = check.findings
    assert summary.details["summary"] is True
    assert summary.message == ("model.pkl: refused 1 global(s) or construct(s) -- no "
                               "installed distribution: mymod.MyClass")
    assert finding.file == "model.pkl"
    assert finding.details == {"module": "mymod", "name": "MyClass", "offset": 18,
                               "reason": "module mymod belongs to no distribution "
                               "requirements.txt installs, nor to the package",
                               "dangerous": False, "origin": "unknown"}
    assert "--trust-pickle mymod:MyClass" in finding.message
    for trusted in (["mymod.MyClass"], ["mymod:MyClass"]):
        assert check_safety(_pkg(tmp_path), [result], trusted).status is Status.PASS
    # The package trusting a global itself is never silent: a warning naming the setting.
    settings_pkg = _pkg(tmp_path, envcheck={"trust_pickle": ["mymod:MyClass"]})
    by_package = check_safety(settings_pkg, [result], [])
    assert by_package.status is Status.WARN
    assert by_package.findings[0].details["trusted_by"] == "metadata.yaml's envcheck.trust_pickle"
    assert "the package vouches for itself" in by_package.findings[0].message
    assert ("trusted by metadata.yaml's envcheck.trust_pickle 'mymod:MyClass'"
            in by_package.findings[0].message)


def test_trusting_a_dangerous_global_still_warns() -> None:
    result = inspect_pickle(MALICIOUS / "p4_stack_global_os_system.pkl")
    check = check_safety(_pkg(MALICIOUS), [result], ["os.system"])
    assert check.status is Status.WARN
    assert "known dangerous" in check.findings[0].message


def test_build_on_a_class_object_is_flagged(tmp_path: Path) -> None:
    data = (mc.proto(4) + mc.sglob("sklearn.base", "BaseEstimator") + mc.NONE + mc.EMPTY_DICT
            + mc.u("fit") + mc.NONE + mc.SETITEM + mc.TUPLE2 + mc.BUILD + mc.STOP)
    result = inspect_pickle(_write(tmp_path, "m.pkl", data))
    assert any("BUILD on sklearn.base.BaseEstimator" in u.reason for u in result.unsafe)


def test_calling_a_reference_only_global_is_flagged(tmp_path: Path) -> None:
    data = mc.proto(4) + mc.call(mc.sglob("numpy", "log1p"), mc.binint(1)) + mc.STOP
    result = inspect_pickle(_write(tmp_path, "m.pkl", data))
    assert any("may only be referenced" in u.reason for u in result.unsafe)


def test_joblib_array_inside_an_open_frame_fails_closed(tmp_path: Path) -> None:
    body = mc.joblib_wrapper(mc.dtype_f8(), 1) + mc.os_system_p4() + mc.POP
    data = mc.proto(4) + b"\x95" + struct.pack("<Q", len(body)) + body
    data += mc.raw_array_block(len(data), b"\0" * 8) + mc.STOP
    result = inspect_pickle(_write(tmp_path, "m.joblib", data))
    assert result.error is not None and "unfinished pickle frame" in result.error


def test_max_bytes_fails_closed(tmp_path: Path) -> None:
    result = inspect_pickle(BENIGN / "random_forest.joblib", max_bytes=1000)
    assert result.error is not None and "limit" in result.error
    bomb = _write(tmp_path, "bomb.pkl", zlib.compress(mc.proto(4) + mc.binbytes(b"\0" * 10**6)
                                                     + mc.STOP))
    assert "not inspected" in (inspect_pickle(bomb, max_bytes=50_000).error or "")


def test_is_pickle_artifact(tmp_path: Path) -> None:
    assert is_pickle_artifact(BENIGN / "knn_lz4.joblib")
    assert is_pickle_artifact(_write(tmp_path, "weights.bin", pickle.dumps([1], protocol=4)))
    assert is_pickle_artifact(_write(tmp_path, "model.z", zlib.compress(pickle.dumps([1], 4))))
    assert not is_pickle_artifact(_write(tmp_path, "data.csv", b"a,b\n1,2\n"))
    assert not is_pickle_artifact(_write(tmp_path, "x.z", zlib.compress(b"plain text")))


# --------------------------------------------------------------------------- versions


def test_sklearn_version_mismatch_names_estimator_versions_and_file() -> None:
    result = inspect_pickle(BENIGN / "sklearn0242_logistic_regression.pkl")
    check = check_versions(_pkg(BENIGN, {"scikit-learn": "1.2.2"}), [result], None)
    assert check.id == "pickle.versions" and check.status is Status.FAIL
    [finding] = check.findings
    assert finding.details == {"estimator": "LogisticRegression", "pickled_with": "0.24.2",
                               "declared": "1.2.2", "file": "sklearn0242_logistic_regression.pkl",
                               "count": 1, "objects": [{
                                   "estimator": "LogisticRegression", "count": 1,
                                   "file": "sklearn0242_logistic_regression.pkl"}]}
    for text in ("LogisticRegression", "0.24.2", "1.2.2"):
        assert text in finding.message
    ok = check_versions(_pkg(BENIGN, {"scikit-learn": "0.24.2", "numpy": "1.19.5"}),
                        [result], "3.8")
    assert ok.status is Status.PASS


def test_unpinned_sklearn_warns() -> None:
    result = inspect_pickle(BENIGN / "logistic_regression.pkl")
    check = check_versions(_pkg(BENIGN, {}), [result], None)
    assert check.status is Status.WARN
    assert "cannot be compared" in check.findings[0].message


def test_pre_018_estimators_are_reported(tmp_path: Path) -> None:
    data = (mc.proto(2) + mc.glob("sklearn.linear_model.logistic", "LogisticRegression")
            + mc.EMPTY_TUPLE + mc.NEWOBJ + mc.EMPTY_DICT + mc.u("C") + mc.binint(1)
            + mc.SETITEM + mc.BUILD + mc.STOP)
    result = inspect_pickle(_write(tmp_path, "old.pkl", data))
    assert result.sklearn_versions == {"LogisticRegression": {"pre-0.18": 1}}
    check = check_versions(_pkg(tmp_path, {"scikit-learn": "1.2.2"}), [result], None)
    assert check.status is Status.FAIL and "pre-0.18" in check.findings[0].message


def test_numpy_writer_against_numpy_pin() -> None:
    new = inspect_pickle(BENIGN / "logistic_regression.pkl")
    old = inspect_pickle(BENIGN / "sklearn0242_logistic_regression.pkl")
    pins = {"scikit-learn": "1.9.1", "numpy": "1.26.0"}
    check = check_versions(_pkg(BENIGN, pins), [new], None)
    assert check.status is Status.FAIL and "numpy 2.x" in check.findings[0].message
    # numpy 1.26.1 added the numpy._core shim that reads numpy 2 pickles
    # (tests/test_verdicts.py loads one under 1.24.4, which fails)
    shim = {"scikit-learn": "1.9.1", "numpy": "1.26.1"}
    assert check_versions(_pkg(BENIGN, shim), [new], None).status is Status.PASS
    old_pins = {"scikit-learn": "0.24.2", "numpy": "2.0.0"}
    assert check_versions(_pkg(BENIGN, old_pins), [old], None).status is Status.PASS


def test_protocol_against_target_python() -> None:
    p5 = inspect_pickle(BENIGN / "decision_tree_protocol5.pkl")
    pins = {"scikit-learn": "1.9.1"}
    check = check_versions(_pkg(BENIGN, pins), [p5], "3.7")
    assert check.status is Status.FAIL and "protocol 5" in check.findings[0].message
    assert check_versions(_pkg(BENIGN, pins), [p5], "3.8").status is Status.PASS
    from_metadata = _pkg(BENIGN, pins, python_version="3.7")
    assert check_versions(from_metadata, [p5], None).status is Status.FAIL


def test_xgboost_version_from_model_blob() -> None:
    assert xgboost_version(b'{"learner":{},"version":[2,0,3]}') == "2.0.3"
    ubj = b"{L\x00\x00\x00\x00\x00\x00\x00\x07version[$i#i\x03\x01\x07\x06}"
    assert xgboost_version(bytearray(ubj)) == "1.7.6"
    untyped = (b"{L\x00\x00\x00\x00\x00\x00\x00\x07version[" + b"".join(
        b"L" + v.to_bytes(8, "big") for v in (2, 1, 0)) + b"]}")
    assert xgboost_version(untyped) == "2.1.0"
    assert xgboost_version(b"binf\x00\x00") is None


def test_xgboost_mismatch_is_reported(tmp_path: Path) -> None:
    blob = b'{"learner":{},"version":[1,7,6]}'
    data = (mc.proto(4) + mc.sglob("xgboost.core", "Booster") + mc.EMPTY_TUPLE + mc.NEWOBJ
            + mc.EMPTY_DICT + mc.u("handle") + mc.call(mc.sglob("builtins", "bytearray"),
                                                      mc.binbytes(blob))
            + mc.SETITEM + mc.BUILD + mc.STOP)
    result = inspect_pickle(_write(tmp_path, "xgb.pkl", data))
    assert result.safe and result.xgboost_version == "1.7.6"
    check = check_versions(_pkg(tmp_path, {"xgboost": "2.0.3"}), [result], None)
    assert check.status is Status.FAIL
    assert check.findings[0].details["pickled_with"] == "1.7.6"


# --------------------------------------------------------------------------- robustness

# Real pickles and joblib files of every compressor, plain and malicious.
_SEEDS = [p.read_bytes() for p in sorted(BENIGN.iterdir()) + sorted(MALICIOUS.iterdir())
          if p.suffix in (".pkl", ".joblib") and p.stat().st_size < 20_000]


def _inspect_bytes(tmp: Path, data: bytes) -> PickleInspection:
    path = tmp / "fuzz.pkl"
    path.write_bytes(data)
    return inspect_pickle(path, max_bytes=1 << 20)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000))
def test_random_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    result = _inspect_bytes(tmp_path, data)
    assert result.error is None or not result.error.startswith("internal")


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), flips=st.integers(1, 8),
       which=st.integers(0, len(_SEEDS) - 1), cut=st.booleans())
def test_mutated_real_pickles_never_raise(tmp_path: Path, seed: int, flips: int, which: int,
                                          cut: bool) -> None:
    result = _inspect_bytes(tmp_path, mutated(_SEEDS[which], seed, flips, cut))
    # Either a clean walk or a fail-closed error -- never an exception.
    assert isinstance(result.unsafe, list)
    assert result.error is None or not result.error.startswith("internal")


@pytest.mark.parametrize("size", [255, 256, 65_536, 65_537, 100_000, 131_072, 131_073, 10**6])
def test_operands_of_every_size_are_walked(tmp_path: Path, size: int) -> None:
    data = mc.proto(4) + mc.binbytes(b"x" * size) + mc.POP + mc.os_system_p4() + mc.STOP
    result = _inspect_bytes(tmp_path, data)
    assert result.error is None and _names(result) == {"os.system"}
    assert result.unsafe[0].offset == data.index(b"\x93")


def _names(result: PickleInspection) -> set[str]:
    return {f"{u.module}.{u.name}" for u in result.unsafe}


def test_deep_nesting_does_not_crash(tmp_path: Path) -> None:
    deep = mc.proto(4) + mc.EMPTY_DICT + b"K\x01" * 1 + mc.TUPLE1 * 100_000 + mc.NONE
    deep += mc.SETITEM + mc.STOP
    result = _inspect_bytes(tmp_path, deep)
    assert result.error is not None and "nested too deeply" in result.error


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="POSIX only")
def test_a_fifo_is_not_opened(tmp_path: Path) -> None:
    """Opening a FIFO blocks until a writer comes: never open one (BUG-4).  If this test
    hangs, the inspector opened it."""
    import os

    fifo = tmp_path / "model.pkl"
    os.mkfifo(fifo)
    assert is_pickle_artifact(fifo) is False
    assert inspect_pickle(fifo).error == "not a regular file"
    assert not inspect_pickle(fifo).safe


def test_installed_versions_decide_when_nothing_is_pinned(tmp_path: Path) -> None:
    """envcheck's own verdict from the built env's dist-info: the seed's mismatch fails
    whatever the package does to warnings, and with no pin to compare statically."""
    from envcheck.inspect.pickles import installed_version_findings
    from envcheck.inspect.policy import PickleInspection

    pkg = _pkg(tmp_path)
    insp = PickleInspection(path=tmp_path / "model.pkl",
                            sklearn_versions={"LogisticRegression": {"0.24.2": 1}})
    (finding,) = installed_version_findings(pkg, [insp], {"scikit-learn": "1.3.2"})
    assert finding.severity is Severity.ERROR
    assert ("LogisticRegression was pickled with scikit-learn 0.24.2 but the environment "
            "has scikit-learn 1.3.2 installed") in finding.message
    assert finding.details["source"] == "envcheck (installed dist-info)"
    assert installed_version_findings(pkg, [insp], {"scikit-learn": "0.24.2"}) == []
    pkg.pins["scikit-learn"] = "1.3.2"  # pinned to what got installed: judged statically
    assert installed_version_findings(pkg, [insp], {"scikit-learn": "1.3.2"}) == []
