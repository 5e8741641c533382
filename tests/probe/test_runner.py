"""envcheck.probe.runner + envcheck.probe.child: real child interpreters, real packages in tmp dirs.

Most packages here have tiny pure-Python models (fast children); the scikit-learn
cross-version test pickles a model with scikit-learn 1.3.2 in a throwaway uv env and
loads it with the host's scikit-learn.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from conftest import REPO

from envcheck.model.findings import Severity, Status
from envcheck.model.options import Options, parse_memory
from envcheck.model.package import ModelPackage
from envcheck.probe import package_tree, runner
from envcheck.probe.checks import (
    check_load,
    check_load_warnings,
    check_runtime_imports,
    parse_sklearn_version_warning,
)
from envcheck.probe.result import ProbeResult, merge_child_result
from envcheck.probe.runner import run_probe

HOST = Path(sys.executable)
OLD_SKLEARN_TEXT = ("Trying to unpickle estimator LogisticRegression from version 0.24.2 when "
                    "using version 1.2.2. This might lead to breaking code or invalid results. "
                    "Use at your own risk.")

# A model that needs nothing but the standard library (and pandas for the DataFrame).
PURE_MODEL = '''
import json
from pathlib import Path

class Model:
    def __init__(self, weights):
        self.weights = weights
    def predict(self, frame):
        return [sum(w * float(v) for w, v in zip(self.weights, row))
                for row in frame.itertuples(index=False)]
'''


def make_package(root: Path, interface: str, *, metadata: Optional[dict[str, Any]] = None,
                 files: Optional[dict[str, bytes]] = None) -> ModelPackage:
    """A package on disk, read into a ModelPackage by hand (package.py is another module)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "interface.py").write_text(textwrap.dedent(interface).lstrip(), encoding="utf-8")
    metadata = metadata if metadata is not None else {
        "name": root.name, "version": "1.0",
        "input_features": [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}],
        "output": [{"name": "score", "type": "float"}]}
    (root / "metadata.yaml").write_text(yaml.safe_dump(metadata), encoding="utf-8")
    (root / "requirements.txt").write_text("", encoding="utf-8")
    artifacts = []
    for name, data in (files or {}).items():
        (root / name).write_bytes(data)
        artifacts.append(root / name)
    return ModelPackage(root=root, metadata_path=root / "metadata.yaml",
                        requirements_path=root / "requirements.txt",
                        interface_path=root / "interface.py", artifacts=artifacts,
                        metadata=metadata, metadata_ok=True, requirements_ok=True)


INPUTS = {"columns": ["a", "b"], "data": [[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]],
          "dtypes": {"a": "float64", "b": "float64"}}


def pure_package(root: Path, load_body: str = "", predict_override: str = "") -> ModelPackage:
    interface = PURE_MODEL + predict_override + textwrap.dedent('''

    def load_model():
    {body}    return Model(json.loads((Path(__file__).parent / "weights.json").read_text()))
    ''').format(body=textwrap.indent(textwrap.dedent(load_body), "    "))
    return make_package(root, interface, files={"weights.json": b"[0.5, 2.0]"})


def only_error(result) -> Any:
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    assert len(errors) == 1, result.findings
    return errors[0]


# --------------------------------------------------------------------------- unit


def test_parse_old_userwarning_text() -> None:
    assert parse_sklearn_version_warning(OLD_SKLEARN_TEXT) == ("LogisticRegression", "0.24.2",
                                                               "1.2.2")
    assert parse_sklearn_version_warning("something else entirely") is None


