"""Running what the package influences at build time the only safe way: in the sandbox.

An env's interpreter runs every ``.pth`` file in its site-packages at start-up -- code
any wheel may install.  So when envcheck must run it (``pip check`` of a pip-built env),
it goes through the same launcher as the probe: read-only system, env and interpreter,
a private temp dir, no network, no secrets in its environment.  With ``--allow-build``
the installer itself runs here too (it runs sdists' build backends): with the network,
and writing only the env and the installer's cache.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

from envcheck.env.distributions import read_pyvenv_cfg
from envcheck.launch.environment import probe_environment
from envcheck.launch.sandbox import SandboxSpec, default_read_only_paths, launch

TIMEOUT_S = 300.0


def interpreter_paths(python: Path) -> list[Path]:
    """What an env's interpreter needs to read to start: the env, and the prefix of the
    base interpreter it was made from (``home`` in pyvenv.cfg; and wherever ``python``
    resolves to, for an interpreter that is no venv's)."""
    venv = Path(python).parent.parent
    paths = [venv]
    home = read_pyvenv_cfg(venv).get("home")  # the base interpreter's bin directory
    for base in (Path(home) if home else None, Path(python).resolve().parent):
        if base is not None:
            paths.append(base.resolve().parent)
    return paths


def run_sandboxed(cmd: list[str], python: Path, log: Any, *, network: bool = False,
                  writable: Sequence[Path] = (), read_only: Sequence[Path] = (),
                  env: Optional[dict[str, str]] = None, timeout: float = TIMEOUT_S
                  ) -> subprocess.CompletedProcess[str]:
    """``cmd`` (a command of the env whose interpreter is ``python``), confined: it may
    read the system, the env and its base interpreter (plus ``read_only``), write only a
    private temp dir (plus ``writable``), and reach the network only with ``network``."""
    readable = [*default_read_only_paths(), *interpreter_paths(python), *read_only]
    log.write("$ (sandboxed) " + " ".join(cmd) + "\n")
    log.flush()
    with tempfile.TemporaryDirectory(prefix="envcheck-env-") as scratch:
        own_env = probe_environment(python, Path(scratch)) if env is None else \
            {**env, "TMPDIR": scratch}
        spec = SandboxSpec(read_only=readable, writable=[Path(scratch), *writable],
                           env=own_env, allow_network=network)
        confined = launch(cmd, spec, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=scratch)
        try:
            out, err = confined.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            confined.popen.kill()
            out, err = confined.popen.communicate()
        confined.report(timeout=5)
    proc = subprocess.CompletedProcess(cmd, confined.popen.returncode,
                                       out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))
    log.write(proc.stdout + proc.stderr + f"[exit {proc.returncode}]\n")
    return proc


def installer_cache_dirs(env: dict[str, str]) -> list[Path]:
    """Where uv and pip keep their caches (the sandboxed installer must write there)."""
    home = Path(env.get("HOME", str(Path.home())))
    cache = Path(env.get("XDG_CACHE_HOME", str(home / ".cache")))
    return [Path(env.get("UV_CACHE_DIR", str(cache / "uv"))),
            Path(env.get("PIP_CACHE_DIR", str(cache / "pip")))]


def installer_config_dirs(env: dict[str, str]) -> list[Path]:
    home = Path(env.get("HOME", str(Path.home())))
    config = Path(env.get("XDG_CONFIG_HOME", str(home / ".config")))
    return [config / "uv", config / "pip", home / ".pip"]
