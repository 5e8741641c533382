"""The probe: loads a model package *inside the package's own environment*.

Run by the env's interpreter in a child process (see :mod:`envcheck.probe.runner`)::

    <env python> -s -X faulthandler _probe.py REQUEST.json RESULT.json

Constraints that shape this file:

* standard library only -- the env has the package's requirements, not envcheck's;
* Python 3.6+ syntax (no walrus, no ``from __future__ import annotations``, no
  dataclasses): packages pinned to old scikit-learn run on old interpreters;
* it never imports envcheck; the protocol is the two JSON files.  The result is written
  atomically (tmp + ``os.replace``), so the parent sees either nothing or a whole result.
  When there is nothing (the package crashed, exited through ``os._exit`` or was killed),
  the parent classifies from the return code, the *stage file* this probe rewrites before
  each stage, and the stderr tail (``-X faulthandler`` prints the crashing stack there).

The package's stdout/stderr are the child's fd 1/2, which the parent drains through pipes
(bounded head/tail buffers, a byte limit) -- nothing the package prints can reach the
result file or block the child on a full pipe.
"""

import errno
import importlib.util
import json
import os
import platform
import sys
import warnings

try:  # the copies beside this script in the probe's control directory
    import _envcheck_protocol as protocol
    from _envcheck_child_guards import (
        _WRITE_EVENTS,
        WRITE_REFUSED,
        PackageGuard,
        WarningsGuard,
        _Offered,
        _opens_for_writing,
        _text_path,
    )
    from _envcheck_child_process import (
        _now,
        _peak_memory_mb,
        apply_limits,
        describe_exception,
        die_with_parent,
        installed_distributions,
        model_features,
    )
except ImportError:  # imported as envcheck.probe.child (the parent's tests)
    from envcheck.probe import protocol
    from envcheck.probe.child_guards import (
        _WRITE_EVENTS,
        WRITE_REFUSED,
        PackageGuard,
        WarningsGuard,
        _Offered,
        _opens_for_writing,
        _text_path,
    )
    from envcheck.probe.child_process import (
        _now,
        _peak_memory_mb,
        apply_limits,
        describe_exception,
        die_with_parent,
        installed_distributions,
        model_features,
    )

MAX_MESSAGE = 2000  # characters of one exception/warning message kept
MAX_DISTINCT_WARNINGS = 200
MAX_TRACEBACK_LINES = 40


