"""The env cache key: the sha256 of everything that decides what an environment contains.

Requirements and constraints (normalized, sorted), the interpreter's facts, the installer
and its version, the virtualenv that seeds the env, and a format version.  Two checks with
the same key get the same environment; anything else gets another one.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Sequence

from envcheck.env.installers import Installer
from envcheck.env.interpreters import Interpreter

# 2: envs carry a manifest and are read from their files (envcheck 0.2).
# 3: with uv, uv installs the seed wheels virtualenv would have copied in (see
#    installers.seed_command): the same pip and setuptools, other files beside them.
FORMAT_VERSION = 3


def split_requirements(lines: Sequence[str]) -> tuple[list[str], list[str]]:
    """Normalized requirement lines and constraint lines, each sorted and de-duplicated.

    ``--constraint X`` / ``--constraint=X`` / ``-c X`` lines are constraints.  Hash options
    are kept, sorted within their line: their order never changes what gets installed.
    """
    reqs: set[str] = set()
    cons: set[str] = set()
    for raw in lines:
        line = " ".join(str(raw).split())
        if not line or line.startswith("#"):
            continue
        target = reqs
        m = re.match(r"^(?:--constraint[ =]|-c\s*:?\s*)(.*)$", line)
        if m:
            target, line = cons, m.group(1).strip()
            if not line:
                continue
        tokens = line.split(" ")
        hashes = sorted(t for t in tokens if t.startswith("--hash"))
        rest = [t for t in tokens if not t.startswith("--hash")]
        target.add(" ".join(rest + hashes))
    return sorted(reqs), sorted(cons)


def key_inputs(requirements: Sequence[str], constraints: Sequence[str],
               interpreter: Interpreter, installer: Installer,
               allow_build: bool = False) -> dict[str, Any]:
    # The version from metadata, not `import virtualenv`: a warm check should not pay
    # ~60 ms to import the env creator it will not use; and importlib.metadata itself is
    # imported here, not at start-up (--static never needs it).
    from importlib.metadata import version

    extra: dict[str, Any] = {"allow_build": True} if allow_build else {}
    return {**extra, "format": FORMAT_VERSION, "requirements": list(requirements),
            "constraints": list(constraints), "implementation": interpreter.implementation,
            "python": interpreter.version, "platform": interpreter.platform,
            "installer": installer.name, "installer_version": installer.version,
            "virtualenv": version("virtualenv")}


def compute_key(inputs: dict[str, Any]) -> str:
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
