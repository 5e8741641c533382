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
from typing import Any, Callable, Optional

from envcheck.env.distributions import read_pyvenv_cfg
from envcheck.launch.environment import probe_environment
from envcheck.launch.sandbox import (
    SandboxReport,
    SandboxSpec,
    default_read_only_paths,
    launch,
    sandbox_disabled_layers,
)
from envcheck.model.options import DEFAULT_MAX_OUTPUT_MB, DEFAULT_TIMEOUT_S, Options, parse_memory
from envcheck.model.package import ModelPackage
from envcheck.probe import package_tree, protocol

PROBE_SOURCE = Path(__file__).with_name("child.py")
PROTOCOL_SOURCE = Path(__file__).with_name("protocol.py")
# RLIMIT_FSIZE of the probe: no file it writes (its temp files, its result) grows past it.
MAX_FILE_BYTES = 4 * 1024 ** 3
MAX_OUTPUT_BYTES = int(DEFAULT_MAX_OUTPUT_MB * 1024 * 1024)  # per stream; more is a flood
TAIL_CHARS = 4000  # of stdout/stderr kept in the report
NPROC_HEADROOM = 512  # processes the package may start (where RLIMIT_NPROC is enforced)

STAGE_WORDS = {
    "start": "starting the probe",
    "import": "importing the interface",
    "load": "load_model()",
    "inputs": "building the input DataFrame",
    "predict": "predict()",
    "predict-repeat": "the second predict() (determinism check)",
    "done": "reporting the result",
}

# How running out of address space (RLIMIT_AS) shows when it is not a MemoryError: a
# shared library that cannot be mapped, a C++ allocation, OpenBLAS's thread buffers.
_OUT_OF_MEMORY = ("MemoryError", "std::bad_alloc", "Cannot allocate memory",
                  "failed to map segment from shared object", "memory allocation failed",
                  "pthread_create failed")

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
    # (added)"); the last says when the comparison was cut short.
    package_changes: list[str] = field(default_factory=list)
    package_compared_all: bool = True  # False: the tree had more than MAX_ENTRIES entries
    # Which sandbox layers held (confine.py's report, written before the package ran).
    sandbox: Optional[SandboxReport] = None
    # What the package did to the probe's warning capture (refused; from its process).
    warnings_tampering: list[dict[str, Any]] = field(default_factory=list)

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


def resolve_timeout(pkg: ModelPackage, options: Options) -> float:
    if options.timeout_s is not None:
        return float(options.timeout_s)
    value = pkg.settings.get("timeout")
    try:
        if value is not None and float(value) > 0:
            return float(value)
    except (TypeError, ValueError):
        pass
    return DEFAULT_TIMEOUT_S


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


