"""envcheck's own errors: one hierarchy, mapped to exit codes by the CLI alone.

A bad *package* never raises: stages turn it into findings.  These are for what stops
envcheck from doing its job -- a wrong command line or option value, a refusal to
overwrite, a failure it cannot work around -- and for bugs, which become one line for
the user and a traceback in a log file (:func:`describe_crash`).
"""

from __future__ import annotations

import datetime
import sys
import traceback
from pathlib import Path
from typing import Optional

from envcheck.model.version import __version__


class EnvcheckError(Exception):
    """Base of every error envcheck raises on purpose; the message is shown as is."""


class UsageError(EnvcheckError):
    """A command line or an API call with options envcheck cannot accept."""


class FatalError(EnvcheckError):
    """envcheck could not do its job (a refused overwrite, a tool that failed)."""


LOG_NAME = "envcheck.log"


def write_crash_log(exc: BaseException, log_dir: Path, context: str = "") -> Optional[Path]:
    """Append the traceback to ``<log_dir>/envcheck.log``; its path, None if unwritable."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / LOG_NAME
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


def describe_crash(exc: BaseException, log_dir: Path, context: str = "") -> str:
    """One line for the user, pointing at the log with the whole story."""
    path = write_crash_log(exc, log_dir, context)
    where = f"; the full traceback is in {path}" if path else ""
    return f"internal error: {type(exc).__name__}: {exc}{where}"
