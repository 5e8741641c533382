"""Turn envcheck's own failures into one-line messages and exit codes, as pre-commit does.

The only place errors become exit codes: :class:`~envcheck.model.errors.EnvcheckError`
(a usage error or a failure envcheck cannot work around) exits 2, Ctrl-C 130, and a bug
exits 2 with one line for the user and the traceback in the cache's log file.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from envcheck.model.errors import EnvcheckError, describe_crash
from envcheck.model.options import default_cache_dir

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


@contextlib.contextmanager
def error_handler() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        # Children run in their own sessions; the probe runner ends them in its finally.
        _print_err("envcheck: interrupted")
        raise SystemExit(EXIT_INTERRUPTED)
    except EnvcheckError as exc:
        _print_err(f"envcheck: error: {exc}")
        raise SystemExit(EXIT_ERROR)
    except SystemExit:
        raise
    except BaseException as exc:  # a bug: one line for the user, the traceback in a log
        _print_err(f"envcheck: {describe_crash(exc, default_cache_dir())}")
        raise SystemExit(EXIT_ERROR)


def _print_err(message: str) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except OSError:
        pass