def test_old_userwarning_fails_load_warnings_with_details(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "p", "def load_model(): pass\n")
    entry = {"stage": "load", "category": "UserWarning", "category_module": "builtins",
             "message": OLD_SKLEARN_TEXT, "filename": "sklearn/base.py", "lineno": 318,
             "count": 1}
    result = ProbeResult(kind="ok", stage="done", completed=["import", "load"],
                         warnings=[entry, dict(entry, lineno=319, count=2)])
    check = check_load_warnings(pkg, result, Options())
    assert check.status is Status.FAIL
    finding = only_error(check)
    assert finding.details["estimator"] == "LogisticRegression"
    assert finding.details["pickled_with"] == "0.24.2"
    assert finding.details["loaded_with"] == "1.2.2"
    assert finding.details["count"] == 3  # one finding, counted
    assert "scikit-learn==0.24.2" in finding.message
    allowed = check_load_warnings(pkg, result, Options(allow_warnings=["unpickle estimator"]))
    assert allowed.status is Status.PASS
    assert "allowed by" in allowed.findings[0].message


def test_parse_memory() -> None:
    assert parse_memory("512M") == 512 * 1024 ** 2
    assert parse_memory("2G") == 2 * 1024 ** 3
    assert parse_memory("1.5GiB") == int(1.5 * 1024 ** 3)
    for bad in ("lots", "12X", "1M"):
        with pytest.raises(ValueError):
            parse_memory(bad)


@pytest.mark.skipif(not Path("/root/.pyenv/versions/3.6.15/bin/python3.6").exists(),
                    reason="no Python 3.6 interpreter")
def test_probe_is_python36_syntax(tmp_path: Path) -> None:
    for name in runner.PROBE_FILES:  # everything the package's interpreter runs
        source = REPO / "envcheck" / "probe" / name
        subprocess.run(["/root/.pyenv/versions/3.6.15/bin/python3.6", "-c",
                        "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')",
                        str(source)], check=True)


# --------------------------------------------------------------------------- children


@pytest.mark.slow
def test_clean_pure_package_loads_and_predicts(tmp_path: Path) -> None:
    pkg = pure_package(tmp_path / "clean")
    result = run_probe(HOST, pkg, INPUTS, Options(), installed=True)
    assert result.kind == "ok", result
    assert result.completed == ["import", "load", "inputs", "predict", "predict-repeat"]
    assert result.predictions["values"] == [4.5, 9.5, -1.75]
    assert result.predictions == result.predictions_repeat
    assert result.frame == {"columns": ["a", "b"], "dtypes": ["float64", "float64"], "rows": 3}
    assert set(result.timings) >= {"import_s", "load_s", "predict_s"}
    assert result.peak_memory_mb and result.peak_memory_mb > 0
    assert result.installed.get("pandas")
    assert check_load(pkg, result).status is Status.PASS
    assert check_load_warnings(pkg, result, Options()).status is Status.PASS


@pytest.mark.slow
def test_missing_library_fails_load_naming_it(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "missing", """
        import json
        import envcheck_test_not_installed_lib

        def load_model():
            return None
    """)
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert result.kind == "exception"
    assert result.missing_module == "envcheck_test_not_installed_lib"
    check = check_load(pkg, result)
    assert check.status is Status.FAIL
    finding = only_error(check)
    assert "interface.py imports 'envcheck_test_not_installed_lib'" in finding.message
    assert "add envcheck_test_not_installed_lib to requirements.txt" in finding.message
    assert (finding.file, finding.line) == ("interface.py", 2)


@pytest.mark.slow
def test_sklearn_import_name_maps_to_distribution(tmp_path: Path) -> None:
    # The 3.8 interpreter has no scikit-learn: "import sklearn" -> add scikit-learn.
    python38 = Path("/root/.pyenv/versions/3.8.18/bin/python3.8")
    if not python38.exists():
        pytest.skip("no Python 3.8 interpreter")
    pkg = make_package(tmp_path / "nosk", "import sklearn\n\ndef load_model():\n    return 1\n")
    check = check_load(pkg, run_probe(python38, pkg, None, Options()))
    assert "add scikit-learn to requirements.txt" in only_error(check).message


@pytest.mark.slow
def test_no_load_model(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "noload", "def load(): return 1\n")
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert (result.kind, result.stage) == ("missing", "load")
    assert "defines no load_model()" in only_error(check_load(pkg, result)).message


