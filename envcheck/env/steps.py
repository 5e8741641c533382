"""The commands of an env build, run and logged, and the phases they show.

Every command gets :func:`~envcheck.launch.environment.installer_environment` (an
allowlist) and the build lock's descriptor: if envcheck is SIGKILLed mid-install the
orphaned installer keeps the lock until it exits, so the next check cannot rebuild the
directory while the orphan is still writing into it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Optional

from envcheck.env.installers import Installer, check_command, check_label
from envcheck.env.layout import _lock_fd
from envcheck.env.sandboxed import (
    installer_cache_dirs,
    installer_config_dirs,
    run_sandboxed,
)
from envcheck.launch.environment import installer_environment
from envcheck.model.progress import Step

# What the installers print when they move from one phase to the next.
_UV_PHASES = [(re.compile(r"^Resolved \d+ packages?"), "download"),
              (re.compile(r"^(Prepared|Installed|Uninstalled|Audited) \d+ packages?"),
               "install")]
_PIP_PHASES = [(re.compile(r"^\s*(Downloading|Using cached) "), "download"),
               (re.compile(r"^Installing collected packages"), "install")]


def run_logged(cmd: list[str], log: Any, lock: Any, timeout: Optional[float] = None
               ) -> subprocess.CompletedProcess[str]:
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    fd = _lock_fd(lock)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=installer_environment(),
                          stdin=subprocess.DEVNULL, timeout=timeout,
                          pass_fds=(fd,) if fd is not None else ())
    log.write(proc.stdout + proc.stderr + f"[exit {proc.returncode}]\n")
    log.flush()
    return proc


def run_phased(cmd: list[str], log: Any, lock: Any, installer: str, step: Step
               ) -> subprocess.CompletedProcess[str]:
    """``run_logged`` for an install: its output read as it comes, so that the progress
    shows resolve, download and install as the installer reaches them."""
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    fd = _lock_fd(lock)
    phases = _UV_PHASES if installer == "uv" else _PIP_PHASES
    reached = {"resolve"}
    step.phase("resolve")
    lines: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", env=installer_environment(),
                          stdin=subprocess.DEVNULL, pass_fds=(fd,) if fd is not None else ()
                          ) as popen:
        assert popen.stdout is not None
        for line in popen.stdout:
            lines.append(line)
            log.write(line)
            _advance(line, phases, reached, step)
        returncode = popen.wait()
    log.write(f"[exit {returncode}]\n")
    log.flush()
    return subprocess.CompletedProcess(cmd, returncode, "".join(lines), "")


def _advance(line: str, phases: list[tuple[re.Pattern[str], str]], reached: set[str],
             step: Step) -> None:
    for pattern, phase in phases:
        if phase not in reached and pattern.search(line):
            if phase == "install" and "download" not in reached:
                reached.add("download")  # all from the cache: no download phase
            reached.add(phase)
            step.phase(phase)
            return


def install_sandboxed(cmd: list[str], env_dir: Path, python: Path, reqs: list[str],
                      tool: Installer, log: Any, timeout: float
                      ) -> subprocess.CompletedProcess[str]:
    """--allow-build: the installer runs build backends, so it runs in the sandbox,
    writing only the env and its own cache."""
    env = installer_environment()
    local = [Path(line.split(" ", 1)[1]) for line in reqs
             if line.startswith("--find-links /")]  # made absolute when read
    tools = [Path(tool.uv).resolve().parent.parent] if tool.uv else []
    return run_sandboxed(cmd, python, log, network=True, env=env,
                         writable=[env_dir, *installer_cache_dirs(env)],
                         read_only=[*local, *tools, *installer_config_dirs(env)],
                         timeout=timeout)


def run_check(python: Path, tool: Installer, log: Any, lock: Any) -> dict[str, Any]:
    cmd = check_command(python, tool.name, tool.uv)
    if tool.name == "uv":  # uv reads the metadata itself: nothing of the env runs
        proc = run_logged(cmd, log, lock)
    else:  # pip check runs in the env, .pth files and all: only inside the sandbox
        proc = run_sandboxed(cmd, python, log)
    return {"command": check_label(tool.name), "returncode": proc.returncode,
            "output": (proc.stdout + "\n" + proc.stderr).strip()}
