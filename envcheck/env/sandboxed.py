"""Running a command of an env's own interpreter the only safe way: inside the sandbox.

An env's interpreter runs every ``.pth`` file in its site-packages at start-up -- code
any wheel may install.  So when envcheck must run it (``pip check`` of a pip-built env),
it goes through the same launcher as the probe: read-only system, env and interpreter,
a private temp dir, no network, no secrets in its environment.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from envcheck.env.distributions import read_pyvenv_cfg
from envcheck.launch.environment import probe_environment
from envcheck.launch.sandbox import SandboxSpec, default_read_only_paths, launch

TIMEOUT_S = 300.0


def run_sandboxed(cmd: list[str], python: Path, log: Any) -> subprocess.CompletedProcess[str]:
    """``cmd`` (a command of the env whose interpreter is ``python``), confined."""
    venv = Path(python).parent.parent
    home = read_pyvenv_cfg(venv).get("home")
    read_only = [*default_read_only_paths(), venv]
    if home:
        read_only.append(Path(home).resolve().parent)
    log.write("$ (sandboxed) " + " ".join(cmd) + "\n")
    with tempfile.TemporaryDirectory(prefix="envcheck-env-") as scratch:
        spec = SandboxSpec(read_only=read_only, writable=[Path(scratch)],
                           env=probe_environment(python, Path(scratch)))
        confined = launch(cmd, spec, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=scratch)
        try:
            out, err = confined.popen.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            confined.popen.kill()
            out, err = confined.popen.communicate()
        confined.report(timeout=5)
    proc = subprocess.CompletedProcess(cmd, confined.popen.returncode,
                                       out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))
    log.write(proc.stdout + proc.stderr + f"[exit {proc.returncode}]\n")
    return proc
