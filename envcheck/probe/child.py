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
import time
import traceback
import warnings

try:  # the copy beside this script in the probe's control directory
    import _envcheck_protocol as protocol
except ImportError:  # imported as envcheck.probe.child (the parent's tests)
    from envcheck.probe import protocol

MAX_MESSAGE = 2000  # characters of one exception/warning message kept
MAX_DISTINCT_WARNINGS = 200
MAX_TRACEBACK_LINES = 40


class BadOutput(Exception):
    """predict() returned something that is not one prediction per input row."""


class BadInput(Exception):
    """The smoke inputs could not be turned into a DataFrame (envcheck's side)."""


# --------------------------------------------------------------------------- encoding

_FLOAT_TAG = protocol.FLOAT_TAG


def encode_scalar(value):
    """JSON-safe scalar; NaN/inf become {"$float": "nan"|"inf"|"-inf"} (strict JSON)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value:
            return {_FLOAT_TAG: "nan"}
        if value in (float("inf"), float("-inf")):
            return {_FLOAT_TAG: "inf" if value > 0 else "-inf"}
        return value
    module = type(value).__module__ or ""
    if module.startswith("numpy") and hasattr(value, "item"):
        return encode_scalar(value.item())
    if isinstance(value, (dict, list, tuple)):
        raise BadOutput("nested %s values" % type(value).__name__)
    if hasattr(value, "__next__") or hasattr(value, "send"):
        raise BadOutput("a %s inside the output" % type(value).__name__)
    # Timestamps, Decimals, bytes...: compared as their text.
    return {"$repr": str(value)[:200], "$type": type(value).__name__}


def encode_nested(values, depth=0):
    if isinstance(values, (list, tuple)):
        if depth > 8:
            raise BadOutput("values nested deeper than 8 levels")
        return [encode_nested(v, depth + 1) for v in values]
    if isinstance(values, dict):
        raise BadOutput("a list of dicts (return an array, a Series or a DataFrame)")
    return encode_scalar(values)


def decode_scalar(value):
    if isinstance(value, dict) and _FLOAT_TAG in value:
        return float(value[_FLOAT_TAG])
    return value


def _type_name(obj):
    t = type(obj)
    return "%s.%s" % (t.__module__, t.__name__)


def encode_output(out):
    """What predict() returned -> {"kind", "dtype", "shape", "values", ...}."""
    if out is None:
        raise BadOutput("predict() returned None")
    if isinstance(out, (str, bytes, dict, set, frozenset)):
        raise BadOutput("predict() returned a %s" % type(out).__name__)
    if (hasattr(out, "__next__") or hasattr(out, "send")) and not hasattr(out, "shape"):
        raise BadOutput("predict() returned a %s (an iterator, consumed once); return an "
                        "array, a Series, a DataFrame or a list" % type(out).__name__)
    type_name = _type_name(out)
    if type_name.startswith("pandas.") and hasattr(out, "columns"):
        return {"kind": "dataframe", "type": type_name,
                "columns": [str(c) for c in out.columns],
                "dtypes": [str(d) for d in out.dtypes],
                "dtype": "mixed", "shape": list(out.shape),
                "values": encode_nested(out.values.tolist())}
    if type_name.startswith("pandas.") and hasattr(out, "dtype") and hasattr(out, "tolist"):
        return {"kind": "series", "type": type_name, "name": str(out.name),
                "dtype": str(out.dtype), "shape": list(out.shape),
                "values": encode_nested(out.tolist())}
    if hasattr(out, "shape") and hasattr(out, "tolist") and hasattr(out, "dtype"):
        # numpy arrays and look-alikes (torch tensors, cupy on host...)
        return {"kind": "ndarray", "type": type_name, "dtype": str(out.dtype),
                "shape": [int(s) for s in out.shape],
                "values": encode_nested(out.tolist())}
    if isinstance(out, (list, tuple)):
        values = encode_nested(list(out))
        shape = [len(values)]
        if values and all(isinstance(v, list) for v in values):
            widths = set(len(v) for v in values)
            if len(widths) == 1:
                shape.append(widths.pop())
        return {"kind": "list", "type": type_name, "dtype": "list", "shape": shape,
                "values": values}
    if isinstance(out, (int, float, bool)) or _type_name(out).startswith("numpy."):
        return {"kind": "scalar", "type": type_name, "dtype": type(out).__name__,
                "shape": [], "values": encode_scalar(out)}
    raise BadOutput("predict() returned a %s, not an array, a Series, a DataFrame or a "
                    "list" % type_name)


# --------------------------------------------------------------------------- the guard

WRITE_REFUSED = "envcheck: writing into the package folder is not allowed during check"

# Audit events that change the file system -> positions of the path arguments they change
# (https://docs.python.org/3/library/audit_events.html).  ``open`` only counts when it
# opens for writing.  os.replace raises os.rename.
_WRITE_EVENTS = {
    "open": (0,),
    "os.rename": (0, 1), "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,),
    "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,), "os.truncate": (0,),
    "os.chflags": (0,), "os.lchflags": (0,), "os.link": (1,), "os.symlink": (1,),
    "os.setxattr": (0,), "os.removexattr": (0,),
    "shutil.copyfile": (1,), "shutil.copymode": (1,), "shutil.copystat": (1,),
    "shutil.copytree": (1,), "shutil.move": (0, 1), "shutil.rmtree": (0,),
    "shutil.chown": (0,), "shutil.unpack_archive": (1,), "shutil.make_archive": (0,),
}
_WRITE_FLAGS = 0
for _name in ("O_WRONLY", "O_RDWR", "O_APPEND", "O_CREAT", "O_TRUNC"):
    _WRITE_FLAGS |= getattr(os, _name, 0)


def _opens_for_writing(args):
    """``open`` audit args are (path, mode, flags); flags are set on 3.8+ for both
    builtins.open and os.open, the mode is the fallback."""
    flags = args[2] if len(args) > 2 else None
    if isinstance(flags, int):
        return bool(flags & _WRITE_FLAGS)
    mode = args[1] if len(args) > 1 else None
    return isinstance(mode, str) and any(c in mode for c in "wax+")


def _text_path(value):
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


class PackageGuard(object):
    """Is a path (as handed to open/os.*/shutil.*) inside the package folder?"""

    def __init__(self, root, allowed_dirs=(), allowed_files=()):
        # (realpath/abspath raise no audit events, so this cannot re-enter the hook.)
        self.root = os.path.realpath(root)
        self.allowed = [os.path.realpath(a) for a in allowed_dirs]
        self.allowed_files = set(os.path.realpath(f) for f in allowed_files)

    @staticmethod
    def _under(path, top):
        return path == top or path.startswith(top.rstrip(os.sep) + os.sep)

    def inside(self, value):
        if value is None or isinstance(value, int):
            return False  # a file descriptor: opening it for writing was checked
        try:
            path = os.path.abspath(_text_path(os.fspath(value)))
        except (TypeError, ValueError):
            return False
        # Both the entry itself (a symlink removed or renamed in the package) and what it
        # points to (a write through a link into the package).
        candidates = (os.path.realpath(path),
                      os.path.join(os.path.realpath(os.path.dirname(path)),
                                   os.path.basename(path)))
        for candidate in candidates:
            if not self._under(candidate, self.root) or candidate in self.allowed_files:
                continue
            # An allowed dir *inside* the package (the probe's own control dir, say) is
            # exempt; one that contains the package exempts nothing in it.
            if any(self._under(candidate, a) and self._under(a, self.root) and a != self.root
                   for a in self.allowed):
                continue
            return True
        return False


# --------------------------------------------------------------------------- the probe


def _now():
    return time.perf_counter()


def _peak_memory_mb():
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    if sys.platform == "darwin":
        return round(peak / (1024.0 * 1024.0), 1)
    return round(peak / 1024.0, 1)


def _count_user_processes(uid):
    count = 0
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    for name in names:
        if name.isdigit():
            try:
                if os.stat("/proc/" + name).st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def apply_limits(request):
    """Resource limits, set here (not in the parent's preexec_fn, which is unsafe when the
    parent has threads).  Both soft and hard limits are lowered so the package cannot
    raise them again."""
    applied = {}
    try:
        import resource
    except ImportError:
        return applied
    # No core files in the temp dir from a segfaulting package.
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    memory = request.get("memory_bytes")
    if memory and hasattr(resource, "RLIMIT_AS"):
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            applied["memory_bytes"] = memory
        except (ValueError, OSError) as exc:
            applied["memory_error"] = str(exc)
    # RLIMIT_NPROC counts every process of the *user*, and the kernel does not enforce it
    # for root (CAP_SYS_RESOURCE): as root the fork-bomb backstop is the timeout, which
    # kills the whole process group.  Otherwise allow what the user runs now + headroom.
    headroom = request.get("nproc_headroom")
    if headroom and hasattr(resource, "RLIMIT_NPROC") and hasattr(os, "geteuid"):
        uid = os.geteuid()
        if uid == 0:
            applied["nproc"] = "not enforced for root"
        else:
            running = _count_user_processes(uid)
            if running is not None:
                soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
                limit = running + int(headroom)
                if hard != resource.RLIM_INFINITY:
                    limit = min(limit, hard)
                try:
                    resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
                    applied["nproc"] = limit
                except (ValueError, OSError) as exc:
                    applied["nproc_error"] = str(exc)
    return applied


def installed_distributions():
    """{canonical name: version} of every distribution the env's interpreter sees."""
    found = {}

    def canonical(name):
        out = []
        for ch in name.lower():
            out.append("-" if ch in "-_." else ch)
        text = "".join(out)
        while "--" in text:
            text = text.replace("--", "-")
        return text

    try:
        from importlib import metadata as importlib_metadata  # 3.8+
    except ImportError:
        importlib_metadata = None
    if importlib_metadata is not None:
        for dist in importlib_metadata.distributions():
            name = dist.metadata["Name"]
            if name:
                found.setdefault(canonical(name), dist.version)
        return found
    try:
        import pkg_resources
    except ImportError:
        return found
    for dist in pkg_resources.working_set:
        found.setdefault(canonical(dist.project_name), dist.version)
    return found


