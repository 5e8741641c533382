"""Run the probe in a sandboxed child process and turn what it saw into findings.

Checks: ``load``, ``load.warnings``; plus runtime-import findings the pipeline merges
into ``pickle.safety`` (:func:`check_runtime_imports`).

The child (``<env python> -s -X faulthandler _probe.py REQUEST RESULT``) runs

* with a scrubbed environment: only what Python and native libraries need (PATH, locale,
  BLAS/OpenMP knobs), HOME and TMPDIR pointing into a fresh temp dir, PYTHONHASHSEED=0;
  nothing that looks like a credential is ever passed on;
* with its working directory in that temp dir (not the package: an interface that opens
  ``"model.pkl"`` relative to the cwd is a real portability bug);
* in its own session, so a timeout kills the whole process group (fork children too);
* under a memory limit (``--memory``), set by the probe itself as its first act
  (``RLIMIT_AS``; a ``preexec_fn`` is unsafe in a threaded parent such as ``-j N``);
* with stdout/stderr drained through pipes into bounded head/tail buffers: a package that
  floods its output is stopped at :data:`MAX_OUTPUT_BYTES` instead of filling a disk.

POSIX only (killpg, resource limits, select on pipes).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from envcheck.findings import CheckResult, Finding, Status, error, info, warning
from envcheck.options import DEFAULT_TIMEOUT_S, Options

if TYPE_CHECKING:
    from envcheck.package import ModelPackage

PROBE_SOURCE = Path(__file__).with_name("_probe.py")
MAX_OUTPUT_BYTES = 8 * 1024 * 1024  # per stream; more is a flood (settable: max_output_mb)
TAIL_CHARS = 4000  # of stdout/stderr kept in the report
NPROC_HEADROOM = 512  # processes the package may start (where RLIMIT_NPROC is enforced)

# Environment variables passed to the child as they are.  Everything else is dropped.
_KEEP_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH",
             "SYSTEMROOT", "COMSPEC", "PATHEXT", "WINDIR",
             "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
             "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_CBWR")
_KEEP_ENV_PREFIXES = ("LC_",)
# Belt and braces: even a kept name is dropped when it looks like a secret.
_SECRET = re.compile(r"TOKEN|SECRET|KEY|PASSW|CREDENTIAL|AUTH|AWS_|SESSION|COOKIE",
                     re.IGNORECASE)

STAGE_WORDS = {
    "start": "starting the probe",
    "import": "importing the interface",
    "load": "load_model()",
    "inputs": "building the input DataFrame",
    "predict": "predict()",
    "predict-repeat": "the second predict() (determinism check)",
    "done": "reporting the result",
}

# scikit-learn's unpickle warning, both the >= 1.3 InconsistentVersionWarning and the
# 0.18-1.2 UserWarning share this text.
_SKLEARN_VERSION_WARNING = re.compile(
    r"Trying to unpickle estimator (?P<estimator>\S+) from version (?P<pickled>\S+?)"
    r"\.? when using version (?P<loaded>\S+?)\.?(?:\s|$)")

# How running out of address space (RLIMIT_AS) shows when it is not a MemoryError: a
# shared library that cannot be mapped, a C++ allocation, OpenBLAS's thread buffers.
_OUT_OF_MEMORY = ("MemoryError", "std::bad_alloc", "Cannot allocate memory",
                  "failed to map segment from shared object", "memory allocation failed",
                  "pthread_create failed")

# Import names whose distribution has another name, for "add X to requirements.txt".
_DISTRIBUTION_OF = {"sklearn": "scikit-learn", "cv2": "opencv-python", "yaml": "PyYAML",
                    "PIL": "Pillow", "skimage": "scikit-image", "bs4": "beautifulsoup4",
                    "dateutil": "python-dateutil", "google.protobuf": "protobuf",
                    "attr": "attrs", "Crypto": "pycryptodome", "lightgbm": "lightgbm"}


@dataclass
class ProbeResult:
    """What the probe saw.  ``kind`` is the outcome:

    ok | missing (no load_model/predict, or pandas absent) | exception | exit | signal |
    timeout | memory | flood (output beyond the limit) | bad-output (predict returned
    something unusable) | bad-input (the smoke inputs don't make a DataFrame) |
    infrastructure (envcheck could not run the probe at all).
    """

    kind: str
    stage: str  # the stage the probe was in when it stopped (see STAGE_WORDS)
    message: str = ""
    completed: list[str] = field(default_factory=list)
    exception_type: Optional[str] = None
    missing_module: Optional[str] = None
    exit_code: Any = None
    signal_name: Optional[str] = None
    returncode: Optional[int] = None
    traceback_tail: str = ""
    package_frames: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    stdout_tail: str = ""
    stderr_tail: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: Optional[float] = None
    stage_memory_mb: dict[str, Optional[float]] = field(default_factory=dict)
    predictions: Optional[dict[str, Any]] = None
    predictions_repeat: Optional[dict[str, Any]] = None
    input_mutated: Optional[bool] = None
    frame: Optional[dict[str, Any]] = None  # columns/dtypes/rows of the DataFrame predicted on
    model_type: Optional[str] = None
    model_features: dict[str, Any] = field(default_factory=dict)
    find_class_imports: list[dict[str, Any]] = field(default_factory=list)
    find_class_supported: bool = False
    installed: dict[str, str] = field(default_factory=dict)
    python: Optional[str] = None
    platform: Optional[str] = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_limit: Optional[str] = None
    duration_s: float = 0.0
    # Entries of the package folder the run added, removed or changed ("cache.bin
    # (added)"); None when the tree was too big to compare.
    package_changes: Optional[list[str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def loaded(self) -> bool:
        """load_model() returned an object."""
        return "load" in self.completed and not (self.kind == "missing" and self.stage == "load")

    @property
    def where(self) -> str:
        return STAGE_WORDS.get(self.stage, self.stage)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


# --------------------------------------------------------------------------- running


def parse_memory(text: str) -> int:
    """``"512M"``, ``"2G"``, ``"1.5GiB"``, ``"1048576"`` -> bytes.  ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"--memory {text!r}: expected a size like 512M or 2G")
    number, unit = float(match.group(1)), match.group(2).upper()
    value = int(number * 1024 ** " KMGT".index(unit or " "))
    if value < 64 * 1024 * 1024:
        raise ValueError(f"--memory {text!r}: below 64M no Python interpreter starts")
    return value


