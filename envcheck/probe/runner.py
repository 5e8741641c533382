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
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from envcheck.env.sandboxed import interpreter_paths
from envcheck.launch.environment import probe_environment
from envcheck.launch.sandbox import (
    SandboxSpec,
    default_read_only_paths,
    sandbox_disabled_layers,
)
from envcheck.model.options import (
    DEFAULT_MAX_OUTPUT_MB,
    DEFAULT_TIMEOUT_S,
    Options,
    parse_memory,
)
from envcheck.model.package import ModelPackage
from envcheck.probe import package_tree, protocol
from envcheck.probe.result import ProbeResult, merge_child_result
from envcheck.probe.spawn import spawn

# The child and its stdlib-only helpers, copied into the probe's control directory under
# names no package module will have (the child imports them from there).
PROBE_FILES = {"child.py": "_probe.py", "protocol.py": protocol.COPY_NAME,
               "child_guards.py": "_envcheck_child_guards.py",
               "child_process.py": "_envcheck_child_process.py"}
# RLIMIT_FSIZE of the probe: no file it writes (its temp files, its result) grows past it.
MAX_FILE_BYTES = 4 * 1024 ** 3
MAX_OUTPUT_BYTES = int(DEFAULT_MAX_OUTPUT_MB * 1024 * 1024)  # per stream; more is a flood
NPROC_HEADROOM = 512  # processes the package may start (where RLIMIT_NPROC is enforced)

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


def run_probe(python: Path, pkg: ModelPackage, inputs: Optional[dict[str, Any]],
              options: Options, predict: bool = True, repeat: bool = True,
              installed: bool = False) -> ProbeResult:
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
        for source, copy in PROBE_FILES.items():
            shutil.copyfile(Path(__file__).with_name(source), probe_dir / copy)
        request = {"interface": str(Path(pkg.interface_path).resolve()),
                   "package_root": str(Path(pkg.root).resolve()),
                   "inputs": inputs, "predict": bool(predict and inputs is not None),
                   "repeat": repeat, "stage_file": str(out / "stage"),
                   "memory_bytes": memory_bytes, "nproc_headroom": NPROC_HEADROOM,
                   # What the interpreter itself lists: record keeps it; check does not
                   # need it (envcheck reads the env's dist-info) nor pay for it.
                   "installed": installed}
        request_path, result_path = probe_dir / "request.json", out / "result.json"
        request_path.write_text(json.dumps(request, allow_nan=False), encoding="utf-8")
        argv = [str(python), "-s", "-X", "faulthandler", str(probe_path),
                str(request_path), str(result_path)]
        spec = SandboxSpec(read_only=_readable(python, pkg, probe_dir),
                           writable=[work, out], env=probe_environment(python, work),
                           allow_network=options.allow_network, memory_bytes=memory_bytes,
                           max_file_bytes=MAX_FILE_BYTES, disable=_disabled_layers())
        before = package_tree.snapshot(Path(pkg.root))
        result = spawn(argv, work, spec, timeout, limit)
        result.timeout_s = timeout
        result.memory_limit = str(memory) if memory else None
        merge_child_result(result, result_path, out / "stage", memory_bytes)
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
    paths = [*default_read_only_paths(), *interpreter_paths(python), probe_dir,
             Path(pkg.root).resolve()]
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
