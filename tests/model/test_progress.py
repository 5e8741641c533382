"""Progress on stderr: phase lines off a terminal, a live line that fits 80 columns on one."""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import struct
import termios
import time

import pytest

from envcheck.model.progress import Progress

LONG = ("Building env 1a2b3c4d5e6f (Python 3.11.7, uv, 14 requirements) for "
        "models/a-rather-long-package-name-from-a-monorepo")
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_disabled_progress_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    progress = Progress(enabled=False, stream=stream)
    with progress.step("Building env") as step:
        step.phase("install")
    progress.note("hello")
    assert stream.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_off_a_terminal_each_phase_is_a_plain_line_with_its_time() -> None:
    stream = io.StringIO()
    progress = Progress(enabled=True, stream=stream)
    assert not progress.live
    with progress.step("Building env abc") as step:
        step.phase("resolve")
        step.phase("compile", "3 distributions linked from the bytecode store")
        time.sleep(0.15)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Building env abc..."
    assert re.fullmatch(r"  resolve +0\.\ds", lines[1]), lines
    assert re.fullmatch(r"  compile +0\.[1-9]s  3 distributions linked from the bytecode "
                        r"store", lines[2]), lines
    assert re.fullmatch(r"Building env abc: done in 0\.[1-9]s \(resolve 0\.\ds, "
                        r"compile 0\.[1-9]s\)", lines[3]), lines
    assert len(lines) == 4 and "\x1b" not in stream.getvalue()


def test_a_failed_step_says_failed_and_keeps_its_phases() -> None:
    stream = io.StringIO()
    progress = Progress(enabled=True, stream=stream)
    with pytest.raises(RuntimeError), progress.step("Building env abc") as step:
        step.phase("install")
        raise RuntimeError("boom")
    last = stream.getvalue().splitlines()[-1]
    assert re.fullmatch(r"Building env abc: failed in 0\.\ds", last), last


def _read_all(master: int) -> str:
    chunks = []
    while select.select([master], [], [], 1.0)[0]:
        try:
            chunks.append(os.read(master, 65536))
        except OSError:
            break
    return b"".join(chunks).decode("utf-8", "replace")


def test_on_an_80_column_terminal_spinner_phase_and_timer_stay_visible(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("NO_COLOR", raising=False)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with os.fdopen(slave, "w") as tty:
        progress = Progress(enabled=True, stream=tty)
        assert progress.live
        with progress.step(LONG) as step:
            step.phase("compile")
            time.sleep(1.3)  # rich redraws ~10 times a second: several frames
        tty.flush()
        out = _read_all(master)
    os.close(master)
    frames = [_ESCAPE.sub("", f) for f in re.split(r"\r|\n|\x1b\[2K|\x1b\[1A", out)]
    live = [f for f in frames if "compile 1s" in f]
    assert live, frames
    frame = live[-1].rstrip()
    assert len(frame) <= 80, frame
    assert frame.startswith(("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏")), frame
    assert "…" in frame and frame.startswith(frame[0] + " Building env 1a2b3c4d5e6f")
    assert re.search(r"compile 1s +0:00:01$", frame), frame
    plain = _ESCAPE.sub("", out)
    assert re.search(r"  compile +1\.\ds", plain)
    assert re.search(re.escape(LONG) + r": done in 1\.\ds \(compile 1\.\ds\)", plain.replace(
        "\r", "").replace("\n", "")), plain
