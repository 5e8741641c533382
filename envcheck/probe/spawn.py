"""Start the probe in its sandbox and watch it: output drained through bounded buffers,
a flood or a timeout ends the whole process group."""

from __future__ import annotations

import os
import select
import selectors
import signal
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Callable

from envcheck.launch.sandbox import SandboxSpec, launch
from envcheck.probe.result import ProbeResult

TAIL_CHARS = 4000  # of stdout/stderr kept in the report


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


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """``proc.wait(timeout)`` without its polling loop, which sleeps up to 50 ms between
    looks (on every warm check): a pidfd becomes readable the moment the process exits."""
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(proc.pid)
        except OSError:
            fd = None
        if fd is not None:
            try:
                if not select.select([fd], [], [], timeout)[0]:
                    raise subprocess.TimeoutExpired(proc.args, timeout)
            finally:
                os.close(fd)
    proc.wait(timeout=timeout)


def spawn(argv: list[str], cwd: Path, spec: SandboxSpec, timeout: float,
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
        _wait(proc, timeout)
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