class _Offered(object):
    """A warning seen by WarningsGuard, shaped like a ``warnings.WarningMessage``."""

    def __init__(self, message, category, stage):
        self.message = message
        self.category = type(message) if isinstance(message, Warning) else (
            category or UserWarning)
        self.filename, self.lineno, self.stage = "<filtered by the package>", 0, stage
        self.filtered = True


class WarningsGuard(object):
    """Sees every ``warnings.warn``/``warn_explicit`` call, whatever filters are installed.

    A package that runs ``warnings.filterwarnings("ignore")`` before loading would hide
    scikit-learn's version warning from the probe's ``catch_warnings(record=True)``.  So
    the two Python entry points are wrapped: each call is offered to ``on_warning`` before
    the filters decide (the probe keeps only the version warnings from there; the filters
    still govern everything else, so a library silencing its own noise stays silent).
    Rebinding the wrapped functions, or ``showwarning`` through which the probe records,
    is refused: the module's class is swapped for one whose ``__setattr__`` checks.  What
    the package tried is returned by :meth:`release` and reported.  All of this runs in
    the package's own process, which could subvert it further; envcheck's version verdict
    from the installed dist-info does not depend on it."""

    PROTECTED = frozenset(("warn", "warn_explicit", "showwarning", "_showwarnmsg",
                           "_showwarnmsg_impl"))

    def __init__(self, module, on_warning):
        self.module = module
        self.refused = []
        self.original_class = module.__class__
        self.original = {"warn": module.warn, "warn_explicit": module.warn_explicit}
        guard = self
        warn, warn_explicit = module.warn, module.warn_explicit

        def guarded_warn(message, category=None, stacklevel=1, *args, **kwargs):
            on_warning(message, category)
            return warn(message, category, stacklevel + 1, *args, **kwargs)

        def guarded_warn_explicit(message, category, *args, **kwargs):
            on_warning(message, category)
            return warn_explicit(message, category, *args, **kwargs)

        class Guarded(module.__class__):
            def __setattr__(self, name, value):
                if name in guard.PROTECTED:
                    # catch_warnings() puts back what it found: not worth a mention.
                    if value is not self.__dict__.get(name):
                        guard.refused.append("warnings.%s replaced" % name)
                    return
                super(Guarded, self).__setattr__(name, value)

            def __delattr__(self, name):
                if name in guard.PROTECTED:
                    guard.refused.append("warnings.%s deleted" % name)
                    return
                super(Guarded, self).__delattr__(name)

        module.warn, module.warn_explicit = guarded_warn, guarded_warn_explicit
        try:
            module.__class__ = Guarded
        except TypeError:  # a Python that does not allow it: the wrappers still see calls
            self.refused.append("(warnings not guarded on this Python)")

    def release(self):
        """Restore the module and say what was refused."""
        try:
            self.module.__class__ = self.original_class
        except TypeError:
            pass
        if sys.modules.get("warnings") is not self.module:
            self.refused.append("sys.modules['warnings'] replaced")
            sys.modules["warnings"] = self.module
        self.module.warn = self.original["warn"]
        self.module.warn_explicit = self.original["warn_explicit"]
        counts = {}
        for what in self.refused:
            counts[what] = counts.get(what, 0) + 1
        return [{"what": what, "count": count} for what, count in sorted(counts.items())]


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
        self.result["exception_type"] = _type_name(exc).replace("builtins.", "")
        self.result["exception_message"] = str(exc)[:MAX_MESSAGE]
        name = getattr(exc, "name", None)
        if isinstance(exc, ImportError) and name:
            self.result["missing_module"] = str(name)
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        text = "".join(lines).splitlines()
        self.result["traceback_tail"] = "\n".join(text[-MAX_TRACEBACK_LINES:])
        frames = []
        here = os.path.abspath(__file__)
        for frame in traceback.extract_tb(exc.__traceback__):
            filename = os.path.abspath(frame.filename)
            if filename == here:
                continue
            if filename.startswith(self.package_root + os.sep):
                frames.append({"file": os.path.relpath(filename, self.package_root),
                               "line": frame.lineno, "function": frame.name,
                               "code": frame.line or ""})
        self.result["package_frames"] = frames[-10:]

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
        except BadOutput as exc:
            self.drain_warnings()
            self.fail("bad-output", str(exc))
            return False, None
        except BadInput as exc:
            self.drain_warnings()
            self.fail("bad-input", str(exc))
            return False, None
        except BaseException as exc:  # noqa: B902 -- anything the package raises
            self.drain_warnings()
            self.fail("exception", "%s: %s" % (_type_name(exc).replace("builtins.", ""),
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
            rows = [[decode_scalar(v) for v in row] for row in inputs["data"]]
            frame = pandas.DataFrame(rows, columns=columns)
            for column, dtype in (inputs.get("dtypes") or {}).items():
                if column in frame.columns and dtype:
                    frame[column] = frame[column].astype(dtype)
        except Exception as exc:
            raise BadInput("the smoke inputs do not make a DataFrame: %s: %s"
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
        self.result["model_type"] = _type_name(model)
        self.result["model_features"] = model_features(model)
        if not self.request.get("predict") or self.request.get("inputs") is None:
            self.finish()
            return
        predict = getattr(model, "predict", None)
        if not callable(predict):
            self.enter("predict")
            self.fail("missing", "the object load_model() returned (%s) has no predict() "
                      "method" % _type_name(model))
            return

        def make_frame():
            try:
                import pandas
            except ImportError as exc:
                raise BadInput("pandas is not installed in the package's environment "
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

        ok, output = self.run_stage("predict", lambda: encode_output(predict(frame)))
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
            ok, output = self.run_stage("predict-repeat", lambda: encode_output(predict(again)))
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
            self.result["installed"] = installed_distributions()
        except Exception as exc:  # a broken dist-info must not hide the real result
            self.result["installed_error"] = "%s: %s" % (type(exc).__name__, exc)
        self.result["peak_memory_mb"] = _peak_memory_mb()
        tmp = self.result_path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self.result, handle, allow_nan=False, default=str)
        os.replace(tmp, self.result_path)


def model_features(model):
    """feature_names_in_/n_features_in_ on the returned object or one attribute below it
    (interfaces often wrap the estimator: ``self.model``, ``self.pipeline``)."""
    candidates = [("model", model)]
    try:
        attrs = vars(model)
    except TypeError:
        attrs = {}
    for name in sorted(attrs):
        if not name.startswith("__"):
            candidates.append(("model." + name, attrs[name]))
    for where, obj in candidates:
        names = _safe_getattr(obj, "feature_names_in_")
        count = _safe_getattr(obj, "n_features_in_")
        if names is None and count is None:
            continue
        out = {"found_on": where}
        if names is not None:
            try:
                out["feature_names_in"] = [str(n) for n in list(names)]
            except Exception:
                pass
        if count is not None:
            try:
                out["n_features_in"] = int(count)
            except Exception:
                pass
        return out
    return {}


def _safe_getattr(obj, name):
    try:
        return getattr(obj, name, None)
    except Exception:  # properties of arbitrary objects may raise anything
        return None


def die_with_parent(parent_pid):
    """End this probe -- and every process the package started in its group -- when
    envcheck dies (even by SIGKILL, which it cannot forward).  The probe runs in its own
    session, so nothing else would stop it, and its timeout lives in the parent.

    Linux: the kernel sends SIGKILL the moment the parent exits (PR_SET_PDEATHSIG).
    Everywhere: a daemon thread notices the re-parenting within 0.5 s and kills the
    whole process group (the probe is its leader), grandchildren included."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except Exception:  # no libc/prctl: the thread below still works
            pass
    if not parent_pid or not hasattr(os, "getppid") or not hasattr(os, "killpg"):
        return

    def kill_group():
        import signal

        try:
            os.killpg(0, signal.SIGKILL)
        except OSError:
            os._exit(137)

    if os.getppid() != parent_pid:  # the parent died before the prctl above
        kill_group()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                kill_group()

    try:
        import threading

        threading.Thread(target=watch, name="envcheck-parent-watch", daemon=True).start()
    except Exception:  # cannot start a thread (limits): the prctl above still holds
        pass


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
