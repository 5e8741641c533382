"""What the probe saw, as the parent holds it: :class:`ProbeResult`, and how a result
file or a death is turned into one (:func:`merge_child_result`).

Everything here but the return code, the sandbox report and the parent's own timeout
or flood decision comes from the package's process, and could be forged by it.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.launch.sandbox import SandboxReport
from envcheck.model.options import DEFAULT_TIMEOUT_S
from envcheck.probe import protocol

# The words for each of protocol.STAGES, in findings ("load_model() raised ...").
STAGE_WORDS = dict(zip(protocol.STAGES, (
    "starting the probe", "importing the interface", "load_model()",
    "building the input DataFrame", "predict()",
    "the second predict() (determinism check)", "reporting the result")))

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


def merge_child_result(result: ProbeResult, result_path: Path, stage_path: Path,
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