@pytest.mark.slow
def test_load_model_raising_points_at_package_code(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "raises", """
        def helper():
            raise ValueError("weights file is corrupt")

        def load_model():
            return helper()
    """)
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert result.kind == "exception"
    finding = only_error(check_load(pkg, result))
    assert finding.message == "load_model() raised ValueError: weights file is corrupt"
    assert (finding.file, finding.line) == ("interface.py", 2)
    assert [f["function"] for f in finding.details["package_frames"]] == ["load_model", "helper"]
    assert "weights file is corrupt" in finding.details["traceback"]


@pytest.mark.slow
def test_sys_exit(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "exits", "import sys\n\ndef load_model():\n    sys.exit(3)\n")
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert (result.kind, result.exit_code) == ("exit", 3)
    assert only_error(check_load(pkg, result)).message == "load_model() called sys.exit(3)"


@pytest.mark.slow
def test_os_exit_classified_from_outside(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "osexit", "import os\n\ndef load_model():\n    os._exit(4)\n")
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert (result.kind, result.stage, result.exit_code) == ("exit", "load", 4)
    assert "exited with status 4" in only_error(check_load(pkg, result)).message


@pytest.mark.slow
def test_segfault(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "segv", """
        import ctypes

        def load_model():
            return ctypes.string_at(0)
    """)
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert (result.kind, result.signal_name, result.stage) == ("signal", "SIGSEGV", "load")
    finding = only_error(check_load(pkg, result))
    assert "crashed during load_model(): killed by SIGSEGV" in finding.message
    # faulthandler's dump names the package's frame
    assert "interface.py" in finding.details["stderr_tail"]


@pytest.mark.slow
def test_hang_times_out(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "hangs", "import time\n\ndef load_model():\n    time.sleep(600)\n")
    result = run_probe(HOST, pkg, INPUTS, Options(timeout_s=3))
    assert (result.kind, result.stage) == ("timeout", "load")
    message = only_error(check_load(pkg, result)).message
    assert message.startswith("load_model() did not finish within 3 s")


@pytest.mark.slow
def test_timeout_from_metadata_settings(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "hangs2", "import time\n\ndef load_model():\n    time.sleep(600)\n",
                       metadata={"name": "x", "envcheck": {"timeout": 2}})
    result = run_probe(HOST, pkg, None, Options())
    assert (result.kind, result.timeout_s) == ("timeout", 2.0)


@pytest.mark.slow
def test_stdout_flood_is_stopped(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "floods", """
        import sys

        def load_model():
            chunk = "x" * (1024 * 1024)
            for _ in range(200):
                sys.stdout.write(chunk)
            return 1
    """)
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert (result.kind, result.stage) == ("flood", "load")
    assert 8 * 1024 * 1024 < result.stdout_bytes < 200 * 1024 * 1024
    assert len(result.stdout_tail) < 5000
    finding = only_error(check_load(pkg, result))
    assert "load_model() wrote more than 8 MB to stdout" in finding.message


@pytest.mark.slow
def test_memory_limit(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "hungry",
                       "def load_model():\n    return bytearray(4 * 1024 ** 3)\n")
    result = run_probe(HOST, pkg, None, Options(memory="512M"))
    assert (result.kind, result.stage) == ("memory", "load")
    assert "load_model() ran out of memory (limit 512M)" == only_error(check_load(pkg, result)).message


@pytest.mark.slow
def test_sandbox_env_cwd_and_output_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("MY_API_TOKEN", "tok")
    pkg = make_package(tmp_path / "spy", """
        import json, os, sys

        def load_model():
            print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}))
            sys.stderr.write("to stderr\\n")
            return 1
    """)
    result = run_probe(HOST, pkg, None, Options())
    assert result.kind == "ok"
    seen = json.loads(result.stdout_tail)
    assert "AWS_SECRET_ACCESS_KEY" not in seen["env"]
    assert "MY_API_TOKEN" not in seen["env"]
    assert "hunter2" not in result.stdout_tail
    assert Path(seen["cwd"]).resolve() != pkg.root.resolve()
    assert seen["env"]["HOME"] == seen["cwd"]
    assert result.stderr_tail == "to stderr\n"