def run_probe(python: Path, pkg: ModelPackage, inputs: Optional[dict[str, Any]],
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
    # The probe may write only here: its cwd, HOME and TMPDIR, and its result.
    work = control / "work"
    work.mkdir()
    out = control / "out"
    out.mkdir()
    try:
        # Whose control dir this is: a later run removes it if this process was killed
        # before its ``finally`` could (see sweep_stale_control_dirs).
        (control / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
        probe_dir = control / "probe"
        probe_dir.mkdir()
        probe_path = probe_dir / "_probe.py"
        # Copies, so the script's directory on sys.path is this control dir, never
        # envcheck's own package directory (whose modules would shadow the package's).
        shutil.copyfile(PROBE_SOURCE, probe_path)
        shutil.copyfile(PROTOCOL_SOURCE, probe_dir / protocol.COPY_NAME)
        request = {"interface": str(Path(pkg.interface_path).resolve()),
                   "package_root": str(Path(pkg.root).resolve()),
                   "inputs": inputs, "predict": bool(predict and inputs is not None),
                   "repeat": repeat, "stage_file": str(out / "stage"),
                   "memory_bytes": memory_bytes, "nproc_headroom": NPROC_HEADROOM}
        request_path, result_path = probe_dir / "request.json", out / "result.json"
        request_path.write_text(json.dumps(request, allow_nan=False), encoding="utf-8")
        argv = [str(python), "-s", "-X", "faulthandler", str(probe_path),
                str(request_path), str(result_path)]
        spec = SandboxSpec(read_only=_readable(python, pkg, probe_dir),
                           writable=[work, out], env=probe_environment(python, work),
                           allow_network=options.allow_network, memory_bytes=memory_bytes,
                           max_file_bytes=MAX_FILE_BYTES, disable=_disabled_layers())
        before = package_tree.snapshot(Path(pkg.root))
        result = _spawn(argv, work, spec, timeout, limit)
        result.timeout_s = timeout
        result.memory_limit = str(memory) if memory else None
        _merge_child_result(result, result_path, out / "stage", memory_bytes)
        after = package_tree.snapshot(Path(pkg.root))
        result.package_changes = package_tree.changes(before, after)
        result.package_compared_all = not (before.truncated or after.truncated)
    finally:
        shutil.rmtree(control, ignore_errors=True)
    result.duration_s = time.perf_counter() - started
    return result


def _readable(python: Path, pkg: ModelPackage, probe_dir: Path) -> list[Path]:
    """What the probe may read: the system, the env and the interpreter it was made from,
    the package, the probe's own script -- and nothing else of the machine (no HOME, no
    cache, no other package)."""
    venv = Path(python).parent.parent
    paths = [*default_read_only_paths(), venv, probe_dir, Path(pkg.root).resolve()]
    home = read_pyvenv_cfg(venv).get("home")  # the base interpreter's bin directory
    for base in (Path(home) if home else None, Path(python).resolve().parent):
        if base is not None:
            paths.append(base.resolve().parent)
    interface = Path(pkg.interface_path).resolve()
    if not interface.is_relative_to(Path(pkg.root).resolve()):
        paths.append(interface.parent)  # a loader envcheck generated (MLflow)
    return paths


def _disabled_layers() -> frozenset[str]:
    try:
        return sandbox_disabled_layers()
    except ValueError:  # a typo in ENVCHECK_SANDBOX must not switch the sandbox off
        return frozenset()


CONTROL_PREFIX = "envcheck-probe-"
OWNER_FILE = "owner.pid"


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


def _spawn(argv: list[str], cwd: Path, spec: SandboxSpec, timeout: float,
           limit: int) -> ProbeResult:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        confined = launch(argv, spec, cwd=str(cwd), stdin=subprocess.DEVNULL,
                          stdout=out_w, stderr=err_w)
        proc = confined.popen
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
                         stdout_bytes=stdout.total, stderr_bytes=stderr.total,
                         sandbox=confined.report(timeout=5))
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
            data = _read_result(result_path)
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
                     "find_class_supported", "installed", "python", "platform",
                     "warnings_tampering"):
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


def _read_result(path: Path) -> dict[str, Any]:
    """The probe's result, read only up to MAX_RESULT_BYTES: the package's process wrote
    it, and may have made it huge to exhaust envcheck's own memory."""
    with open(path, "rb") as handle:
        raw = handle.read(protocol.MAX_RESULT_BYTES + 1)
    if len(raw) > protocol.MAX_RESULT_BYTES:
        raise ValueError(f"it is larger than {protocol.MAX_RESULT_BYTES // (1024 * 1024)} MB "
                         "(a smoke prediction is kilobytes): not read")
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or data.get("protocol_version") != protocol.PROTOCOL_VERSION:
        raise ValueError(f"not a result of probe protocol {protocol.PROTOCOL_VERSION}")
    return data


def _refine_memory(result: ProbeResult, memory_bytes: Optional[int]) -> str:
    if result.kind == "memory":
        return "memory"
    text = " ".join((result.stderr_tail, result.message, result.traceback_tail))
    if memory_bytes and any(sign in text for sign in _OUT_OF_MEMORY):
        return "memory"
    return result.kind
