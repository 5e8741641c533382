"""What is being built and for how long, on stderr, for a human.

Only ever stderr, and only when enabled: JSON and JUnit on stdout must stay clean.  At a
terminal a step is one live line -- spinner, description (cut with an ellipsis so the
spinner and the timers always fit, even at 80 columns), the current phase with its own
timer, and the step's elapsed time -- and each finished phase leaves a line above it.
Off a terminal (a CI log) the same phase lines are printed plainly, with no spinner and
no escape codes.  rich is imported lazily, and only for a terminal, so machine output
never pays for it.

    with progress.step("Building env 1a2b3c (Python 3.11, uv)") as step:
        step.phase("resolve"); ...; step.phase("compile", "3 distributions"); ...
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import IO, Any, Iterator, Optional

_LIVE = threading.Lock()
PHASES = ("resolve", "download", "install", "compile", "probe")


class Step:
    """One step's phases: ``phase(name)`` ends the current one and starts ``name``."""

    def __init__(self, progress: "Progress", bar: Any = None, task: Any = None) -> None:
        self._progress = progress
        self._bar, self._task = bar, task
        self.phases: list[tuple[str, float]] = []  # (name, seconds), finished ones
        self._current: Optional[tuple[str, str, float]] = None  # name, detail, start

    def phase(self, name: str, detail: str = "") -> None:
        self.end_phase()
        self._current = (name, detail, time.perf_counter())
        if self._bar is not None:
            self._bar.update(self._task, phase=name, phase_start=time.perf_counter())

    def detail(self, detail: str) -> None:
        """What the current phase did, shown on its line when it ends."""
        if self._current is not None:
            self._current = (self._current[0], detail, self._current[2])

    def end_phase(self) -> None:
        if self._current is None:
            return
        name, detail, start = self._current
        self._current = None
        elapsed = time.perf_counter() - start
        self.phases.append((name, elapsed))
        line = f"  {name:<9}{elapsed:6.1f}s" + (f"  {detail}" if detail else "")
        self._progress._line(line)

    def summary(self) -> str:
        return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.phases)


class Progress:
    """``with progress.step("Building env for churn-model (python 3.8, uv)"): ...``"""

    def __init__(self, enabled: bool = False, stream: Optional[IO[str]] = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(enabled)
        self.live = bool(enabled and callable(isatty) and isatty())  # a terminal
        self._console: Any = None
        self._write = threading.Lock()

    @classmethod
    def disabled(cls) -> "Progress":
        return cls(False)

    def _get_console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, stderr=self.stream is sys.stderr)
        return self._console

    def _line(self, text: str) -> None:
        if not self.enabled:
            return
        if self.live:
            self._get_console().print(text, highlight=False, markup=False, soft_wrap=True)
            return
        with self._write:
            self.stream.write(text + "\n")
            self.stream.flush()

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[Step]:
        """Show ``description`` with a spinner and elapsed time while the body runs."""
        if not self.enabled:
            yield Step(self)
            return
        start = time.perf_counter()
        ok = False
        # rich allows one live display at a time; with -j, other steps print plain lines.
        live = self.live and _LIVE.acquire(blocking=False)
        step = Step(self)
        try:
            if live:
                bar = self._live_bar()
                with bar:
                    task = bar.add_task(description, total=None, phase="",
                                        phase_start=time.perf_counter())
                    step = Step(self, bar, task)
                    yield step
                    step.end_phase()
            else:
                self._line(f"{description}...")
                yield step
                step.end_phase()
            ok = True
        finally:
            if live:
                _LIVE.release()
            step._current = None
            elapsed = time.perf_counter() - start
            phases = f" ({step.summary()})" if step.phases else ""
            self._line(f"{description}: {'done' if ok else 'failed'} in {elapsed:.1f}s"
                       f"{phases}")

    def _live_bar(self) -> Any:
        from rich.progress import Progress as RichProgress
        from rich.progress import (
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column
        from rich.text import Text

        class PhaseColumn(ProgressColumn):
            """The current phase and how long it has run: never cut."""

            def render(self, task: Any) -> Text:
                name = task.fields.get("phase", "")
                if not name:
                    return Text("")
                seconds = time.perf_counter() - task.fields.get("phase_start", 0.0)
                return Text(f"{name} {seconds:.0f}s", style="cyan")

        # The description takes what is left and is cut with an ellipsis; the spinner,
        # the phase and the elapsed time keep their width (min_width: 80 columns fit).
        description = Column(ratio=1, no_wrap=True, overflow="ellipsis")
        return RichProgress(SpinnerColumn(), TextColumn("{task.description}",
                                                        table_column=description),
                            PhaseColumn(table_column=Column(no_wrap=True, min_width=12)),
                            TimeElapsedColumn(table_column=Column(no_wrap=True,
                                                                  min_width=7)),
                            console=self._get_console(), transient=True, expand=True)

    def note(self, message: str) -> None:
        """A one-line message (e.g. waiting for another envcheck's build)."""
        self._line(message)