@pytest.mark.slow
def test_warnings_recorded_with_repeats_and_allowed(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "warns", """
        import warnings

        warnings.warn("old api", DeprecationWarning)

        def load_model():
            for _ in range(3):
                warnings.warn("xgboost-ish serialization warning", UserWarning)
            return 1
    """)
    result = run_probe(HOST, pkg, None, Options())
    by_message = {w["message"]: w for w in result.warnings}
    assert by_message["old api"]["stage"] == "import"
    assert by_message["old api"]["lineno"] == 3
    assert by_message["xgboost-ish serialization warning"]["count"] == 3
    check = check_load_warnings(pkg, result, Options())
    assert check.status is Status.WARN
    assert {f.details["category"] for f in check.findings} == {"DeprecationWarning", "UserWarning"}
    allowed = check_load_warnings(pkg, result, Options(allow_warnings=["serialization", "old"]))
    assert allowed.status is Status.PASS
    pkg.metadata["envcheck"] = {"allow_warnings": ["DeprecationWarning"]}
    partly = check_load_warnings(pkg, result, Options())
    assert [f.severity for f in partly.findings if f.details["category"] == "UserWarning"] \
        == [Severity.WARNING]


@pytest.mark.slow
def test_runtime_find_class_audit(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "runtime", """
        import os
        import pickle

        def load_model():
            # a pickle built at runtime, never seen by a static scan
            return pickle.loads(pickle.dumps(os.getcwd))
    """)
    result = run_probe(HOST, pkg, None, Options())
    assert result.kind == "ok"
    modules = {(e["module"], e["name"]) for e in result.find_class_imports}
    assert ("posix", "getcwd") in modules
    findings = check_runtime_imports(pkg, result, lambda module, name: module == "builtins")
    assert [f.details["module"] + "." + f.details["name"] for f in findings] == ["posix.getcwd"]
    assert findings[0].severity is Severity.ERROR
    assert check_runtime_imports(pkg, result, lambda module, name: True) == []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/root/.pyenv/versions/3.6.15/bin/python3.6").exists(),
                    reason="no Python 3.6 interpreter")
def test_probe_runs_on_python36_and_reports_missing_pandas(tmp_path: Path) -> None:
    pkg = pure_package(tmp_path / "py36")
    result = run_probe(Path("/root/.pyenv/versions/3.6.15/bin/python3.6"), pkg, INPUTS, Options())
    assert result.python.startswith("3.6")
    assert result.loaded
    assert (result.kind, result.stage, result.missing_module) == ("missing", "inputs", "pandas")
    assert "pandas is not installed" in result.message
    assert result.find_class_supported is False  # no audit hooks before 3.8


# --------------------------------------------------------------------------- scikit-learn 1.3.2


@pytest.fixture(scope="session")
def sklearn132_python(envcheck_cache: Path) -> Path:
    """A throwaway env with scikit-learn 1.3.2 (built once per session cache)."""
    if shutil.which("uv") is None:
        pytest.skip("uv is not installed")
    base = Path("/root/.pyenv/versions/3.11.7/bin/python3.11")
    if not base.exists():
        pytest.skip("no Python 3.11.7 interpreter")
    env_dir = envcheck_cache / "test-runner-sklearn-1.3.2"
    python = env_dir / "bin" / "python"
    marker = env_dir / ".complete"
    if marker.exists():
        return python
    shutil.rmtree(env_dir, ignore_errors=True)
    environ = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    subprocess.run(["uv", "venv", "-q", "-p", str(base), str(env_dir)], check=True, env=environ)
    subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), "--compile-bytecode",
                    "scikit-learn==1.3.2", "pandas==2.2.2", "numpy==1.26.4"],
                   check=True, env=environ)
    marker.write_text("ok")
    return python


