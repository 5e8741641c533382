"""envcheck.probe.child: output encoding and feature discovery (imported in the host: the probe
is envcheck's own standard-library code), and the file protocol run as a real script."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from envcheck.probe import child as _probe
from envcheck.probe import child_guards
from envcheck.probe.child_process import model_features
from envcheck.probe.protocol import BadOutput, decode_scalar, encode_output

PROBE = Path(_probe.__file__)


def test_numpy_arrays_with_nan_and_inf() -> None:
    out = encode_output(np.array([[0.5, np.nan], [np.inf, -np.inf]]))
    assert out["kind"] == "ndarray" and out["dtype"] == "float64" and out["shape"] == [2, 2]
    assert out["values"] == [[0.5, {"$float": "nan"}], [{"$float": "inf"}, {"$float": "-inf"}]]
    json.dumps(out, allow_nan=False)  # strict JSON
    assert decode_scalar(out["values"][0][1]) != decode_scalar(out["values"][0][1])  # NaN
    labels = encode_output(np.array(["churn", "stay"], dtype=object))
    assert (labels["dtype"], labels["values"]) == ("object", ["churn", "stay"])
    ints = encode_output(np.array([1, 0, 1], dtype=np.int32))
    assert (ints["dtype"], ints["values"]) == ("int32", [1, 0, 1])


def test_pandas_outputs() -> None:
    frame = encode_output(pd.DataFrame({"p": [0.1, 0.2], "label": ["a", "b"]}))
    assert frame["kind"] == "dataframe" and frame["columns"] == ["p", "label"]
    assert frame["values"] == [[0.1, "a"], [0.2, "b"]]
    assert frame["shape"] == [2, 2]
    series = encode_output(pd.Series([True, False], name="churn"))
    assert (series["kind"], series["dtype"], series["values"]) == ("series", "bool", [True, False])
    stamps = encode_output(pd.Series(pd.to_datetime(["2024-01-01"])))
    assert stamps["values"][0]["$type"] == "Timestamp"


def test_lists_and_bad_outputs() -> None:
    assert encode_output([[1, 2], [3, 4]])["shape"] == [2, 2]
    assert encode_output([np.float32(0.5)])["values"] == [0.5]
    with pytest.raises(BadOutput, match="returned None"):
        encode_output(None)
    with pytest.raises(BadOutput, match="generator"):
        encode_output(x for x in range(3))
    with pytest.raises(BadOutput, match="list of dicts"):
        encode_output([{"score": 1.0}])
    with pytest.raises(BadOutput, match="returned a str"):
        encode_output("churn")
    with pytest.raises(BadOutput, match="not an array"):
        encode_output(object())


def test_model_features_on_estimator_and_wrapper() -> None:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 0.0, 2.0]}),
                                   [0.0, 1.0, 2.0])
    assert model_features(model) == {"found_on": "model", "feature_names_in": ["a", "b"],
                                     "n_features_in": 2}

    class Wrapper:
        def __init__(self) -> None:
            self.pipeline = model

    assert model_features(Wrapper())["found_on"] == "model.pipeline"
    assert model_features(object()) == {}


@pytest.mark.slow
def test_protocol_files(tmp_path: Path) -> None:
    """The probe as the runner runs it: request in, stage file and atomic result out."""
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "interface.py").write_text(textwrap.dedent("""
        class Model:
            def predict(self, frame):
                print("predicting")  # the package's stdout, not the protocol
                return list(frame["a"] * 2)

        def load_model():
            return Model()
    """))
    request = {"interface": str(root / "interface.py"), "package_root": str(root),
               "inputs": {"columns": ["a"], "data": [[1.0], [{"$float": "inf"}]],
                          "dtypes": {"a": "float64"}},
               "predict": True, "repeat": False, "stage_file": str(tmp_path / "stage")}
    (tmp_path / "request.json").write_text(json.dumps(request))
    done = subprocess.run([sys.executable, str(PROBE), str(tmp_path / "request.json"),
                           str(tmp_path / "result.json")], cwd=tmp_path, capture_output=True,
                          text=True, check=True)
    assert done.stdout == "predicting\n"
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["kind"] == "ok"
    assert result["predictions"]["values"] == [2.0, {"$float": "inf"}]
    assert result["predictions_repeat"] is None
    assert (tmp_path / "stage").read_text() == "done"
    assert not (tmp_path / "result.json.tmp").exists()
    assert result["python"] == "%d.%d.%d" % sys.version_info[:3]


def test_package_guard_decides_by_resolved_path(tmp_path: Path) -> None:
    """BUG-3: what counts as writing into the package folder (symlinks resolved both
    ways); the probe's own files and scratch dirs inside it are exempt."""
    import os

    root = tmp_path / "pkg"
    (root / "scratch").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "into-pkg").symlink_to(root)
    (root / "out-link").symlink_to(outside / "f")
    guard = child_guards.PackageGuard(str(root), [str(root / "scratch"), str(tmp_path)],
                                [str(root / "result.json")])
    assert guard.inside(str(root / "cache.bin"))
    assert guard.inside(root)  # rmtree(root), chmod(root)
    assert guard.inside(str(root).encode() + b"/x")
    assert guard.inside(str(outside / "into-pkg" / "x"))  # a link into the package
    assert guard.inside(str(root / "out-link"))  # removing the link itself
    assert not guard.inside(str(outside / "f"))
    assert not guard.inside(str(root / "scratch" / "tmp.txt"))
    assert not guard.inside(str(root / "result.json"))
    assert not guard.inside(3)  # a file descriptor
    # open's audit args: (path, mode, flags)
    assert child_guards._opens_for_writing(("x", "r", os.O_RDONLY)) is False
    assert child_guards._opens_for_writing(("x", None, os.O_WRONLY | os.O_CREAT)) is True
    assert child_guards._opens_for_writing(("x", "r+", os.O_RDWR)) is True
    assert child_guards._opens_for_writing(("x", "a", None)) is True


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_probe_dies_with_its_parent(tmp_path: Path) -> None:
    """BUG-5: the probe runs in its own session; when its parent is SIGKILLed it ends
    (prctl on Linux, a watcher thread everywhere) instead of running on unbounded."""
    import os
    import signal
    import time

    root = tmp_path / "pkg"
    root.mkdir()
    (root / "interface.py").write_text("import time\n\ndef load_model():\n    time.sleep(600)\n")
    request = {"interface": str(root / "interface.py"), "package_root": str(root),
               "inputs": None, "predict": False, "repeat": False,
               "stage_file": str(tmp_path / "stage")}
    (tmp_path / "request.json").write_text(json.dumps(request))
    # A parent shell that starts the probe in a new session, prints its pid and waits.
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import json, subprocess, sys
            req = json.load(open({str(tmp_path / 'request.json')!r}))
            import os
            req["parent_pid"] = os.getpid()
            json.dump(req, open({str(tmp_path / 'request.json')!r}, "w"))
            child = subprocess.Popen([sys.executable, {str(PROBE)!r},
                                      {str(tmp_path / 'request.json')!r},
                                      {str(tmp_path / 'result.json')!r}],
                                     start_new_session=True)
            print(child.pid, flush=True)
            child.wait()
        """)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    probe_pid = int(parent.stdout.readline())
    while not (tmp_path / "stage").exists() or (tmp_path / "stage").read_text() != "load":
        time.sleep(0.05)
    parent.kill()
    parent.wait()
    for _ in range(200):  # not a timing assertion: wait up to 20 s for it to go
        try:
            os.kill(probe_pid, 0)
        except ProcessLookupError:
            break
        if open(f"/proc/{probe_pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        os.kill(probe_pid, signal.SIGKILL)
        raise AssertionError("the probe outlived its parent")
