"""What is being built and for how long, on stderr, for a human at a terminal.

Only ever stderr, and only when enabled *and* stderr is a terminal: JSON and JUnit on stdout
must stay clean, and a CI log gains nothing from a spinner.  rich is imported lazily so
machine output never pays for it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import IO, Any, Iterator, Optional

_LIVE = threading.Lock()


class Progress:
    """``with progress.step("Building env for churn-model (python 3.8, uv)"): ...``"""

    def __init__(self, enabled: bool = False, stream: Optional[IO[str]] = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(enabled and callable(isatty) and isatty())
        self._console: Any = None

    @classmethod
    def disabled(cls) -> "Progress":
        return cls(False)

    def _get_console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, stderr=self.stream is sys.stderr)
        return self._console

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        """Show ``description`` with a spinner and elapsed time while the body runs."""
        if not self.enabled:
            yield
            return
        from rich.progress import Progress as RichProgress
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        start = time.perf_counter()
        ok = False
        # rich allows one live display at a time; with -j, other steps print plain lines.
        live = _LIVE.acquire(blocking=False)
        bar = RichProgress(SpinnerColumn(), TextColumn("{task.description}"),
                           TimeElapsedColumn(), console=self._get_console(), transient=True)
        try:
            if live:
                with bar:
                    bar.add_task(description, total=None)
                    yield
            else:
                self._get_console().print(f"{description}...", highlight=False)
                yield
            ok = True
        finally:
            if live:
                _LIVE.release()
            elapsed = time.perf_counter() - start
            mark = "[green]done[/green]" if ok else "[red]failed[/red]"
            self._get_console().print(f"{description}: {mark} in {elapsed:.1f}s",
                                      highlight=False)

    def note(self, message: str) -> None:
        """A one-line message (e.g. waiting for another envcheck's build)."""
        if self.enabled:
            self._get_console().print(message, highlight=False)