SKLEARN_INTERFACE = """
    import pickle
    from pathlib import Path

    def load_model():
        with open(Path(__file__).parent / "model.pkl", "rb") as handle:
            return pickle.load(handle)
"""


@pytest.mark.slow
def test_sklearn_132_pickle_loaded_by_host_version(tmp_path: Path, sklearn132_python: Path) -> None:
    import sklearn

    root = tmp_path / "sk132"
    pkg = make_package(root, SKLEARN_INTERFACE)
    subprocess.run([str(sklearn132_python), "-c", textwrap.dedent("""
        import pickle, sys
        import pandas as pd
        from sklearn.ensemble import RandomForestClassifier
        X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]})
        model = RandomForestClassifier(n_estimators=4, random_state=0).fit(X, [0, 0, 0, 1, 1, 1])
        with open(sys.argv[1], "wb") as handle:
            pickle.dump(model, handle)
    """), str(root / "model.pkl")], check=True)
    pkg.artifacts = [root / "model.pkl"]
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert result.loaded, result
    check = check_load_warnings(pkg, result, Options())
    assert check.status is Status.FAIL
    # One cause (1.3.2 pickled, this version loaded): one finding listing both estimators.
    (finding,) = [f for f in check.findings if f.severity is Severity.ERROR]
    counts = {o["estimator"]: o["count"] for o in finding.details["objects"]}
    assert set(counts) == {"RandomForestClassifier", "DecisionTreeClassifier"}
    assert finding.details["pickled_with"] == "1.3.2"
    assert finding.details["loaded_with"] == sklearn.__version__
    assert finding.details["category"] == "InconsistentVersionWarning"
    assert counts["RandomForestClassifier"] == 1
    assert counts["DecisionTreeClassifier"] >= 4  # every tree counted, named once
    assert finding.message.startswith("2 estimators (")
    assert result.model_features["feature_names_in"] == ["a", "b"]
    # the runtime audit saw the estimator classes being imported
    modules = {e["module"] for e in result.find_class_imports}
    assert "sklearn.ensemble._forest" in modules


# --------------------------------------------------------------------------- reliability fixes


def test_killed_after_load_keeps_the_completed_stages(tmp_path: Path) -> None:
    """No result file, the stage marker says predict: import and load completed, so load
    passes and the death is predict's (BUG-6)."""
    pkg = make_package(tmp_path / "p", "def load_model(): pass\n")
    (tmp_path / "stage").write_text("predict")
    result = ProbeResult(kind="timeout", stage="start", timeout_s=4.0)
    merge_child_result(result, tmp_path / "missing.json", tmp_path / "stage", None)
    assert (result.stage, result.completed) == ("predict", ["import", "load", "inputs"])
    assert result.loaded
    load = check_load(pkg, result)
    assert load.status is Status.PASS
    assert "stopped later, during predict()" in load.findings[0].message


def test_failures_without_a_package_frame_name_the_interface(tmp_path: Path) -> None:
    """A crash, a hang or a flood is the package's code's doing (BUG-2)."""
    pkg = make_package(tmp_path / "p", "def load_model(): pass\n")
    for kind in ("signal", "timeout", "flood", "exit"):
        result = ProbeResult(kind=kind, stage="load", signal_name="SIGSEGV", message="x")
        finding = only_error(check_load(pkg, result))
        assert (finding.file, finding.line) == ("interface.py", None), kind
    framed = ProbeResult(kind="exception", stage="load", message="ValueError: x",
                         package_frames=[{"file": "helpers/io.py", "line": 7}])
    assert (only_error(check_load(pkg, framed)).file, only_error(check_load(pkg, framed)).line) \
        == ("helpers/io.py", 7)


def test_package_changes_fail_load_naming_them(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "p", "def load_model(): pass\n")
    result = ProbeResult(kind="ok", stage="done", completed=["import", "load"],
                         timings={"load_s": 0.1}, package_changes=["cache.bin (added)"])
    finding = only_error(check_load(pkg, result))
    assert "changed its own package folder during check: cache.bin (added)" in finding.message
    assert finding.file == "interface.py"


