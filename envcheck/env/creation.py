"""An env's virtualenv, created in envcheck's own process.

``python -m virtualenv`` cost a build 0.24 s, four fifths of it starting an interpreter
and importing virtualenv, which envcheck has imported by then anyway (to find the seed
wheels); ``virtualenv.cli_run`` in-process takes about 0.05 s.  What virtualenv runs --
the base interpreter, queried for its facts and once inside the new env -- gets the
installer's environment (an allowlist, ``env=``), exactly as the subprocess did: never
envcheck's own, which holds the CI job's secrets.  One creation at a time per process:
virtualenv keeps module-level state, and ``-j N`` checks build in threads.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from envcheck.env.interpreters import Interpreter
from envcheck.launch.environment import installer_environment

_ONE_AT_A_TIME = threading.Lock()


def create_virtualenv(venv: Path, interpreter: Interpreter, seed: bool, log: Any
                      ) -> tuple[bool, str]:
    """Create ``venv`` for ``interpreter`` (``seed``: with virtualenv's pip and
    setuptools); (True, "") or (False, why not).  The build log gets the equivalent
    command line and the outcome."""
    args = [str(venv), "-p", str(interpreter.path), "--no-download", "--no-periodic-update",
            "--quiet"]
    if not seed:
        args.append("--no-seed")
    log.write("$ virtualenv " + " ".join(args) + "   (in envcheck's process)\n")
    log.flush()
    try:
        from virtualenv import cli_run

        with _ONE_AT_A_TIME:
            cli_run(args, setup_logging=False, env=installer_environment())
    except SystemExit as exc:  # virtualenv's argument parser, or a fatal error it reports
        why = f"virtualenv exited with {exc.code}"
    except Exception as exc:  # noqa: BLE001 - any failure of creation is the build's finding
        why = f"{type(exc).__name__}: {exc}".strip()
    else:
        log.write("[exit 0]\n")
        return True, ""
    log.write(f"{why}\n[exit 1]\n")
    log.flush()
    return False, why
