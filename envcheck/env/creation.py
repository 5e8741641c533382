"""An env's virtualenv, created in envcheck's own process, and seeded.

With pip, virtualenv seeds it from its app-data; with uv, virtualenv creates it unseeded
and uv installs the very wheels virtualenv would have seeded (see
``installers.seed_command``); for a Python virtualenv ships no pip for, ``ensurepip``.

``python -m virtualenv`` cost a build 0.24 s, four fifths of it starting an interpreter
and importing virtualenv, which envcheck has imported by then anyway (to find the seed
wheels); ``virtualenv.cli_run`` in-process takes about 0.05 s.  What virtualenv runs --
the base interpreter, queried for its facts and once inside the new env -- gets the
installer's environment (an allowlist, ``env=``), exactly as the subprocess did: never
envcheck's own, which holds the CI job's secrets.  One creation at a time per process:
virtualenv keeps module-level state, and ``-j N`` checks build in threads.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

from envcheck.env.installers import Installer, _embedded_pip, seed_command, seed_wheels
from envcheck.env.interpreters import Interpreter
from envcheck.env.steps import run_logged
from envcheck.launch.environment import installer_environment

_ONE_AT_A_TIME = threading.Lock()


def create_env(venv: Path, python: Path, interpreter: Interpreter, tool: Installer,
               log: Any, lock: Any) -> subprocess.CompletedProcess[str]:
    """The env's virtualenv with pip and setuptools (returncode 0), or why not."""
    wheels = seed_wheels(interpreter) if tool.name == "uv" else []
    seed = bool(wheels) or _embedded_pip(interpreter) is not None
    # Unseeded when uv seeds it, or when virtualenv has no pip for this Python.
    created, why = create_virtualenv(venv, interpreter, seed and not wheels, log)
    proc = subprocess.CompletedProcess([], 0 if created else 1, "", why)
    if proc.returncode == 0 and wheels:
        proc = run_logged(seed_command(tool, python, wheels), log, lock)
    if proc.returncode == 0 and not seed:
        # Offline and bundled with the interpreter: what `python -m venv` would do.
        proc = run_logged([str(python), "-m", "ensurepip", "--default-pip"], log, lock)
    return proc


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
