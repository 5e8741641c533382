"""Run the probe, which executes a package's untrusted code, inside a sandbox.

Threat model: loading a model package runs its code (pickles, ``__init__``, custom
classes).  That code must not (a) read secrets of other processes, above all envcheck's
own environment (CI tokens) through ``/proc/<pid>/environ``; (b) read files outside the
package, its environment and the interpreter (``~/.netrc``, ``~/.ssh``), or write
anywhere but a private scratch dir; (c) reach the network; (d) leave a process running
after the probe ends; (e) forge the sandbox's own account of what held.  It may burn CPU
until the caller's timeout and use the memory it is given.

The layers, each attempted on its own by confine.py (the child side, standard library
only) and reported as held or not with the reason; none is required:

userns      a user namespace: /proc/<pid>/environ (and ptrace) of every process outside
            it is denied, whatever the uid.  The probe runs as a non-root uid in it, so
            execve drops the capabilities it would grant; setuid programs stop working.
pidns       a pid namespace: the probe sees only its own processes, and when its pid 1
            exits the kernel kills every process left in it (no daemon survives).
mountns     a private mount namespace with a fresh /proc of that pid namespace, so the
            pids of envcheck and of everything else are not even visible.
netns       a network namespace without interfaces: no network, not even 127.0.0.1.
subreaper   without a pid namespace: the waiter adopts orphans and kills every descendant
            left once the probe exits (not if the whole group is SIGKILLed first).
uid         when root without a user namespace: become uid 65534, so other processes'
            /proc files are another user's; only if 65534 can reach every path it needs.
nonewprivs  PR_SET_NO_NEW_PRIVS: setuid programs (sudo on a CI runner) cannot elevate.
landlock    filesystem: read+execute beneath ``read_only``, everything beneath
            ``writable``; TCP bind/connect denied (ABI 4); signals and abstract unix
            sockets scoped to the sandbox (ABI 6).  It does not deny reading a same-uid
            /proc/<pid>/environ, so without a fresh /proc only /proc's system-wide
            entries and the probe's own /proc/<pid> are readable (not its children's).
rlimits     no core files; address space, file size and task count bounded when given.

Not covered: connecting to a pathname unix socket the probe's uid may write (Landlock
up to ABI 7 does not mediate connect(2)); UDP when only Landlock blocks the network.

Why a waiter: confine.py's own process stays outside the namespaces' pid 1 and waits.
Its exit status is the probe's (exit code, or death by the same signal, re-raised), so
the caller's classification keeps working; pid 1 itself could not die by a signal it
sends itself, and pid 1's exit is what tears the namespace down.  Without a pid
namespace the waiter is the subreaper that cleans up.

``launch()`` never uses ``preexec_fn`` (the caller is multi-threaded): everything is
done by confine.py after the fork, in a fresh single-threaded interpreter.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

CONFINE = Path(__file__).with_name("confine.py")
LAYERS = ("userns", "pidns", "mountns", "netns", "subreaper", "uid", "nonewprivs",
          "landlock", "rlimits")
# Not all of /dev: raw disks there are readable by root.
_SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc",
                 "/sys", "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                 "/dev/urandom")


def default_read_only_paths() -> list[Path]:
    """The system paths any interpreter needs (libraries, /etc, /proc), those that exist."""
    return [Path(p) for p in _SYSTEM_PATHS if os.path.exists(p)]


def sandbox_disabled_layers() -> frozenset[str]:
    """Layers switched off by ``ENVCHECK_SANDBOX``: ``off`` (all) or ``no-userns,no-landlock``."""
    value = os.environ.get("ENVCHECK_SANDBOX", "").strip()
    if value in ("", "on"):
        return frozenset()
    if value == "off":
        return frozenset(LAYERS)
    disabled = set()
    for item in value.split(","):
        name = item.strip().removeprefix("no-")
        if not item.strip().startswith("no-") or name not in LAYERS:
            raise ValueError(f"ENVCHECK_SANDBOX: {item.strip()!r} is not 'off' or no-LAYER "
                             f"with LAYER one of {', '.join(LAYERS)}")
        disabled.add(name)
    return frozenset(disabled)


@dataclass
class SandboxSpec:
    """What the probe may do; independent of the program that is run."""

    read_only: list[Path]
    writable: list[Path]
    env: dict[str, str]            # the probe's whole environment
    allow_network: bool = False
    memory_bytes: Optional[int] = None
    max_file_bytes: Optional[int] = None
    max_processes: Optional[int] = 4096    # tasks: every thread counts
    disable: frozenset[str] = field(default_factory=sandbox_disabled_layers)  # ENVCHECK_SANDBOX

    def to_json(self, keep_fds: Sequence[int]) -> bytes:
        return json.dumps({
            "read_only": [os.path.abspath(p) for p in self.read_only],
            "writable": [os.path.abspath(p) for p in self.writable],
            "allow_network": self.allow_network, "memory_bytes": self.memory_bytes,
            "max_file_bytes": self.max_file_bytes, "max_processes": self.max_processes,
            "env": self.env, "disable": sorted(self.disable), "keep_fds": list(keep_fds),
        }).encode()


@dataclass
class SandboxReport:
    """What confine.py says it applied.  ``error`` when it said nothing."""

    layers: dict[str, dict[str, Any]]
    allow_network: bool = False
    error: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        """The report's ``environment.sandbox`` block: each layer held or not, and gaps."""
        return {"layers": {name: self.held(name) for name in LAYERS if name in self.layers},
                "missing": self.missing(), **({"error": self.error} if self.error else {})}

    def held(self, layer: str) -> bool:
        return bool(self.layers.get(layer, {}).get("held"))

    def missing(self) -> list[str]:
        """What the probe was not isolated from, one warning each."""
        held = self.held
        gaps = [f"sandbox: {self.error}"] if self.error else []
        if not (held("userns") or held("uid") or held("landlock")):
            gaps.append("secrets: other processes' environments, envcheck's included, "
                        "are readable through /proc/<pid>/environ")
        if not held("landlock"):
            gaps.append("filesystem: the probe may read and write any file its user may")
        if not self.allow_network and not held("netns"):
            if self.layers.get("landlock", {}).get("tcp_blocked"):
                gaps.append("network: only TCP is blocked; UDP and other protocols are open")
            else:
                gaps.append("network: open")
        if not (held("pidns") or held("subreaper")):
            gaps.append("descendants: a daemonised process may outlive the probe")
        if not (held("nonewprivs") or held("userns")):
            gaps.append("privileges: setuid programs such as sudo may elevate the probe")
        if not held("rlimits"):
            gaps.append("resources: memory and file sizes are not limited")
        return gaps


