"""Turn envcheck's own failures into one-line messages and exit codes, as pre-commit does.

A bad *package* never reaches here: stages turn it into findings.  What reaches here is a
bad command line (:class:`UsageError`, exit 2), a failure envcheck cannot work around
(:class:`FatalError`, exit 2), Ctrl-C (exit 130), or a bug: then the full traceback goes
to a log file whose path is printed, and the user sees one line.
"""

from __future__ import annotations

import contextlib
import datetime
import sys
import traceback
from pathlib import Path
from typing import Iterator, Optional

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class FatalError(RuntimeError):
    """envcheck could not do its job; the message is shown as is (exit 2)."""


class UsageError(FatalError):
    """The command line is wrong (exit 2)."""


def log_dir() -> Path:
    from envcheck.options import default_cache_dir

    return default_cache_dir()


def write_crash_log(exc: BaseException, context: str = "") -> Optional[Path]:
    """Write the traceback to ``<cache>/envcheck.log``; return its path (None if unwritable)."""
    try:
        directory = log_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "envcheck.log"
        from envcheck import __version__

        with open(path, "a", encoding="utf-8") as log:
            log.write(f"### {datetime.datetime.now().isoformat()} envcheck {__version__}"
                      f" python {sys.version.split()[0]}\n")
            log.write(f"### argv: {sys.argv!r}\n")
            if context:
                log.write(f"### while: {context}\n")
            log.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
            log.write("\n")
        return path
    except OSError:
        return None


def describe_crash(exc: BaseException, context: str = "") -> str:
    """One line for the user, pointing at the log with the whole story."""
    path = write_crash_log(exc, context)
    where = f"; the full traceback is in {path}" if path else ""
    return f"internal error: {type(exc).__name__}: {exc}{where}"


@contextlib.contextmanager
def error_handler() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        # Children run in their own sessions; runner.py ends them in its own finally blocks.
        _print_err("envcheck: interrupted")
        raise SystemExit(EXIT_INTERRUPTED)
    except FatalError as exc:
        _print_err(f"envcheck: error: {exc}")
        raise SystemExit(EXIT_ERROR)
    except SystemExit:
        raise
    except BaseException as exc:  # a bug: one line for the user, the traceback in a log
        _print_err(f"envcheck: {describe_crash(exc)}")
        raise SystemExit(EXIT_ERROR)


def _print_err(message: str) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except OSError:
        pass

