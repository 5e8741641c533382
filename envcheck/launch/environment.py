"""The environments of the processes envcheck starts: each built from an allowlist.

envcheck's own environment holds the CI job's secrets, so no process gets a copy of it:

* :func:`probe_environment` -- the package's code: what Python and native libraries need
  (PATH, locale, BLAS/OpenMP knobs), HOME and TMPDIR in the probe's private dir, and
  never anything that looks like a credential, even under a kept name;
* :func:`installer_environment` -- uv, pip and pip-tools: the same, plus the user's own
  installer settings (index URLs, caches, certificates, proxies), which a private
  registry needs and which the installer alone sees;
* :func:`tool_environment` -- envcheck's own short queries of a trusted interpreter.

``PYTHONDONTWRITEBYTECODE`` never reaches an installer (installs compile bytecode: an
uncompiled env pays for it on every import); ``PYTHONPATH``/``PYTHONHOME`` never reach
anything (they would leak the host into the env).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_BASE_KEEP = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH",
                        "SYSTEMROOT", "COMSPEC", "PATHEXT", "WINDIR"})
_NUMERIC_KEEP = frozenset({"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                           "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_CBWR"})
_INSTALLER_KEEP = frozenset({
    "HOME", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
})
_INSTALLER_PREFIXES = ("UV_", "PIP_")
# Belt and braces for the probe: even a kept name is dropped when it looks like a secret.
_SECRET = re.compile(r"TOKEN|SECRET|KEY|PASSW|CREDENTIAL|AUTH|AWS_|SESSION|COOKIE",
                     re.IGNORECASE)


def _kept(names: frozenset[str], prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    return {name: value for name, value in os.environ.items()
            if name in names or name.startswith(("LC_", *prefixes))}


def tool_environment() -> dict[str, str]:
    """PATH and locale: for envcheck's own queries of interpreters it found by version."""
    return _kept(_BASE_KEEP)


def probe_environment(python: Path, home: Path) -> dict[str, str]:
    """The probe's whole environment; ``home`` is its private, writable directory."""
    env = {name: value for name, value in _kept(_BASE_KEEP | _NUMERIC_KEEP).items()
           if not _SECRET.search(name)}
    # Like an activated venv: the env's scripts first on PATH.
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", os.defpath)])
    tmp = home / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update(HOME=str(home), TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp),
               PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1")
    return env


def installer_environment() -> dict[str, str]:
    """The installer's whole environment (see the module docstring)."""
    env = _kept(_BASE_KEEP | _NUMERIC_KEEP | _INSTALLER_KEEP, _INSTALLER_PREFIXES)
    env["UV_PYTHON_DOWNLOADS"] = "never"  # never let uv fetch a Python behind our back
    env["NO_COLOR"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env