class Probe(object):
    def __init__(self, request, result_path):
        self.request = request
        self.result_path = result_path
        self.stage_file = request.get("stage_file")
        self.package_root = os.path.abspath(request["package_root"])
        self.interface = os.path.abspath(request["interface"])
        self.stage = "start"
        self.caught = []
        self.offered = []  # version warnings seen by WarningsGuard, before any filter
        self.warnings = {}  # key -> record, insertion-ordered on 3.7+; sorted on output
        self.warnings_dropped = 0
        self.find_class = {}
        # The probe's own files (stage, result, HOME/TMPDIR of the child) live in the
        # control directory: writes there are allowed even if it is under the package.
        own = [result_path, result_path + ".tmp"]
        if self.stage_file:
            own += [self.stage_file, self.stage_file + ".tmp"]
        # The child's cwd/HOME/TMPDIR are envcheck's temp dir, normally far from the
        # package; exempt them too should someone keep packages under /tmp itself.
        scratch = [os.getcwd(), os.environ.get("HOME"), os.environ.get("TMPDIR")]
        self.guard = PackageGuard(self.package_root, [d for d in scratch if d], own)
        self.result = {
            "protocol_version": protocol.PROTOCOL_VERSION,
            "kind": "infrastructure",
            "stage": "start",
            "completed": [],
            "message": "",
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "executable": sys.executable,
            "timings": {},
            "stage_memory_mb": {},
            "warnings": [],
            "find_class_imports": [],
            "find_class_supported": hasattr(sys, "addaudithook"),
            "model_features": {},
            "predictions": None,
            "predictions_repeat": None,
            "input_mutated": None,
            "frame": None,
            "installed": {},
            "limits": {},
        }

    # -- bookkeeping

    def enter(self, stage):
        self.stage = stage
        self.result["stage"] = stage
        if not self.stage_file:
            return
        tmp = self.stage_file + ".tmp"
        try:
            with open(tmp, "w") as handle:
                handle.write(stage)
            os.replace(tmp, self.stage_file)
        except OSError:
            pass

    def done(self, stage, started):
        self.result["timings"][stage + "_s"] = round(_now() - started, 6)
        self.result["stage_memory_mb"][stage] = _peak_memory_mb()
        self.result["completed"].append(stage)

    def audit(self, event, args):
        # Called for every audited event in the process: keep the common path cheap.
        if event == "pickle.find_class":
            try:
                key = (str(args[0]), str(args[1]), self.stage)
            except Exception:
                return
            self.find_class[key] = self.find_class.get(key, 0) + 1
            return
        positions = _WRITE_EVENTS.get(event)
        if positions is None:
            return
        if event == "open" and not _opens_for_writing(args):
            return  # reading (imports, the pickle itself) is always allowed
        for position in positions:
            if position < len(args) and self.guard.inside(args[position]):
                raise PermissionError(errno.EACCES, WRITE_REFUSED,
                                      _text_path(args[position]))

    def offered_warning(self, message, category):
        """Every warn() call, before the filters: keep scikit-learn's version warnings,
        which drain_warnings reports even when a filter dropped them."""
        try:
            text = str(message)
        except Exception:
            return
        if "Trying to unpickle estimator" not in text:
            return
        self.offered.append(_Offered(message, category, self.stage))

    def drain_warnings(self):
        caught, self.caught[:] = list(self.caught), []
        seen = set(str(record.message) for record in caught)
        for offered in self.offered:  # filtered out by the package: recorded all the same
            if str(offered.message) not in seen:
                caught.append(offered)
        self.offered = []
        for record in caught:
            message = record.message
            text = str(message)[:MAX_MESSAGE]
            category = record.category
            key = (self.stage, category.__module__, category.__name__, text,
                   str(record.filename), record.lineno)
            entry = self.warnings.get(key)
            if entry is not None:
                entry["count"] += 1
                continue
            if len(self.warnings) >= MAX_DISTINCT_WARNINGS:
                self.warnings_dropped += 1
                continue
            entry = {"stage": self.stage, "category": category.__name__,
                     "category_module": category.__module__, "message": text,
                     "filename": str(record.filename), "lineno": record.lineno,
                     "count": 1, "order": len(self.warnings)}
            # scikit-learn >= 1.3: InconsistentVersionWarning carries the versions.
            estimator = getattr(message, "estimator_name", None)
            if estimator is not None:
                entry["estimator"] = str(estimator)
                entry["pickled_with"] = str(getattr(message, "original_sklearn_version", ""))
                entry["loaded_with"] = str(getattr(message, "current_sklearn_version", ""))
            self.warnings[key] = entry

    def fail(self, kind, message, exc=None):
        self.result["kind"] = kind
        self.result["message"] = message[:MAX_MESSAGE]
        if exc is not None:
            self.describe_exception(exc)

    def describe_exception(self, exc):
        self.result.update(describe_exception(exc, self.package_root, MAX_MESSAGE,
                                              MAX_TRACEBACK_LINES, os.path.abspath(__file__)))

    def run_stage(self, stage, func):
        """Run one stage; returns (ok, value).  Every way out of package code lands here."""
        self.enter(stage)
        started = _now()
        try:
            value = func()
        except SystemExit as exc:
            self.drain_warnings()
            code = exc.code
            if code is not None and not isinstance(code, int):
                code = str(code)[:MAX_MESSAGE]
            self.result["exit_code"] = code
            self.fail("exit", "sys.exit(%r)" % (code,), exc)
            return False, None
        except MemoryError as exc:
            self.drain_warnings()
            self.fail("memory", "MemoryError", exc)
            return False, None
        except protocol.BadOutput as exc:
            self.drain_warnings()
            self.fail("bad-output", str(exc))
            return False, None
        except protocol.BadInput as exc:
            self.drain_warnings()
            self.fail("bad-input", str(exc))
            return False, None
        except BaseException as exc:  # noqa: B902 -- anything the package raises
            self.drain_warnings()
            self.fail("exception", "%s: %s" % (protocol._type_name(exc).replace("builtins.", ""),
                                              str(exc)[:MAX_MESSAGE]), exc)
            return False, None
        self.drain_warnings()
        self.done(stage, started)
        return True, value

    # -- stages

    def import_interface(self):
        name = os.path.splitext(os.path.basename(self.interface))[0]
        spec = importlib.util.spec_from_file_location(name, self.interface)
        if spec is None or spec.loader is None:
            raise ImportError("cannot import %s" % self.interface)
        module = importlib.util.module_from_spec(spec)
        # Registered under its own name so pickles referring to classes defined in the
        # interface ("interface.Wrapper") resolve to this very module.
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    def build_frame(self, pandas):
        inputs = self.request["inputs"]
        try:
            columns = list(inputs["columns"])
            rows = [[protocol.decode_scalar(v) for v in row] for row in inputs["data"]]
            frame = pandas.DataFrame(rows, columns=columns)
            for column, dtype in (inputs.get("dtypes") or {}).items():
                if column in frame.columns and dtype:
                    frame[column] = frame[column].astype(dtype)
        except Exception as exc:
            raise protocol.BadInput("the smoke inputs do not make a DataFrame: %s: %s"
                           % (type(exc).__name__, exc))
        return frame

    def run(self):
        if hasattr(sys, "addaudithook"):
            sys.addaudithook(self.audit)
        sys.path.insert(0, self.package_root)
        with warnings.catch_warnings(record=True) as caught:
            self.caught = caught
            warnings.simplefilter("always")
            guard = WarningsGuard(warnings, self.offered_warning)
            try:
                self.stages()
            finally:
                self.result["warnings_tampering"] = guard.release()
        self.result["warnings"] = sorted(self.warnings.values(), key=lambda w: w["order"])
        for entry in self.result["warnings"]:
            del entry["order"]
        self.result["warnings_dropped"] = self.warnings_dropped
        self.result["find_class_imports"] = [
            {"module": m, "name": n, "stage": s, "count": c}
            for (m, n, s), c in sorted(self.find_class.items())]

    def stages(self):
        ok, module = self.run_stage("import", self.import_interface)
        if not ok:
            return
        load_model = getattr(module, "load_model", None)
        if not callable(load_model):
            self.enter("load")
            self.fail("missing", "%s defines no load_model() function"
                      % os.path.basename(self.interface))
            return
        ok, model = self.run_stage("load", load_model)
        if not ok:
            return
        if model is None:
            self.fail("missing", "load_model() returned None")
            return
        self.result["model_type"] = protocol._type_name(model)
        self.result["model_features"] = model_features(model)
        if not self.request.get("predict") or self.request.get("inputs") is None:
            self.finish()
            return
        predict = getattr(model, "predict", None)
        if not callable(predict):
            self.enter("predict")
            self.fail("missing", "the object load_model() returned (%s) has no predict() "
                      "method" % protocol._type_name(model))
            return

        def make_frame():
            try:
                import pandas
            except ImportError as exc:
                raise protocol.BadInput("pandas is not installed in the package's environment "
                               "(predict() is called with a pandas DataFrame): add pandas "
                               "to requirements.txt [%s]" % exc)
            return pandas, self.build_frame(pandas)

        ok, made = self.run_stage("inputs", make_frame)
        if not ok:
            if "pandas is not installed" in self.result["message"]:
                self.result["kind"] = "missing"
                self.result["missing_module"] = "pandas"
            return
        pandas, frame = made
        pristine = frame.copy(deep=True)
        self.result["frame"] = {"columns": [str(c) for c in frame.columns],
                                "dtypes": [str(d) for d in frame.dtypes],
                                "rows": int(frame.shape[0])}

        ok, output = self.run_stage("predict", lambda: protocol.encode_output(predict(frame)))
        if not ok:
            return
        self.result["predictions"] = output
        try:
            self.result["input_mutated"] = not frame.equals(pristine)
        except Exception:
            self.result["input_mutated"] = None
        if self.request.get("repeat"):
            # A fresh frame: what is measured is the model's determinism, not the effect
            # of a predict() that modifies its input (reported separately above).
            again = pristine.copy(deep=True)
            ok, output = self.run_stage("predict-repeat", lambda: protocol.encode_output(predict(again)))
            if not ok:
                return
            self.result["predictions_repeat"] = output
        self.finish()

    def finish(self):
        self.enter("done")
        self.result["kind"] = "ok"
        self.result["message"] = ""

    def write(self):
        try:
            if self.request.get("installed"):  # record asks; check reads the dist-info itself
                self.result["installed"] = installed_distributions()
        except Exception as exc:  # a broken dist-info must not hide the real result
            self.result["installed_error"] = "%s: %s" % (type(exc).__name__, exc)
        self.result["peak_memory_mb"] = _peak_memory_mb()
        tmp = self.result_path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self.result, handle, allow_nan=False, default=str)
        os.replace(tmp, self.result_path)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: _probe.py REQUEST.json RESULT.json\n")
        return 2
    # No __pycache__ written anywhere (the parent also sets PYTHONDONTWRITEBYTECODE=1):
    # importing the interface must not write into the package folder.
    sys.dont_write_bytecode = True
    # Drop this script's directory from sys.path: only the package and its env count.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    with open(argv[1]) as handle:
        request = json.load(handle)
    die_with_parent(os.getppid())  # the sandbox's init, or envcheck without one
    probe = Probe(request, argv[2])
    probe.result["limits"] = apply_limits(request)
    try:
        probe.run()
    except BaseException as exc:  # a bug in the probe itself: report, don't vanish
        probe.fail("infrastructure", "the probe failed: %s: %s" % (type(exc).__name__, exc),
                   exc)
    probe.write()
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    # Skip interpreter teardown: non-daemon threads, atexit handlers or finalizers of the
    # package could hang or crash after the result is already written.
    os._exit(code)