class ConfinedProcess:
    """A started sandbox.  ``popen`` is confine.py, whose exit status is the probe's.

    Call ``report()`` once: it is what closes the report pipe.
    """

    def __init__(self, popen: subprocess.Popen[bytes], report_fd: int,
                 allow_network: bool) -> None:
        self.popen = popen
        self._report_fd = report_fd
        self._allow_network = allow_network
        self._report: Optional[SandboxReport] = None

    def report(self, timeout: Optional[float] = None) -> SandboxReport:
        """The layers that held; waits until the probe was exec'd or confine.py died.

        Reads and closes the report pipe on the first call; later calls return the same.
        """
        if self._report is None:
            data, complete = _read_to_eof(self._report_fd, timeout)
            os.close(self._report_fd)
            self._report = self._parse(data, complete, timeout)
        return self._report

    def _parse(self, data: bytes, complete: bool, timeout: Optional[float]) -> SandboxReport:
        if not complete:
            return SandboxReport({}, self._allow_network,
                                 f"confine.py did not report within {timeout} s")
        if not data:
            return SandboxReport({}, self._allow_network,
                                 "confine.py exited before reporting its layers")
        try:
            layers = json.loads(data)
        except ValueError:
            return SandboxReport({}, self._allow_network, "confine.py's report is garbled")
        return SandboxReport(layers, self._allow_network)


def _read_to_eof(fd: int, timeout: Optional[float]) -> tuple[bytes, bool]:
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not select.select([fd], [], [], wait)[0]:
            return b"".join(chunks), False
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)


def launch(argv: Sequence[str], spec: SandboxSpec, **popen_kwargs: Any) -> ConfinedProcess:
    """Start ``argv`` confined by ``spec``; ``popen_kwargs`` go to ``subprocess.Popen``.

    The process leads a new session (kill its group on timeout).  ``pass_fds`` are kept
    open for the probe; ``env`` is the spec's, and ``preexec_fn`` is refused.
    """
    for refused in ("env", "preexec_fn", "close_fds"):
        if refused in popen_kwargs:
            raise TypeError(f"launch() sets {refused} itself")
    keep_fds = tuple(popen_kwargs.pop("pass_fds", ()))
    popen_kwargs.setdefault("start_new_session", True)
    program = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=spec.env.get("PATH"))
    program = os.path.abspath(program or argv[0])
    # The spec travels through a pipe: nothing on disk for the probe to rewrite, and no
    # environment in argv for other processes to read.
    spec_r, spec_w = os.pipe()
    report_r, report_w = os.pipe()
    command = [sys.executable, "-I", "-S", str(CONFINE), str(spec_r), str(report_w), "--",
               program, *argv[1:]]
    # Nothing of envcheck's environment: the waiter's /proc/<pid>/environ stays empty.
    # (The interpreter may need its library path to start at all.)
    confine_env = {k: v for k, v in os.environ.items() if k == "LD_LIBRARY_PATH"}
    try:
        popen = subprocess.Popen(command, env=confine_env, close_fds=True,
                                 pass_fds=(*keep_fds, spec_r, report_w), **popen_kwargs)
    except BaseException:
        os.close(spec_w)
        os.close(report_r)
        raise
    finally:
        os.close(spec_r)
        os.close(report_w)
    try:
        with open(spec_w, "wb") as pipe:
            pipe.write(spec.to_json(keep_fds))
    except BrokenPipeError:
        pass    # confine.py died before reading; its report will say so
    return ConfinedProcess(popen, report_r, spec.allow_network)