def test_stale_control_dirs_of_dead_owners_are_swept(tmp_path: Path) -> None:
    """An envcheck killed by SIGKILL leaves its control dir: the next run removes it
    (BUG-5); live owners' and ownerless (just created) dirs stay."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, live, fresh, other = (tmp_path / f"{runner.CONTROL_PREFIX}{n}"
                                 for n in ("stale", "live", "fresh", "x"))
    for path in (stale, live, fresh):
        path.mkdir()
    (stale / runner.OWNER_FILE).write_text(str(dead.pid))
    (live / runner.OWNER_FILE).write_text(str(os.getppid()))
    (tmp_path / "unrelated").mkdir()
    assert runner.sweep_stale_control_dirs(tmp_path) == [stale]
    assert not stale.exists() and live.is_dir() and fresh.is_dir()
    assert (tmp_path / "unrelated").is_dir() and not other.exists()


@pytest.mark.slow
def test_writes_into_the_package_are_refused_where_they_happen(tmp_path: Path) -> None:
    """The probe's audit hook turns a write into the package folder into a PermissionError
    at the line that writes (BUG-3); reading it and writing elsewhere still work."""
    pkg = pure_package(tmp_path / "writer", load_body="""
        import os, tempfile
        here = Path(__file__).parent
        (here / "weights.json").read_bytes()
        with open(os.path.join(tempfile.gettempdir(), "scratch.bin"), "wb") as handle:
            handle.write(b"fine")
        (here / "cache.bin").write_bytes(b"not fine")
    """)
    before = package_tree.snapshot(pkg.root)
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert (result.kind, result.stage, result.exception_type) == ("exception", "load",
                                                                  "PermissionError")
    finding = only_error(check_load(pkg, result))
    assert "writing into the package folder is not allowed during check" in finding.message
    assert "cache.bin" in finding.message
    interface = (pkg.root / "interface.py").read_text().splitlines()
    assert finding.file == "interface.py"
    assert "cache.bin" in interface[finding.line - 1]
    assert package_tree.changes(before, package_tree.snapshot(pkg.root)) == []


@pytest.mark.slow
def test_native_writes_into_the_package_are_caught_by_the_snapshot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """C code writing through libc is invisible to audit hooks: with the sandbox's
    read-only filesystem it fails, and without it (no Landlock) the before/after
    snapshot reports it on ``load``."""
    pkg = pure_package(tmp_path / "native", load_body="""
        import ctypes
        libc = ctypes.CDLL(None)
        libc.fopen.restype = ctypes.c_void_p
        libc.fclose.argtypes = [ctypes.c_void_p]
        handle = libc.fopen(str(Path(__file__).parent / "native.bin").encode(), b"w")
        if handle:
            libc.fclose(handle)
    """)
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert result.kind == "ok" and result.sandbox is not None
    if result.sandbox.held("landlock"):
        assert result.package_changes == [] and not (pkg.root / "native.bin").exists()
    monkeypatch.setenv("ENVCHECK_SANDBOX", "no-landlock")
    result = run_probe(HOST, pkg, INPUTS, Options())
    assert result.kind == "ok" and not result.sandbox.held("landlock")
    assert result.package_changes == ["native.bin (added)"]
    check = check_load(pkg, result)
    assert check.status is Status.FAIL
    assert "native.bin (added)" in only_error(check).message


@pytest.mark.slow
def test_timeout_in_predict_keeps_load_passing(tmp_path: Path) -> None:
    pkg = pure_package(tmp_path / "slowpredict", predict_override=textwrap.dedent("""
        def _forever(self, frame):
            while True:
                pass
        Model.predict = _forever
    """))
    result = run_probe(HOST, pkg, INPUTS, Options(timeout_s=3))
    assert (result.kind, result.stage) == ("timeout", "predict")
    assert check_load(pkg, result).status is Status.PASS