def resolve_timeout(pkg: "ModelPackage", options: Options) -> float:
    if options.timeout_s is not None:
        return float(options.timeout_s)
    value = pkg.settings.get("timeout")
    try:
        if value is not None and float(value) > 0:
            return float(value)
    except (TypeError, ValueError):
        pass
    return DEFAULT_TIMEOUT_S


def child_environment(python: Path, home: Path) -> dict[str, str]:
    """The scrubbed environment of the child (see the module docstring)."""
    env: dict[str, str] = {}
    for name, value in os.environ.items():
        if name in _KEEP_ENV or name.startswith(_KEEP_ENV_PREFIXES):
            if not _SECRET.search(name):
                env[name] = value
    # Like an activated venv: the env's scripts first on PATH.
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", os.defpath)])
    tmp = home / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update(HOME=str(home), TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp),
               PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1")
    return env


class _Drain(threading.Thread):
    """Reads one pipe to EOF keeping a head and a tail; calls ``on_flood`` past ``limit``."""

    def __init__(self, fd: int, limit: int, on_flood: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.fd, self.limit, self.on_flood = fd, limit, on_flood
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.total = 0
        self.flooded = False
        self.stop = threading.Event()

    def run(self) -> None:
        # A selector with a timeout rather than a blocking read: a grandchild that escaped
        # the process group may hold the pipe open forever; ``stop`` ends the wait then.
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.fd, selectors.EVENT_READ)
                while not self.stop.is_set():
                    if not selector.select(0.2):
                        continue
                    chunk = os.read(self.fd, 65536)
                    if not chunk:
                        return
                    self.keep(chunk)
                    if not self.flooded and self.total > self.limit:
                        self.flooded = True
                        self.on_flood()
        except OSError:
            return
        finally:
            try:
                os.close(self.fd)
            except OSError:
                pass

    def keep(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if len(self.head) < 1024:
            self.head += chunk[:1024 - len(self.head)]
        self.tail.append(chunk)
        self.tail_size += len(chunk)
        while self.tail and self.tail_size - len(self.tail[0]) >= TAIL_CHARS * 4:
            self.tail_size -= len(self.tail.popleft())

    def text(self) -> str:
        """The last TAIL_CHARS characters, saying how much came before them."""
        data = b"".join(self.tail)
        decoded = data.decode("utf-8", "replace")
        tail = decoded[-TAIL_CHARS:]
        if self.total == len(data) and len(tail) == len(decoded):
            return tail
        shown = len(tail.encode("utf-8", "replace"))
        return f"[... {max(self.total - shown, 0)} earlier bytes not shown ...]\n{tail}"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_probe(python: Path, pkg: "ModelPackage", inputs: Optional[dict[str, Any]],
              options: Options, predict: bool = True, repeat: bool = True) -> ProbeResult:
    """Import the interface, call load_model() and (with inputs) predict() twice, in
    ``python`` (the package's env), sandboxed.  Never raises for anything the package does.
    """
    timeout = resolve_timeout(pkg, options)
    memory = options.memory or pkg.settings.get("memory")  # the command line wins
    memory_bytes = parse_memory(str(memory)) if memory else None
    limit_mb = pkg.settings.get("max_output_mb")
    try:
        limit = int(float(limit_mb) * 1024 * 1024) if limit_mb else MAX_OUTPUT_BYTES
    except (TypeError, ValueError):
        limit = MAX_OUTPUT_BYTES
    started = time.perf_counter()
    sweep_stale_control_dirs()
    control = Path(tempfile.mkdtemp(prefix=CONTROL_PREFIX))
    work = control / "work"  # the child's cwd and HOME; the control files are outside it
    work.mkdir()
    try:
        # Whose control dir this is: a later run removes it if this process was killed
        # before its ``finally`` could (see sweep_stale_control_dirs).
        (control / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
        probe_path = control / "_probe.py"
        # A copy, so the script's directory on sys.path is this control dir, never
        # envcheck's own package directory (whose modules would shadow the package's).
        shutil.copyfile(PROBE_SOURCE, probe_path)
        request = {"interface": str(Path(pkg.interface_path).resolve()),
                   "package_root": str(Path(pkg.root).resolve()),
                   "inputs": inputs, "predict": bool(predict and inputs is not None),
                   "repeat": repeat, "stage_file": str(control / "stage"),
                   "memory_bytes": memory_bytes, "nproc_headroom": NPROC_HEADROOM,
                   "parent_pid": os.getpid()}
        request_path, result_path = control / "request.json", control / "result.json"
        request_path.write_text(json.dumps(request, allow_nan=False), encoding="utf-8")
        argv = [str(python), "-s", "-X", "faulthandler", str(probe_path),
                str(request_path), str(result_path)]
        before = tree_snapshot(Path(pkg.root))
        result = _spawn(argv, work, child_environment(python, work), timeout, limit)
        result.timeout_s = timeout
        result.memory_limit = str(memory) if memory else None
        _merge_child_result(result, result_path, control / "stage", memory_bytes)
        after = tree_snapshot(Path(pkg.root)) if before is not None else None
        result.package_changes = (tree_changes(before, after)
                                  if before is not None and after is not None else None)
    finally:
        shutil.rmtree(control, ignore_errors=True)
    result.duration_s = time.perf_counter() - started
    return result


CONTROL_PREFIX = "envcheck-probe-"
OWNER_FILE = "owner.pid"
MAX_SNAPSHOT_ENTRIES = 10_000  # a bigger package folder is not compared (too slow)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's): not ours to judge
    return True


def sweep_stale_control_dirs(directory: Optional[Path] = None) -> list[Path]:
    """Remove ``envcheck-probe-*`` control dirs whose owner process is dead (an envcheck
    killed by SIGKILL never runs its cleanup).  Dirs without an owner file are left alone:
    another envcheck may have just created one.  Returns what was removed."""
    root = Path(directory or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(CONTROL_PREFIX):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            owner = int((Path(entry.path) / OWNER_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        if owner != os.getpid() and not _alive(owner):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


Snapshot = dict[str, tuple[int, int, int]]


def tree_snapshot(root: Path, limit: int = MAX_SNAPSHOT_ENTRIES) -> Optional[Snapshot]:
    """{relative path: (size, mtime_ns, mode)} of everything under ``root`` (symlinks
    not followed), or None when there are more than ``limit`` entries.  The backstop for
    writes the probe's audit hook cannot see (native code, Python < 3.8)."""
    found: Snapshot = {}
    pending = [Path(root)]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                info_ = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            rel = os.path.relpath(entry.path, root)
            found[rel] = (info_.st_size, info_.st_mtime_ns, info_.st_mode)
            if len(found) > limit:
                return None
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
    return found


def tree_changes(before: Snapshot, after: Snapshot) -> list[str]:
    """``["cache.bin (added)", ...]`` sorted by path."""
    changes = []
    for rel in sorted(set(before) | set(after)):
        if rel not in before:
            changes.append(f"{rel} (added)")
        elif rel not in after:
            changes.append(f"{rel} (removed)")
        elif before[rel] != after[rel]:
            changes.append(f"{rel} (changed)")
    return changes


def _spawn(argv: list[str], cwd: Path, env: dict[str, str], timeout: float,
           limit: int) -> ProbeResult:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                                stdout=out_w, stderr=err_w, start_new_session=True,
                                close_fds=True)
    except OSError as exc:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        return ProbeResult(kind="infrastructure", stage="start",
                           message=f"cannot start {argv[0]}: {exc}")
    os.close(out_w)
    os.close(err_w)
    flood = threading.Event()

    def on_flood() -> None:
        flood.set()
        _kill_group(proc.pid)

    drains = [_Drain(out_r, limit, on_flood), _Drain(err_r, limit, on_flood)]
    for drain in drains:
        drain.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # Always: a timeout's whole group, and whatever the package left running
        # (workers, daemons) after the probe exited.
        _kill_group(proc.pid)
        proc.wait()
        for drain in drains:
            drain.join(timeout=2)
            drain.stop.set()
        for drain in drains:
            drain.join(timeout=2)
    stdout, stderr = drains
    result = ProbeResult(kind="infrastructure", stage="start", returncode=proc.returncode,
                         stdout_tail=stdout.text(), stderr_tail=stderr.text(),
                         stdout_bytes=stdout.total, stderr_bytes=stderr.total)
    if timed_out:
        result.kind = "timeout"
    elif flood.is_set():
        result.kind = "flood"
        stream = "stdout" if stdout.flooded else "stderr"
        result.message = (f"wrote more than {limit // (1024 * 1024)} MB to {stream} "
                          f"(output flood); the probe was stopped")
    return result


def _merge_child_result(result: ProbeResult, result_path: Path, stage_path: Path,
                        memory_bytes: Optional[int]) -> None:
    """Fill ``result`` from the probe's JSON, or classify the death from the outside."""
    try:
        stage = stage_path.read_text(encoding="utf-8").strip() or "start"
    except OSError:
        stage = "start"
    data: Optional[dict[str, Any]] = None
    if result_path.exists():
        try:
            data = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            result.kind, result.message = "infrastructure", f"unreadable probe result: {exc}"
            result.stage = stage
            return
    if data is not None:
        outside_kind = result.kind  # timeout/flood decided by the parent win
        for name in ("kind", "stage", "message", "completed", "exception_type",
                     "missing_module", "exit_code", "traceback_tail", "package_frames",
                     "warnings", "timings", "peak_memory_mb", "stage_memory_mb",
                     "predictions", "predictions_repeat", "input_mutated", "frame",
                     "model_type", "model_features", "find_class_imports",
                     "find_class_supported", "installed", "python", "platform"):
            if name in data and data[name] is not None:
                setattr(result, name, data[name])
        if outside_kind in ("timeout", "flood"):
            result.kind = outside_kind
        if result.kind == "infrastructure" and not result.message:
            result.message = "the probe reported an internal failure"
        result.kind = _refine_memory(result, memory_bytes)
        if result.kind == "timeout":
            result.message = f"did not finish within {result.timeout_s:g} s (timeout)"
        return
    result.stage = stage
    # The probe writes the stage marker before each stage, so every stage before the one
    # it died in completed: a timeout in predict() is predict's failure, not load's.
    stages = list(STAGE_WORDS)
    if stage in stages:
        result.completed = [s for s in stages[1:stages.index(stage)]]
    if result.kind == "timeout":
        result.message = f"did not finish within {result.timeout_s:g} s (timeout)"
        return
    if result.kind == "flood":
        return
    code = result.returncode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        result.kind, result.signal_name = "signal", name
        result.message = f"the interpreter was killed by {name}"
        if memory_bytes and name in ("SIGKILL", "SIGSEGV", "SIGABRT", "SIGBUS"):
            result.message += f" (possibly the memory limit of {result.memory_limit})"
        result.kind = _refine_memory(result, memory_bytes)
        return
    if "Fatal Python error" in result.stderr_tail and stage == "start":
        result.kind, result.message = "infrastructure", "the interpreter did not start"
        return
    result.kind, result.exit_code = "exit", code
    result.message = f"the process exited with status {code} (os._exit or an abort)"


def _refine_memory(result: ProbeResult, memory_bytes: Optional[int]) -> str:
    if result.kind == "memory":
        return "memory"
    text = " ".join((result.stderr_tail, result.message, result.traceback_tail))
    if memory_bytes and any(sign in text for sign in _OUT_OF_MEMORY):
        return "memory"
    return result.kind


# --------------------------------------------------------------------------- load


def distribution_for(module: str) -> str:
    """What to add to requirements.txt for a missing import name."""
    top = module.split(".")[0]
    return _DISTRIBUTION_OF.get(module) or _DISTRIBUTION_OF.get(top) or top


def failure_location(pkg: "ModelPackage", result: ProbeResult) -> dict[str, Any]:
    """file/line of the innermost frame in the package's own code; else the interface:
    whatever the probe saw (a crash, a hang, a flood, a wrong return value), the
    package's code did it, entered through interface.py."""
    if result.package_frames:
        frame = result.package_frames[-1]
        return {"file": frame.get("file"), "line": frame.get("line")}
    if result.kind == "bad-input":  # envcheck's smoke inputs, not the package's code
        return {}
    if result.kind == "missing" and result.missing_module:  # e.g. pandas not installed
        return {"file": pkg.relative(Path(pkg.requirements_path))}
    return {"file": pkg.relative(Path(pkg.interface_path))}


def failure_details(result: ProbeResult) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": result.kind, "stage": result.stage}
    for name in ("exception_type", "missing_module", "exit_code", "signal_name",
                 "returncode"):
        value = getattr(result, name)
        if value is not None:
            details[name] = value
    if result.traceback_tail:
        details["traceback"] = result.traceback_tail
    if result.package_frames:
        details["package_frames"] = result.package_frames
    if result.kind in ("signal", "exit", "infrastructure", "memory", "timeout") \
            and result.stderr_tail:
        details["stderr_tail"] = result.stderr_tail
    if result.kind == "flood" or (result.kind != "ok" and result.stdout_tail):
        details["stdout_tail"] = result.stdout_tail[-1000:]
    details["stdout_bytes"], details["stderr_bytes"] = result.stdout_bytes, result.stderr_bytes
    return details


def describe_failure(pkg: "ModelPackage", result: ProbeResult) -> str:
    """One sentence: what happened, where, and what to do."""
    interface = pkg.relative(Path(pkg.interface_path))
    where = f"importing {interface}" if result.stage == "import" else result.where
    kind = result.kind
    if kind == "missing":
        return result.message
    if kind == "exception" and result.missing_module and \
            result.exception_type in ("ModuleNotFoundError", "ImportError"):
        module = result.missing_module
        if result.stage == "import" and result.package_frames:
            lead = f"{interface} imports '{module}'"
        elif result.stage == "import":
            lead = f"'{module}' is imported while {where}"
        else:
            lead = f"{where} needs module '{module}'"
        return (f"{lead}, which is not installed in the package's environment: "
                f"add {distribution_for(module)} to requirements.txt")
    if kind == "exception":
        return f"{where} raised {result.message}"
    if kind == "exit":
        if result.exit_code is not None and result.message.startswith("sys.exit"):
            return f"{where} called sys.exit({result.exit_code!r})"
        return f"{where}: {result.message}"
    if kind == "signal":
        return f"the interpreter crashed during {where}: killed by {result.signal_name}" + (
            f" (the memory limit of {result.memory_limit} may have been reached)"
            if result.memory_limit else "")
    if kind == "timeout":
        return (f"{where} did not finish within {result.timeout_s:g} s: raise --timeout or "
                f"set envcheck.timeout in metadata.yaml if it is just slow")
    if kind == "memory":
        limit = f" (limit {result.memory_limit})" if result.memory_limit else ""
        cause = f": {result.message}" if result.message not in ("", "MemoryError") else ""
        return f"{where} ran out of memory{limit}{cause}"
    if kind == "flood":
        return f"{where} {result.message}"
    if kind == "bad-output":
        return f"{where}: {result.message}"
    if kind == "bad-input":
        return result.message
    return f"envcheck could not run the probe ({where}): {result.message}"


def check_load(pkg: "ModelPackage", result: ProbeResult) -> CheckResult:
    """``load``: importing the interface and load_model() in the package's env."""
    timings = {k: round(v, 3) for k, v in result.timings.items()
               if k in ("import_s", "load_s")}
    if result.kind == "infrastructure" and not result.loaded:
        return CheckResult("load", Status.ERROR,
                           [error(describe_failure(pkg, result),
                                  details=failure_details(result))], result.duration_s)
    changed = _package_change_findings(pkg, result)
    if result.loaded:
        memory = result.stage_memory_mb.get("load")
        if "load_s" in result.timings:
            text = (f"loaded {result.model_type or 'the model'} in "
                    f"{result.timings.get('load_s', 0):.2f} s (import "
                    f"{result.timings.get('import_s', 0):.2f} s)"
                    + (f", peak memory {memory:.0f} MB" if memory else ""))
        else:  # the probe was stopped later, and its measurements with it
            text = f"loaded the model (the probe was stopped later, during {result.where})"
        return CheckResult.from_findings("load", [info(
            text, details={"timings": timings, "peak_memory_mb": memory,
                           "python": result.python})] + changed,
            result.timings.get("load_s", 0.0))
    return CheckResult.from_findings("load", [error(
        describe_failure(pkg, result), details=failure_details(result),
        **failure_location(pkg, result))] + changed, result.duration_s)


def _package_change_findings(pkg: "ModelPackage", result: ProbeResult) -> list[Finding]:
    """The backstop of the probe's write guard: what changed in the package folder."""
    changes = result.package_changes
    if not changes:
        return []
    shown = ", ".join(changes[:10]) + (f" and {len(changes) - 10} more"
                                       if len(changes) > 10 else "")
    return [error(f"the package's code changed its own package folder during check: "
                  f"{shown}; a model must load without writing next to itself (the folder "
                  f"may be read-only where it ships): write caches to a temp dir",
                  file=pkg.relative(Path(pkg.interface_path)),
                  details={"changes": changes})]


# --------------------------------------------------------------------------- warnings


def parse_sklearn_version_warning(message: str) -> Optional[tuple[str, str, str]]:
    """(estimator, pickled_with, loaded_with) from scikit-learn's unpickle warning text."""
    match = _SKLEARN_VERSION_WARNING.search(message)
    if match is None:
        return None
    return match.group("estimator"), match.group("pickled"), match.group("loaded")


def allow_patterns(pkg: "ModelPackage", options: Options) -> list[re.Pattern[str]]:
    raw = list(options.allow_warnings)
    configured = pkg.settings.get("allow_warnings") or []
    if isinstance(configured, str):
        configured = [configured]
    raw.extend(str(p) for p in configured)
    patterns = []
    for text in raw:
        try:
            patterns.append(re.compile(text))
        except re.error:
            patterns.append(re.compile(re.escape(text)))
    return patterns


def _allowed(entry: dict[str, Any], patterns: list[re.Pattern[str]]) -> Optional[str]:
    subject = f"{entry.get('category', '')}: {entry.get('message', '')}"
    for pattern in patterns:
        if pattern.search(subject):
            return pattern.pattern
    return None


def warning_findings(entries: list[dict[str, Any]], patterns: list[re.Pattern[str]],
                     when: str) -> list[Finding]:
    """Findings for warnings other than scikit-learn's version warning, one per distinct
    (category, message, source), counted."""
    grouped: dict[tuple[str, str, str, Any], dict[str, Any]] = {}
    for entry in entries:
        key = (entry.get("category", ""), entry.get("message", ""),
               entry.get("filename", ""), entry.get("lineno"))
        if key in grouped:
            grouped[key]["count"] += entry.get("count", 1)
        else:
            grouped[key] = dict(entry, count=entry.get("count", 1))
    findings = []
    for entry in grouped.values():
        count = entry["count"]
        times = f" (x{count})" if count > 1 else ""
        text = f"{entry['category']} {when}{times}: {entry['message']}"
        details = {k: entry.get(k) for k in ("category", "category_module", "message",
                                              "filename", "lineno", "stage", "count")}
        allowed = _allowed(entry, patterns)
        if allowed:
            details["allowed_by"] = allowed
            findings.append(info(f"{text} [allowed by {allowed!r}]", details=details))
        else:
            findings.append(warning(text, details=details))
    return findings


def sklearn_version_info(entry: dict[str, Any]) -> Optional[tuple[str, str, str]]:
    """(estimator, pickled_with, loaded_with) when ``entry`` is scikit-learn's unpickle
    warning: structured (InconsistentVersionWarning, >= 1.3) or parsed from the text of
    the 0.18-1.2 UserWarning."""
    if entry.get("estimator") and entry.get("pickled_with"):
        return (str(entry["estimator"]), str(entry["pickled_with"]),
                str(entry.get("loaded_with", "")))
    if entry.get("category") not in ("UserWarning", "InconsistentVersionWarning"):
        return None
    return parse_sklearn_version_warning(str(entry.get("message", "")))


def check_load_warnings(pkg: "ModelPackage", result: ProbeResult,
                        options: Options) -> CheckResult:
    """``load.warnings``: scikit-learn's unpickle warning fails (one finding per distinct
    estimator and versions, counted); other warnings warn; allowed ones are info."""
    if result.stage == "start" and not result.warnings:
        return CheckResult.skipped("load.warnings", "the probe did not start")
    entries = [w for w in result.warnings if w.get("stage") in ("import", "load")]
    patterns = allow_patterns(pkg, options)
    grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
    others = []
    for entry in entries:
        versions = sklearn_version_info(entry)
        if versions is None:
            others.append(entry)
            continue
        slot = grouped.setdefault(versions, {"count": 0, "entry": entry})
        slot["count"] += entry.get("count", 1)
    findings: list[Finding] = []
    for (estimator, pickled, loaded), slot in grouped.items():
        count = slot["count"]
        details = {"estimator": estimator, "pickled_with": pickled, "loaded_with": loaded,
                   "count": count, "category": slot["entry"].get("category")}
        times = f" ({count} objects)" if count > 1 else ""
        text = (f"{estimator} was pickled with scikit-learn {pickled} but loaded with "
                f"{loaded}{times}: pin scikit-learn=={pickled} in requirements.txt, or "
                f"re-train and pickle with {loaded}")
        allowed = _allowed(slot["entry"], patterns)
        if allowed:
            details["allowed_by"] = allowed
            findings.append(info(f"{text} [allowed by {allowed!r}]", details=details))
        else:
            findings.append(error(text, details=details))
    findings.extend(warning_findings(others, patterns, "while loading"))
    return CheckResult.from_findings("load.warnings", findings,
                                     sum(result.timings.get(k, 0.0) for k in ("import_s", "load_s")))


# --------------------------------------------------------------------------- runtime imports


def check_runtime_imports(pkg: "ModelPackage", result: ProbeResult,
                          allowed: Callable[[str, str], bool]) -> list[Finding]:
    """Findings (for ``pickle.safety``) about globals pickle actually imported at load time
    that ``allowed(module, name)`` rejects; e.g. a pickle built at runtime by the interface
    or one the static scan could not read."""
    if not result.find_class_supported:
        if result.python and result.stage != "start":
            return [info(f"runtime pickle imports are not audited on Python {result.python} "
                         f"(needs 3.8+ audit hooks)")]
        return []
    findings: list[Finding] = []
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in result.find_class_imports:
        key = (str(entry.get("module")), str(entry.get("name")))
        slot = seen.setdefault(key, {"count": 0, "stages": []})
        slot["count"] += int(entry.get("count", 1))
        if entry.get("stage") not in slot["stages"]:
            slot["stages"].append(entry.get("stage"))
    for (module, name), slot in sorted(seen.items()):
        if allowed(module, name):
            continue
        stages = ", ".join(STAGE_WORDS.get(s, s) for s in slot["stages"])
        findings.append(error(
            f"unpickling imported {module}.{name} at runtime (during {stages}), which is not "
            f"on the allowlist: trust it with --trust-pickle {module}.{name} if it is "
            f"expected", details={"module": module, "name": name, "count": slot["count"],
                                  "stages": slot["stages"], "source": "audit hook"}))
    return findings
